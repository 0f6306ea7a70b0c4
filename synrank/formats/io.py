"""Low-level file handling shared by all formats: stdin/gzip, JSONL parsing with line numbers,
atomic writes and append-only resumable JSONL outputs."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import math
import os
import shutil
import sys
import tempfile
import unicodedata
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from synrank.errors import InputError

STDIN = "-"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# The modes open()/mkdir() would give (mkstemp/mkdtemp alone give 0o600/0o700, unreadable by a team).
_FILE_MODE = 0o666 & ~_umask()
_DIR_MODE = 0o777 & ~_umask()


def display_name(path: str | Path) -> str:
    return "<stdin>" if str(path) == STDIN else str(path)


_BOM = b"\xef\xbb\xbf"
_GZIP_ERRORS: tuple[type[BaseException], ...] = (gzip.BadGzipFile, EOFError, zlib.error)


class _GzipRaw(io.RawIOBase):
    """gzip reader whose corruption errors become one InputError naming the file (not an internal error)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._gz = gzip.open(path, "rb")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self._gz.read(len(buffer))
        except _GZIP_ERRORS as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise InputError(f"corrupt or truncated gzip file ({reason})", path=self._path) from None
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._gz.close()
        super().close()


def open_binary(path: str | Path) -> IO[bytes]:
    """Open a file for reading bytes; ``-`` is stdin, ``.gz`` is decompressed (corruption is an InputError)."""
    if str(path) == STDIN:
        return sys.stdin.buffer
    p = Path(path)
    if not p.exists():
        raise InputError("file not found", path=p)
    if p.is_dir():
        raise InputError("is a directory, expected a file", path=p)
    if p.suffix == ".gz":
        return io.BufferedReader(_GzipRaw(p))
    return open(p, "rb")


def open_text(path: str | Path) -> IO[str]:
    """Open a UTF-8 text file for reading; ``-`` is stdin, ``.gz`` is decompressed, a leading BOM is dropped."""
    if str(path) == STDIN:
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", errors="strict")
    return io.TextIOWrapper(open_binary(path), encoding="utf-8-sig", errors="strict")


def iter_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` for non-blank lines, without the newline.

    Lines are decoded one by one, so invalid UTF-8 is reported at its own line; a leading UTF-8 BOM is dropped.
    """
    name = display_name(path)
    fh = open_binary(path)
    try:
        for lineno, raw in enumerate(fh, start=1):
            if lineno == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"not valid UTF-8 text ({exc.reason} at byte {exc.start + 1} of the line)", path=name, line=lineno) from None
            line = line.rstrip("\n").rstrip("\r")
            if line.strip():
                yield lineno, line
    finally:
        if str(path) != STDIN:
            fh.close()


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is out of range")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed (numbers must be finite)")


def parse_json_line(line: str, *, path: str, lineno: int) -> dict[str, Any]:
    """Parse one JSONL record; NaN, Infinity and overflowing numbers are refused (they break every ranking)."""
    try:
        obj = json.loads(line, parse_constant=_no_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise InputError(f"bad JSON ({exc.msg} at column {exc.colno})", path=path, line=lineno) from None
    except ValueError as exc:
        raise InputError(f"bad JSON ({exc})", path=path, line=lineno) from None
    if not isinstance(obj, dict):
        raise InputError(f"expected a JSON object, got {type(obj).__name__}", path=path, line=lineno)
    return obj


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for every record of a JSONL file."""
    name = display_name(path)
    for lineno, line in iter_lines(path):
        yield lineno, parse_json_line(line, path=name, lineno=lineno)


def check_id(value: Any, what: str, *, path: str, lineno: int) -> str:
    """A document or query id as a string; empty ids and ids holding whitespace or control characters are refused.

    Ids go into whitespace-separated TREC files and one-id-per-line ``docids.txt``: a space or newline in an
    id would silently change what those files mean, so it is an input error (docs/formats.md).
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InputError(f"{what} must be a string or an integer, got {value!r}", path=path, line=lineno)
    text = str(value)
    if not text:
        raise InputError(f"empty {what}", path=path, line=lineno)
    if any(c.isspace() for c in text):
        raise InputError(f"{what} {text!r} contains whitespace (ids may not hold spaces, tabs or newlines)", path=path, line=lineno)
    # NUL and other control characters are invisible in a terminal and cut C strings (FAISS, trec_eval) short.
    control = next((c for c in text if unicodedata.category(c) == "Cc"), None)
    if control is not None:
        raise InputError(f"{what} {text!r} contains the control character U+{ord(control):04X}", path=path, line=lineno)
    return text


def parse_number(value: Any, what: str, *, path: str, lineno: int) -> float:
    """A finite number from a text column or a JSON value; NaN and infinities are refused with file:line."""
    if isinstance(value, bool):
        raise InputError(f"{what} {value!r} is not a number", path=path, line=lineno)
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} {value!r} is not a number", path=path, line=lineno) from None
    if not math.isfinite(f):
        raise InputError(f"{what} {value!r} is not a finite number", path=path, line=lineno)
    return f


def require_field(obj: dict[str, Any], names: tuple[str, ...], *, path: str, lineno: int, what: str) -> Any:
    """Return the first present field among ``names`` or fail naming the line."""
    for name in names:
        if name in obj and obj[name] is not None:
            return obj[name]
    raise InputError(f"missing {what} field (one of {', '.join(names)})", path=path, line=lineno)


def dumps(record: Any) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def check_writable(path: str | Path, *, folder: bool = False) -> None:
    """Refuse, before any work, an output path that cannot be written: under a regular file, or a file
    where a folder is expected (and the reverse). One InputError naming the output."""
    target = Path(path)
    for parent in target.parents:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise InputError(f"cannot write here: {parent} is a file, not a folder", path=target)
            break
    if target.exists():
        if folder and not target.is_dir():
            raise InputError("expected a folder, and a file of that name exists", path=target)
        if not folder and target.is_dir():
            raise InputError("expected a file, and a folder of that name exists", path=target)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` (same suffix) and rename it over ``path`` on success only.

    On any exception (Ctrl-C included) the temporary file is removed and ``path`` is left as it was.
    """
    target = Path(path)
    check_writable(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Keep the output's name at the end so writers that look at the suffix (.gz, .trec) see the real one.
    fd, tmp = tempfile.mkstemp(prefix=".synrank-", suffix="-" + target.name[-180:], dir=target.parent)
    os.fchmod(fd, _FILE_MODE)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Write ``path`` through a temporary sibling and rename it into place on success only."""
    with atomic_path(path) as tmp:
        with open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
            fh.flush()


