"""Progress bars on stderr (Rich) with count, rate and ETA, and what a stage's ``progress=`` argument means.

Rich stays quiet when stderr is not a terminal. :func:`reporter` is the one place where ``progress=None |
True | False | callable`` is read, so every stage's ``run`` means the same by it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Union

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from synrank.redact import redact_text

stderr_console = Console(stderr=True)


class RateColumn(ProgressColumn):
    """Items per second, with the unit given at construction."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-" if speed is None else f"{speed:,.1f} {self.unit}/s", style="cyan")


def make_progress(unit: str = "items", *, disable: bool = False) -> Progress:
    """A progress bar for ``unit`` (e.g. ``"docs"``); use ``progress.add_task(desc, total=n)``."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(unit),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=stderr_console,
        disable=disable,
    )


# --- what a stage's ``progress=`` argument means (one meaning for every stage) ------------------------------

ProgressArg = Union[bool, None, Callable[[str], None]]
"""The ``progress=`` argument of every stage's ``run``:

- ``None`` or ``False`` (the library default): silent, no bars and no messages;
- ``True`` (what the CLI passes): Rich progress bars and one-line messages on stderr, secrets hidden;
- a callable ``(message: str) -> None``: receives the messages, and no bars are drawn.
"""


def _quiet(_message: str) -> None:
    pass


def to_stderr(message: str) -> None:
    """One message line on stderr (stdout carries data), URL credentials and API keys hidden."""
    stderr_console.print(redact_text(message), highlight=False, soft_wrap=True, markup=False)


@dataclass(frozen=True)
class Reporter:
    """A stage's resolved ``progress=``: where its messages go (``say``) and whether it draws bars."""

    say: Callable[[str], None] = _quiet
    bars: bool = False

    def bar(self, unit: str = "items") -> Progress:
        """A progress bar for ``unit``; drawn only when the caller asked for bars."""
        return make_progress(unit, disable=not self.bars)

    def only_if(self, condition: bool) -> Reporter:
        """This reporter where ``condition`` holds, else a silent one (e.g. one process of a DDP job speaks)."""
        return self if condition else Reporter()


def reporter(progress: ProgressArg = None, *, info: Callable[[str], None] | None = None) -> Reporter:
    """Resolve a stage's ``progress=`` (and the older ``info=`` message hook) into a :class:`Reporter`.

    ``info=`` predates ``progress=`` and keeps its meaning: messages go to it, and bars are drawn unless
    ``progress`` is ``False`` (as the stages did when ``info=`` was their only hook).
    """
    if progress is not None and not isinstance(progress, bool) and not callable(progress):
        raise TypeError(f"progress must be None, True, False or a callable taking a message (got {type(progress).__name__})")
    if info is not None:
        if callable(progress) and not isinstance(progress, bool):
            raise TypeError("pass the message callable as progress= or as info=, not both")
        return Reporter(say=info, bars=progress is not False)
    if progress is True:
        return Reporter(say=to_stderr, bars=True)
    if callable(progress) and not isinstance(progress, bool):
        return Reporter(say=progress, bars=False)
    return Reporter()
