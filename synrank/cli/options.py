"""Typer options whose default and help come from a stage's config dataclass (see ``synrank.config``)."""

from __future__ import annotations

import functools
import inspect
import typing
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from synrank.config import choices_of, default_of, help_of


# Settings that name a file synrank writes (a folder for `index`/`train --out`, given ``folder=True``).
OUTPUT_SETTINGS = frozenset({"out", "rejects", "run_out", "plot", "plot_dist"})


def _file_output(value: str) -> Path:
    # pathlib drops a trailing "/" (`-o newdir/` would write a file named newdir): look at it as typed.
    from synrank.formats.outputs import check_output

    if value.endswith("/"):
        check_output(value)
    return Path(value)


def opt(cls: type, name: str, *param_decls: str, folder: bool = False, **kwargs: Any) -> Any:
    """``typer.Option`` for setting ``name`` of ``cls``; the flag defaults to ``--name-with-dashes``.

    Use it as ``x: Annotated[int, opt(Cfg, "x")] = default_of(Cfg, "x")`` so --help, the library and
    docs/cli.md all show the dataclass's default (a test checks the two agree). An output setting
    (:data:`OUTPUT_SETTINGS`) is a file unless ``folder``: a value ending in "/" is then refused.
    """
    decls = param_decls or ("--" + name.replace("_", "-"),)
    if name in OUTPUT_SETTINGS and not folder and "parser" not in kwargs:
        kwargs["parser"] = _file_output
        kwargs.setdefault("metavar", "<path>")
    text = help_of(cls, name)
    allowed = choices_of(cls, name)
    if allowed and "choices" not in text:
        text = f"{text} One of: {', '.join(map(str, allowed))}."
    return typer.Option(*decls, help=text, **kwargs)


def arg(cls: type, name: str, **kwargs: Any) -> Any:
    """``typer.Argument`` for setting ``name`` of ``cls``."""
    return typer.Argument(help=help_of(cls, name), **kwargs)



CONFIG_HELP = (
    "Read settings from a YAML or JSON file (flat, or one section per command: `train:`, `score:`, ...); "
    "flags given on the command line win over the file. Recipes: examples/recipes/."
)
PRINT_CONFIG_HELP = "Print the effective settings (defaults, then --config, then flags) as YAML and exit without running."


def uses_config(cls: type) -> Any:
    """Build a command on config ``cls``: adds ``--config FILE`` and ``--print-config`` to it.

    Settings come from, in rising order: the dataclass defaults, the file's section for this command, the
    flags typed (click tells which parameters came from the command line). The wrapped function receives
    the merged values, so commands stay ``from_mapping(Cfg, locals())``. ``tests/cli/test_cli_config.py``
    checks every such command against its dataclass.
    """

    def mark(fn: Any) -> Any:
        signature = inspect.signature(fn, eval_str=True)
        extra = [
            # Typer hands a parameter annotated typer.Context the command's context (its own click).
            inspect.Parameter("_ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context),
            inspect.Parameter(
                "config", inspect.Parameter.KEYWORD_ONLY, default=None,
                annotation=Annotated[Optional[Path], typer.Option("--config", help=CONFIG_HELP, show_default=False, metavar="FILE")],
            ),
            inspect.Parameter(
                "print_config", inspect.Parameter.KEYWORD_ONLY, default=False,
                annotation=Annotated[bool, typer.Option("--print-config", help=PRINT_CONFIG_HELP)],
            ),
        ]

        @functools.wraps(fn)
        def command(*args: Any, _ctx: Any, config: Path | None = None, print_config: bool = False, **kwargs: Any) -> Any:
            from synrank.formats.manifest import note_config_file

            note_config_file(None)  # one command per call: nothing carried over from an earlier one in-process
            if config is not None:
                kwargs.update(_file_settings(cls, fn, _ctx, config, kwargs))
            if print_config:
                _print_config(cls, _ctx.info_name, kwargs)
                return None
            return fn(*args, **kwargs)

        command.__signature__ = signature.replace(parameters=[*signature.parameters.values(), *extra])
        command.__annotations__ = {**typing.get_type_hints(fn, include_extras=True), **{p.name: p.annotation for p in extra}}
        command.__synrank_config__ = cls
        return command

    return mark


def _file_settings(cls: type, fn: Any, ctx: Any, path: Path, given: dict[str, Any]) -> dict[str, Any]:
    """The file's settings for this command that no flag on the command line overrides."""
    from synrank.config import coerce_settings, read_config_file
    from synrank.formats.manifest import note_config_file

    params = {p.name: p for p in ctx.command.params}
    raw = read_config_file(path, section=ctx.info_name)
    values = coerce_settings(cls, raw, path=path, allowed=[n for n in given if n in params])
    note_config_file(path, ctx.info_name, values)
    hints = typing.get_type_hints(fn, include_extras=True)
    merged: dict[str, Any] = {}
    for name, value in values.items():
        source = ctx.get_parameter_source(name)
        if source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP"):
            continue  # a flag typed on the command line wins
        hint = hints.get(name)
        if any(getattr(m, "parser", None) is _file_output for m in getattr(hint, "__metadata__", ())) and isinstance(value, str):
            value = _file_output(value)  # the check a typed output path gets
        merged[name] = _as_hint(typing.get_args(hint)[0] if hasattr(hint, "__metadata__") else hint, value)
    return merged


def _as_hint(hint: Any, value: Any) -> Any:
    # The command's own annotation: Typer hands commands Paths where they declare Path.
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if value is None:
        return None
    if hint is Path or (Path in args and len(args) == 1):
        return Path(value)
    if typing.get_origin(hint) in (list, tuple) and args == [Path]:
        return [Path(v) for v in value]
    return value


def _print_config(cls: type, command: str, values: dict[str, Any]) -> None:
    import json

    import yaml

    from synrank.config import as_dict, from_mapping

    cfg = from_mapping(cls, values)  # validated like a real run
    plain = json.loads(json.dumps(as_dict(cfg), default=str))  # Paths as text, so the YAML reads back as a recipe
    typer.echo(yaml.safe_dump({command: plain}, sort_keys=False, allow_unicode=True), nl=False)


__all__ = ["opt", "arg", "default_of", "uses_config"]
