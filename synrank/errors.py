"""Errors users can act on.

Library code raises these; only ``synrank.cli`` turns them into one line on stderr and exit code 2.
Anything else that escapes is a bug in synrank, not in the user's input.
"""

from __future__ import annotations

import os
import re
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


# How Rust libraries (safetensors, tokenizers) spell an OS error inside their own exception's message:
# ``IoError(Os { code: 28, kind: StorageFull, ... })`` or ``No space left on device (os error 28)``.
_RUST_OS_ERROR = re.compile(r"Os \{ code: (\d+)|\(os error (\d+)\)")


def os_error_in(exc: BaseException, filename: str | Path | None = None) -> OSError | None:
    """The OSError behind ``exc`` (an OSError, or a native library's error that wraps one), else None.

    A full disk while safetensors writes a model arrives as ``SafetensorError``, not OSError; turned back
    into one it is reported like any other full disk (one line, exit 2) instead of as an internal error."""
    if isinstance(exc, OSError):
        return exc
    m = _RUST_OS_ERROR.search(str(exc))
    if m is None:
        return None
    code = int(m.group(1) or m.group(2))
    return OSError(code, os.strerror(code), None if filename is None else str(filename))
