"""The ``synrank`` executable: one Typer app, one module per subcommand."""

from __future__ import annotations

import atexit
import contextlib
import errno
import os
import signal
import sys
import threading
import warnings

import typer

from synrank import __version__
from synrank.cli import check, compare, evaluate, fuse, generate, index, models, score, search, train
from synrank.errors import InputWarning, SynrankError, os_error_in

INTERRUPTED = "synrank: interrupted; re-run the same command to resume (outputs written so far are kept)"


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a scheduler's time limit) raised like Ctrl-C, so the same cleanup runs.

    Python's default SIGTERM action ends the process without unwinding: partial outputs and their ``.tmp``
    files were left behind. As a KeyboardInterrupt it passes through every ``finally``/``except BaseException``
    that already cleans up after Ctrl-C; the exit code is the shell's 128 + 15.
    """

    exit_code = 128 + signal.SIGTERM


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


app = typer.Typer(
    name="synrank",
    help=(
        "Adapt dense retrievers with synthetic data and list-wise training.\n\n"
        "Pipeline: generate -> search -> score -> train -> index -> eval -> compare. Every command reads and "
        "writes plain JSONL/TSV/TREC files and folders; data goes to stdout or --out, progress and logs to stderr."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"synrank {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Adapt dense retrievers with synthetic data and list-wise training."""


for module in (check, generate, search, score, fuse, train, index, evaluate, compare, models):
    module.register(app)


def _interruption(exc: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C or SIGTERM behind ``exc``, if any (Typer turns KeyboardInterrupt into ``Exit(130)`` first)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, KeyboardInterrupt):
            return cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None


def _interrupted_code(interrupt: KeyboardInterrupt) -> int:
    typer.echo(INTERRUPTED, err=True)  # every command resumes by being re-run (docs/formats.md)
    return Terminated.exit_code if isinstance(interrupt, Terminated) else 130


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    # Input warnings are for users: one line each, no source location.
    if issubclass(category, InputWarning):
        typer.echo(f"synrank: warning: {_redact(str(message))}", err=True)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


_default_showwarning = warnings.showwarning


def _redact(text: str) -> str:
    from synrank.formats.manifest import redact_text

    return redact_text(text)


def _utf8_streams() -> None:
    """Data on stdout is UTF-8 like every file synrank writes; messages on stderr never fail to print.

    Under ``PYTHONIOENCODING=ascii`` (or a C locale on an old Python) printing a non-ASCII document or
    message raised UnicodeEncodeError: an internal error, or worse, a half-written stream."""
    for stream, kwargs in ((sys.stdout, {"encoding": "utf-8"}), (sys.stderr, {"errors": "backslashreplace"})):
        reconfigure = getattr(stream, "reconfigure", None)  # absent on test captures that are not TextIOWrapper
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):
                reconfigure(**kwargs)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code; user errors become one line on stderr, never a traceback."""
    _utf8_streams()
    warnings.showwarning = _show_warning
    # Signal handlers can only be set from the main thread (main() is also called from tests' threads).
    previous_term = signal.signal(signal.SIGTERM, _raise_terminated) if threading.current_thread() is threading.main_thread() else None
    try:
        app(args=argv, prog_name="synrank", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        code = code if isinstance(code, int) else (0 if code is None else 1)
        interrupt = _interruption(exc) if code == 130 else None
        return _interrupted_code(interrupt) if interrupt is not None else code
    except SynrankError as exc:
        typer.echo(f"synrank: error: {_redact(exc.one_line(flags=True))}", err=True)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        return _interrupted_code(exc)
    except BrokenPipeError:
        # Downstream of a pipe closed early (e.g. `| head`): not an error for the user.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        # A file the user named cannot be written or read (not a folder, no permission, disk full): their
        # environment, not a bug in synrank.
        if (exc.filename is None and exc.errno not in _ENV_ERRNOS) or os.environ.get("SYNRANK_DEBUG"):
            return _internal(exc)
        where = f"{exc.filename}: " if exc.filename is not None else ""
        reason = (exc.strerror or type(exc).__name__).lower()
        typer.echo(f"synrank: error: {_redact(where + reason)}", err=True)
        return 2
    except Exception as exc:  # noqa: BLE001 - last line of defence; keep output to one line
        wrapped = os_error_in(exc)
        if wrapped is not None and wrapped.errno in _ENV_ERRNOS and not os.environ.get("SYNRANK_DEBUG"):
            typer.echo(f"synrank: error: {(wrapped.strerror or type(exc).__name__).lower()} ({type(exc).__name__})", err=True)
            return 2
        return _internal(exc)
    finally:
        warnings.showwarning = _default_showwarning
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)
    return 0


def _internal(exc: Exception) -> int:
    if os.environ.get("SYNRANK_DEBUG"):
        raise exc
    msg = " ".join(str(exc).split()) or type(exc).__name__
    typer.echo(f"synrank: internal error: {type(exc).__name__}: {_redact(msg)} (set SYNRANK_DEBUG=1 for a traceback)", err=True)
    return 1


# Errors of the machine, not of synrank, even when no file name is attached.
_ENV_ERRNOS = {getattr(errno, n) for n in ("ENOSPC", "EROFS", "EDQUOT", "EACCES", "EPERM", "EMFILE") if hasattr(errno, n)}


# Set by run() when the command was interrupted: the process then ends killed by SIGINT (see run()).
_EXIT = {"by_sigint": False}


def _end_by_sigint() -> None:
    if not _EXIT["by_sigint"]:
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)


def run() -> None:
    # Registered before main() imports torch & co., so it runs after the exit handlers they register.
    atexit.register(_end_by_sigint)
    code = main()
    if code == 130 and threading.current_thread() is threading.main_thread():
        # Ctrl-C: end the way CPython ends on an unhandled KeyboardInterrupt, killed by SIGINT after the
        # exit handlers, so that a calling shell script stops too instead of running its next command
        # (https://www.cons.org/cracauer/sigint.html). CPython's own signal exit did not happen after
        # `train` (torch and transformers loaded): the exit was 1. _end_by_sigint sends the signal itself
        # once the exit handlers have run. The message was printed; the traceback is not.
        _EXIT["by_sigint"] = True
        sys.excepthook = _no_traceback_for_interrupt
        raise KeyboardInterrupt
    sys.exit(code)


def _no_traceback_for_interrupt(kind: type[BaseException], value: BaseException, tb: object) -> None:
    if not issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, tb)  # type: ignore[arg-type]
