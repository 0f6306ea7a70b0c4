"""The one command builder: a stage's Typer command made from its config dataclass's fields.

Each field of the config (declared with :func:`synrank.config.setting`) becomes one option or argument,
with the field's type, default, help text and allowed values, spelled as the field's metadata says
(``short``, ``flag``, ``positional``, ``metavar``, ``folder``). Nothing about a setting is written in the
command: its body receives the settings as a mapping and builds the config with ``from_mapping``. This is
trl's ``TrlParser`` idea (one parser from the dataclasses, ``--config recipe.yaml``) done with Typer, so
``--help`` keeps Rich's layout and docs/cli.md is generated from the same commands.

Every built command also gets ``--config FILE`` and ``--print-config``; settings come, in rising order,
from the dataclass defaults, the file's section for the command, and the flags typed (click says which
parameters came from the command line).
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from synrank.config import choices_of, default_of, help_of
from synrank.runtime.config import RUNTIME_SETTINGS  # shown in their own panel of --help

# Settings that name a file synrank writes (a folder when the field says ``folder=True``).
OUTPUT_SETTINGS = frozenset({"out", "rejects", "run_out", "plot", "plot_dist"})
RUNTIME_PANEL = "Runtime"
FILE_PANEL = "Settings file"

CONFIG_HELP = (
    "Read settings from a YAML or JSON file (flat, or one section per command: `train:`, `score:`, ...); "
    "flags given on the command line win over the file. Recipes: examples/recipes/."
)
PRINT_CONFIG_HELP = "Print the effective settings (defaults, then --config, then flags) as YAML and exit without running."


def _file_output(value: str) -> Path:
    # pathlib drops a trailing "/" (`-o newdir/` would write a file named newdir): look at it as typed.
    from synrank.formats.outputs import check_output

    if value.endswith("/"):
        check_output(value)
    return Path(value)


def config_command(
    app: typer.Typer, name: str, cls: type, *, help: str | None = None, exclude: Collection[str] = ()  # noqa: A002
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``synrank <name>`` built on config ``cls``; decorates the command's body.

    The body's first parameter receives the settings (a dict of field values: defaults, file, flags); its
    further parameters, declared as usual with Typer annotations, are command-only switches that are not
    settings (``generate --dry-run``). Fields in ``exclude`` get no option. A :class:`ConfigError` about a
    setting whose flag is not its name is shown with the flag the user typed.
    """

    def register(body: Callable[..., Any]) -> Callable[..., Any]:
        hints = typing.get_type_hints(cls)
        fields = [f for f in dataclasses.fields(cls) if f.init and f.name not in exclude]
        settings = [_parameter(cls, f, hints[f.name]) for f in fields]
        own = list(inspect.signature(body, eval_str=True).parameters.values())[1:]
        switches = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own]
        params = [*settings, *switches, *_file_parameters()]
        annotations = {p.name: p.annotation for p in params}
        names = [p.name for p in settings]
        required = [f.name for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]

        def command(*, _ctx: Any, config: Path | None = None, print_config: bool = False, **kwargs: Any) -> Any:
            from synrank.errors import ConfigError
            from synrank.formats.manifest import note_config_file

            values = {n: kwargs[n] for n in names}
            note_config_file(None)  # one command per call: nothing carried over from an earlier one in-process
            if config is not None:
                values.update(_file_settings(cls, _ctx, config, annotations, names))
            _require(_ctx, values, required)
            if print_config:
                _print_config(cls, _ctx.info_name, values)
                return None
            try:
                return body(values, **{p.name: kwargs[p.name] for p in switches})
            except ConfigError as exc:
                exc.setting = _flag_name(cls, exc.setting)
                raise

        command.__name__ = body.__name__
        command.__doc__ = body.__doc__
        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        command.__annotations__ = annotations
        command.__synrank_config__ = cls  # type: ignore[attr-defined]
        app.command(name, help=help)(command)
        return command

    return register