@contextlib.contextmanager
def atomic_dir(path: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Build an output folder in a temporary sibling and rename it into place on success.

    Nothing is left behind when the body fails, so a failed run never leaves a half-written folder.
    """
    target = Path(path)
    check_writable(target, folder=True)
    if target.exists() and not overwrite and any(target.iterdir()):
        raise InputError("output folder exists and is not empty (pass --overwrite to replace it)", path=target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    os.chmod(tmp, _DIR_MODE)
    try:
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_jsonl(records: Iterable[Any], path: str | Path | None) -> int:
    """Write records as JSONL to ``path`` atomically, or to stdout when ``path`` is None or ``-``."""
    n = 0
    if path is None or str(path) == STDIN:
        out = sys.stdout
        for rec in records:
            out.write(dumps(rec) + "\n")
            n += 1
        out.flush()
        return n
    with atomic_write(path) as fh:
        for rec in records:
            fh.write(dumps(rec) + "\n")
            n += 1
    return n


class AppendJsonlWriter:
    """Append-only JSONL output that survives ``kill -9`` and supports resuming.

    Each record is written as one line and flushed (and fsynced every ``fsync_every`` records), so
    at most the last, partial line is lost when a process dies. On open, a trailing partial line
    left by a killed run is cut off, and :attr:`done_keys` holds the key of every complete record
    so the caller can skip inputs already processed.
    """

    def __init__(
        self,
        path: str | Path | None,
        key: Callable[[dict[str, Any]], str] | None = None,
        *,
        fsync_every: int = 1,
    ) -> None:
        self.path = None if path is None or str(path) == STDIN else Path(path)
        self.done_keys: set[str] = set()
        self.fsync_every = max(1, fsync_every)
        self._since_sync = 0
        self.written = 0
        if self.path is None:
            self._fh: IO[str] = sys.stdout
            return
        check_writable(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self._repair_and_scan(key)
        self._fh = open(self.path, "a", encoding="utf-8")

    def _repair_and_scan(self, key: Callable[[dict[str, Any]], str] | None) -> None:
        assert self.path is not None
        good_end = 0
        with open(self.path, "rb") as fh:
            offset = 0
            for lineno, raw in enumerate(fh, start=1):
                offset += len(raw)
                if not raw.endswith(b"\n"):
                    break  # partial last line from a killed run: drop it
                text = raw.decode("utf-8", errors="replace").strip()
                if text:
                    try:
                        obj = json.loads(text)
                    except json.JSONDecodeError:
                        raise InputError(
                            "existing output has a corrupt line; cannot resume (remove the file or the line)",
                            path=self.path,
                            line=lineno,
                        ) from None
                    if key is not None and isinstance(obj, dict):
                        self.done_keys.add(key(obj))
                good_end = offset
        if good_end != self.path.stat().st_size:
            with open(self.path, "r+b") as fh:
                fh.truncate(good_end)

    def write(self, record: Any) -> None:
        self._fh.write(dumps(record) + "\n")
        self._fh.flush()
        self.written += 1
        if self.path is not None:
            self._since_sync += 1
            if self._since_sync >= self.fsync_every:
                os.fsync(self._fh.fileno())
                self._since_sync = 0

    def close(self) -> None:
        if self.path is not None and not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()

    def __enter__(self) -> AppendJsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
