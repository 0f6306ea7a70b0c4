"""`synrank models`: list the bundled model aliases and whether they are installed."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from synrank.models import describe_models


def register(app: typer.Typer) -> None:
    @app.command("models")
    def models_cmd(
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    ) -> None:
        """List model aliases usable with --model (name, what it is, where it lives, whether installed).

        Any local sentence-transformers folder, `synrank train` checkpoint or hub id works too.
        """
        rows = describe_models()
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        table = Table(title="synrank model aliases")
        for col in ("name", "kind", "what", "where", "installed"):
            table.add_column(col, overflow="fold")
        for row in rows:
            table.add_row(*(row[c] for c in ("name", "kind", "what", "where", "installed")))
        Console().print(table)