def _parameter(cls: type, f: dataclasses.Field[Any], hint: Any) -> inspect.Parameter:
    """The Typer parameter for field ``f``: type, default, help and spelling from the dataclass."""
    meta = f.metadata
    try:
        default: Any = default_of(cls, f.name)
    except KeyError:
        # Required, but a --config file may give it: click must not insist before the file is read. The
        # command checks it after merging (_require) and says it is missing as click would.
        default = None
    text = help_of(cls, f.name)
    allowed = choices_of(cls, f.name)
    if allowed and "choices" not in text:
        text = f"{text} One of: {', '.join(map(str, allowed))}."
    extra: dict[str, Any] = {}
    if meta.get("metavar"):
        extra["metavar"] = meta["metavar"]
    if default is None or default == []:
        extra["show_default"] = False  # "None" and "[]" tell a reader nothing
    if meta.get("positional"):
        info = typer.Argument(help=text, **extra)
    else:
        flag = meta.get("flag") or "--" + f.name.replace("_", "-")
        if hint is bool and default is True:
            flag = f"{flag}/--no-{flag[2:]}"  # a setting on by default needs a way to turn it off
        decls = [flag] + ([meta["short"]] if meta.get("short") else [])
        if f.name in OUTPUT_SETTINGS and not meta.get("folder"):
            extra["parser"] = _file_output
            extra.setdefault("metavar", "<path>")
        if f.name in RUNTIME_SETTINGS:
            extra["rich_help_panel"] = RUNTIME_PANEL
        info = typer.Option(*decls, help=text, **extra)
    return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[hint, info])


def _file_parameters() -> list[inspect.Parameter]:
    keyword = inspect.Parameter.KEYWORD_ONLY
    return [
        # Typer hands a parameter annotated typer.Context the command's context (its own click).
        inspect.Parameter("_ctx", keyword, annotation=typer.Context),
        inspect.Parameter(
            "config", keyword, default=None,
            annotation=Annotated[Optional[Path], typer.Option(
                "--config", help=CONFIG_HELP, show_default=False, metavar="FILE", rich_help_panel=FILE_PANEL)],
        ),
        inspect.Parameter(
            "print_config", keyword, default=False,
            annotation=Annotated[bool, typer.Option("--print-config", help=PRINT_CONFIG_HELP, rich_help_panel=FILE_PANEL)],
        ),
    ]


def _require(ctx: Any, values: dict[str, Any], required: list[str]) -> None:
    """Settings without a default must come from a flag or the --config file (exit 2, click's message)."""
    for name in required:
        if values.get(name) is None:
            param = next(p for p in ctx.command.params if p.name == name)
            # ctx.fail: the usage error of the click Typer runs on (Typer >= 0.26 vendors its own).
            ctx.fail(f"Missing {param.param_type_name} {param.get_error_hint()}.")


def _flag_name(cls: type, setting: str | None) -> str | None:
    """The name a setting's error shows (``bootstrap`` for ``resamples``): its flag without the dashes."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    flag = fields[setting].metadata.get("flag") if setting in fields else None
    return flag[2:] if flag else setting


def _file_settings(cls: type, ctx: Any, path: Path, annotations: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The file's settings for this command that no flag on the command line overrides."""
    from synrank.config import coerce_settings, read_config_file
    from synrank.formats.manifest import note_config_file

    raw = read_config_file(path, section=ctx.info_name)
    values = coerce_settings(cls, raw, path=path, allowed=names)
    note_config_file(path, ctx.info_name, values)
    merged: dict[str, Any] = {}
    for name, value in values.items():
        source = ctx.get_parameter_source(name)
        if source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP"):
            continue  # a flag typed on the command line wins
        hint = annotations[name]
        if any(getattr(m, "parser", None) is _file_output for m in hint.__metadata__) and isinstance(value, str):
            value = _file_output(value)  # the check a typed output path gets
        merged[name] = _as_hint(typing.get_args(hint)[0], value)
    return merged


def _as_hint(hint: Any, value: Any) -> Any:
    # The field's annotation: commands receive Paths where the config declares Path, as from a flag.
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


__all__ = ["CONFIG_HELP", "PRINT_CONFIG_HELP", "config_command"]
