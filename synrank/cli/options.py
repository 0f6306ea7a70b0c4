"""Typer options whose default and help come from a stage's config dataclass (see ``synrank.config``)."""

from __future__ import annotations

from typing import Any

import typer

from synrank.config import choices_of, default_of, help_of


def opt(cls: type, name: str, *param_decls: str, **kwargs: Any) -> Any:
    """``typer.Option`` for setting ``name`` of ``cls``; the flag defaults to ``--name-with-dashes``.

    Use it as ``x: Annotated[int, opt(Cfg, "x")] = default_of(Cfg, "x")`` so --help, the library and
    docs/cli.md all show the dataclass's default (a test checks the two agree).
    """
    decls = param_decls or ("--" + name.replace("_", "-"),)
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
