"""Errors users can act on.

Library code raises these; only ``synrank.cli`` turns them into one line on stderr and exit code 2.
Anything else that escapes is a bug in synrank, not in the user's input.
"""

from __future__ import annotations

from pathlib import Path


class SynrankError(Exception):
    """A problem with the user's input or environment, described in one line."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        setting: str | None = None,
    ):
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        # A config field name (``group_size``): the library speaks of settings, the CLI shows the flag.
        self.setting = setting
        super().__init__(self.one_line())

    def one_line(self, *, flags: bool = False) -> str:
        """The error on one line; ``flags=True`` names a setting as its CLI flag (``--group-size``)."""
        where = ""
        if self.path is not None:
            where = self.path if self.line is None else f"{self.path}:{self.line}"
            where += ": "
        elif self.setting is not None:
            where = ("--" + self.setting.replace("_", "-") if flags else self.setting) + ": "
        text = " ".join(self.message.split())  # one line, always
        return f"{where}{text}"


class InputError(SynrankError):
    """Malformed or missing input data (file, line, field)."""


class ConfigError(SynrankError):
    """Options that cannot work together, unknown names, missing optional dependencies."""


class InputWarning(UserWarning):
    """Input that is used as is but deserves a line on stderr (e.g. empty documents); shown once."""


class NotBuiltError(SynrankError):
    """A subcommand that exists in the CLI but whose feature is not implemented yet."""

    exit_code = 3
