"""One source of defaults, help text and validation for every stage's settings.

Each stage has a config dataclass whose fields are declared with :func:`setting`: the default and the
help text live there and nowhere else. The stage's Typer command takes its defaults and help from the
dataclass (``synrank.cli.options.opt``), the library function validates the config in ``__post_init__``,
and ``tests/test_cli_config.py`` checks that every command option named like a field has the field's
default. This follows sentence-transformers' ``training_args.py`` and trl's configs (field metadata plus
``__post_init__``), without their argparse layer: Typer is the CLI here.

Library errors name *settings* (``group_size``), never flags: :class:`synrank.errors.ConfigError` takes
``setting=`` and the CLI renders it as the matching flag (``--group-size``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from synrank.errors import ConfigError

T = TypeVar("T")

_NO_DEFAULT: Any = dataclasses.MISSING


def setting(
    default: Any = _NO_DEFAULT,
    *,
    help: str,  # noqa: A002 - the word users read in --help
    default_factory: Callable[[], Any] | None = None,
    choices: tuple[Any, ...] | None = None,
) -> Any:
    """A config field with its help text (and, optionally, the values it may take).

    ``choices`` are checked by :func:`check_choices` (called from the config's ``__post_init__``), so the
    library and the CLI refuse the same values with the same message.
    """
    metadata = {"help": help, "choices": choices}
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _field(cls: type, name: str) -> dataclasses.Field[Any]:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if name not in fields:
        raise KeyError(f"{cls.__name__} has no setting {name!r}")
    return fields[name]


def default_of(cls: type, name: str) -> Any:
    """The default of setting ``name`` of config class ``cls`` (a fresh value for factory defaults)."""
    f = _field(cls, name)
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    raise KeyError(f"{cls.__name__}.{name} has no default")


def help_of(cls: type, name: str) -> str:
    """The help text of setting ``name`` of config class ``cls``."""
    return str(_field(cls, name).metadata.get("help", ""))


def choices_of(cls: type, name: str) -> tuple[Any, ...] | None:
    return _field(cls, name).metadata.get("choices")


def check_choices(cfg: Any) -> None:
    """Refuse a value outside a field's declared ``choices``; call from ``__post_init__``."""
    for f in dataclasses.fields(cfg):
        allowed = f.metadata.get("choices")
        value = getattr(cfg, f.name)
        if allowed and value not in allowed:
            raise ConfigError(
                f"unknown value {value!r} (use one of {', '.join(map(str, allowed))})", setting=f.name
            )


def check_positive(cfg: Any, *names: str, minimum: float = 1, allow_none: bool = True) -> None:
    """Refuse numeric settings below ``minimum`` (``None`` means "off" and passes when allowed)."""
    for name in names:
        value = getattr(cfg, name)
        if value is None and allow_none:
            continue
        if value is None or value < minimum:
            raise ConfigError(f"must be at least {minimum:g} (got {value})", setting=name)


def from_mapping(cls: type[T], values: Mapping[str, Any], **overrides: Any) -> T:
    """Build config ``cls`` from a mapping that may hold extra keys (e.g. a command's parameters).

    Keys that are not fields of ``cls`` are ignored, so a command can pass ``locals()``-like dicts
    without listing every field by hand; ``overrides`` win over ``values``.
    """
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    kwargs = {k: v for k, v in values.items() if k in names}
    kwargs.update({k: v for k, v in overrides.items() if k in names})
    return cls(**kwargs)


def as_dict(cfg: Any) -> dict[str, Any]:
    """The config as plain data (for manifests and resume fingerprints)."""
    return dataclasses.asdict(cfg)
