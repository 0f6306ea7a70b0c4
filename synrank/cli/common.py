"""Helpers shared by subcommands."""

from __future__ import annotations


def info(message: str) -> None:
    """One informational line on stderr (stdout is reserved for data); URL credentials and queries are hidden.

    The same console as the stages' progress bars and messages (``progress=True``), so a line printed while a
    bar is drawn lands above it instead of through it."""
    from synrank.runtime.progress import to_stderr

    to_stderr(message)
