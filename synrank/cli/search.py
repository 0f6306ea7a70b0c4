"""`synrank search`: Retrieve candidate lists (dense index or BM25) for queries."""

from __future__ import annotations

import typer

from synrank.cli.common import not_built


def register(app: typer.Typer) -> None:
    @app.command(
        "search",
        help="Retrieve candidate lists (dense index or BM25) for queries. (Not built yet: see issue 4.)",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def search_cmd(ctx: typer.Context) -> None:
        not_built("search", "issue 4")
