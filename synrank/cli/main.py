"""The ``synrank`` executable: one Typer app, one module per subcommand."""

from __future__ import annotations

import os
import sys

import typer

from synrank import __version__
from synrank.cli import compare, evaluate, fuse, generate, index, models, score, search, train
from synrank.errors import SynrankError

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


for module in (generate, search, score, fuse, train, index, evaluate, compare, models):
    module.register(app)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code; user errors become one line on stderr, never a traceback."""
    try:
        app(args=argv, prog_name="synrank", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except SynrankError as exc:
        typer.echo(f"synrank: error: {exc.one_line(flags=True)}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        typer.echo("synrank: interrupted; outputs written so far are kept (re-run the same command to resume)", err=True)
        return 130
    except BrokenPipeError:
        # Downstream of a pipe closed early (e.g. `| head`): not an error for the user.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # noqa: BLE001 - last line of defence; keep output to one line
        if os.environ.get("SYNRANK_DEBUG"):
            raise
        msg = " ".join(str(exc).split()) or type(exc).__name__
        typer.echo(f"synrank: internal error: {type(exc).__name__}: {msg} (set SYNRANK_DEBUG=1 for a traceback)", err=True)
        return 1
    return 0


def run() -> None:
    sys.exit(main())
