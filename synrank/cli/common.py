"""Helpers shared by subcommands."""

from __future__ import annotations

from rich.console import Console

err_console = Console(stderr=True)


def info(message: str) -> None:
    """One informational line on stderr (stdout is reserved for data); URL credentials and queries are hidden."""
    from synrank.formats.manifest import redact_text

    err_console.print(redact_text(message), highlight=False, soft_wrap=True, markup=False)
