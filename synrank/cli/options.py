"""Typer options whose default and help come from a stage's config dataclass (see ``synrank.config``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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



def uses_config(cls: type) -> Any:
    """Mark a command function as built on config ``cls`` (``tests/test_cli_config.py`` checks them)."""

    def mark(fn: Any) -> Any:
        fn.__synrank_config__ = cls
        return fn

    return mark


__all__ = ["opt", "arg", "default_of", "uses_config"]
