"""One source of defaults, help text and validation for every stage's settings.

Each stage has a config dataclass whose fields are declared with :func:`setting`: the default and the
help text live there and nowhere else. The stage's Typer command is made from the dataclass's fields
(``synrank.cli.options.config_command``), the library function validates the config in ``__post_init__``,
and ``tests/cli/test_cli_config.py`` checks that every command's options are its config's fields, with
their defaults and help. This follows sentence-transformers' ``training_args.py`` and trl's configs (field
metadata plus ``__post_init__``), without their argparse layer: Typer is the CLI here.

Library errors name *settings* (``group_size``), never flags: :class:`synrank.errors.ConfigError` takes
``setting=`` and the CLI renders it as the matching flag (``--group-size``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, TypeVar

from synrank.errors import ConfigError, InputError

T = TypeVar("T")

_NO_DEFAULT: Any = dataclasses.MISSING


def setting(
    default: Any = _NO_DEFAULT,
    *,
    help: str,  # noqa: A002 - the word users read in --help
    default_factory: Callable[[], Any] | None = None,
    choices: tuple[Any, ...] | None = None,
    flag: str | None = None,
    short: str | None = None,
    positional: bool = False,
    metavar: str | None = None,
    folder: bool = False,
) -> Any:
    """A config field with its help text (and, optionally, the values it may take).

    ``choices`` are checked by :func:`check_choices` (called from the config's ``__post_init__``), so the
    library and the CLI refuse the same values with the same message. The rest says how the command built
    from the config (``synrank.cli.options.config_command``) spells the setting: ``flag`` when it is not
    ``--name-with-dashes`` (``--bootstrap`` for ``resamples``), ``short`` (``-o``), ``positional`` for an
    argument, ``metavar``, and ``folder`` for an output that is a folder (an output is otherwise a file).
    """
    metadata = {
        "help": help, "choices": choices, "flag": flag, "short": short,
        "positional": positional, "metavar": metavar, "folder": folder,
    }
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


# The rule behind these two texts is written once, in docs/formats.md ("Outputs, resume and --overwrite"),
# and enforced by synrank.formats.outputs; every command states it with these same words.
OVERWRITE_HELP = (
    "Start over: discard what earlier runs of this command wrote for this output (finished or partial, with its saved "
    "work) and make it again. Without it, a re-run with the same settings continues where it stopped and other "
    "settings are refused (docs/formats.md). Never touches an input or anything synrank did not write."
)
RESUME_HELP = (
    "Kept for old scripts, changes nothing: a re-run with the same settings always continues where it stopped. "
    "Refused together with --overwrite, which starts over."
)


def overwrite_setting() -> Any:
    """The ``overwrite`` field of every stage that writes an output (one meaning, one help text)."""
    return setting(False, help=OVERWRITE_HELP)


def resume_setting() -> Any:
    """The ``resume`` field kept by stages that once needed it to continue (train)."""
    return setting(False, help=RESUME_HELP)


def setting_from(
    engine: type, name: str, *, default: Any = _NO_DEFAULT, help: str | None = None, **spelling: Any  # noqa: A002
) -> Any:
    """A stage setting that is engine config ``engine``'s setting ``name``, with the default and help written there.

    Engine configs (``EncoderConfig``, ``BM25Config``, compare's ``Settings``, ``RuntimeConfig``) own their
    defaults; the stage configs that expose them take them from here, so a default is written once and the
    imports run downwards. ``default``/``help`` make a stage's real difference explicit at its field.
    """
    return setting(
        default_of(engine, name) if default is _NO_DEFAULT else default,
        help=help_of(engine, name) if help is None else help,
        choices=choices_of(engine, name),
        **spelling,
    )


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


# --- settings from a file (``--config FILE``; recipes under examples/recipes/) ----------------------------

# The commands a recipe file may hold a section for: ``train:`` in a file holds `synrank train`'s settings.
STAGES = ("generate", "search", "score", "fuse", "train", "index", "eval", "compare", "check", "pull", "build-engine")


def read_config_file(path: str | Path, section: str | None = None) -> dict[str, Any]:
    """The settings for ``section`` (a command name) in a YAML or JSON file, as written (not yet checked).

    A file is either flat (every key a setting of one command) or has one mapping per command
    (``train: {lr: 1e-5}``; see :data:`STAGES`), so a whole recipe is one reviewable file; a command's name
    holding a mapping is what makes a file sectioned. ``extends: other.yaml`` (relative to the file) starts
    from another file's settings, section by section, so a recipe that departs from a reference lists only
    its departures. YAML reads JSON too, so one parser serves both.
    """
    p = Path(path)
    data = _resolved(p, ())
    # Sectioned when a command's name holds a mapping (`score`'s own setting `fuse: rrf` is a plain value).
    if any(key in STAGES and isinstance(value, dict) for key, value in data.items()):
        unknown = [key for key in data if key not in STAGES]
        if unknown:
            raise InputError(
                f"{unknown[0]!r} is not a command: a file with sections per command holds only sections "
                f"({', '.join(STAGES)})",
                path=p,
            )
        flat = [key for key, value in data.items() if not isinstance(value, (dict, type(None)))]
        if flat:
            raise InputError(f"section {flat[0]!r} must be a mapping of settings", path=p)
        if section is None:
            raise InputError(f"the file has one section per command ({', '.join(map(str, data))}): name the one to read", path=p)
        data = data.get(section) or {}
    return {str(k): v for k, v in data.items()}


def _resolved(p: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    """The file's mapping with its ``extends`` chain applied (the file's own values win, section by section)."""
    data = _load_mapping(p)
    base = data.pop("extends", None)
    if base is None:
        return data
    if not isinstance(base, str) or not base.strip():
        raise InputError("'extends' names another config file (a path relative to this one)", path=p)
    base_path = (p.parent / base).resolve()
    if base_path in chain or base_path == p.resolve():
        raise InputError(f"'extends: {base}' leads back to itself", path=p)
    merged = _resolved(base_path, (*chain, p.resolve()))
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _load_mapping(p: Path) -> dict[str, Any]:
    import yaml

    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("config file not found", path=p) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the config file ({getattr(exc, 'strerror', None) or exc})", path=p) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "not valid YAML or JSON"
        raise InputError(f"bad config file: {problem}", path=p, line=mark.line + 1 if mark else None) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"a config file holds a mapping of settings, not a {type(data).__name__}", path=p)
    return data


def coerce_settings(
    cls: type, values: Mapping[str, Any], *, path: str | Path, allowed: Collection[str] | None = None
) -> dict[str, Any]:
    """Check ``values`` read from file ``path`` against config ``cls`` and give each its field's type.

    Names are checked (an unknown one is an error with the nearest setting suggested), and numbers written
    as text are read as numbers: PyYAML follows YAML 1.1, where ``1e-5`` (no dot) is a string.
    ``allowed`` limits the names further (a command's options).
    """
    import difflib
    import typing

    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    usable = [n for n in names if allowed is None or n in allowed]
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = key.replace("-", "_")
        if name not in usable:
            near = difflib.get_close_matches(name, usable, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            what = "cannot be set from a file for this command" if name in names else f"is not a setting of {cls.__name__}"
            raise InputError(f"{key!r} {what}{hint}", path=path)
        try:
            out[name] = _coerce(hints.get(name), value)
        except (TypeError, ValueError):
            raise InputError(f"{key!r}: {value!r} is not a valid {_type_name(hints.get(name))}", path=path) from None
    return out


def _coerce(hint: Any, value: Any) -> Any:
    import typing

    if value is None:
        return None
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
    if origin in (list, tuple):
        items = value if isinstance(value, (list, tuple)) else [value]
        return [_coerce(args[0] if args else None, item) for item in items]
    if origin is not None and len(args) == 1:  # Optional[X] / X | None
        return _coerce(args[0], value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "yes", "on", "1"):
            return True
        if text in ("false", "no", "off", "0"):
            return False
        raise ValueError(value)
    if hint in (int, float):
        if isinstance(value, bool):
            raise TypeError(value)
        number = float(value) if isinstance(value, str) else value
        if not isinstance(number, (int, float)):
            raise TypeError(value)
        if hint is int:
            if float(number) != int(number):
                raise ValueError(value)
            return int(number)
        return float(number)
    if hint in (str, Path) and isinstance(value, (dict, list)):
        raise TypeError(value)
    return value


def _type_name(hint: Any) -> str:
    import typing

    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (list, tuple):
        return f"list of {_type_name(args[0]) if args else 'values'}"
    if args and len(args) == 1:
        return _type_name(args[0])
    return {int: "whole number", float: "number", bool: "true/false", str: "text", Path: "path"}.get(hint, "value")


def from_file(cls: type[T], path: str | Path, section: str | None = None, **overrides: Any) -> T:
    """Config ``cls`` from a recipe file (its ``section``, e.g. ``"train"``), ``overrides`` winning.

    The Python side of ``synrank <command> --config FILE``::

        cfg = from_file(TrainConfig, "examples/recipes/sycl-reference.yaml", "train", inputs=["docs.jsonl"], out="m")
    """
    values = coerce_settings(cls, read_config_file(path, section), path=path)
    return from_mapping(cls, values, **overrides)
