"""`synrank compare`: Compare retrieval runs with paired significance tests."""

from __future__ import annotations

import typer

from synrank.cli.common import not_built


def register(app: typer.Typer) -> None:
    @app.command(
        "compare",
        help="Compare retrieval runs with paired significance tests. (Not built yet: see issue 6.)",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def compare_cmd(ctx: typer.Context) -> None:
        not_built("compare", "issue 6")
