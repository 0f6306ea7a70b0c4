"""`synrank score`: Score candidate lists with teachers and apply the distillation filters."""

from __future__ import annotations

import typer

from synrank.cli.common import not_built


def register(app: typer.Typer) -> None:
    @app.command(
        "score",
        help="Score candidate lists with teachers and apply the distillation filters. (Not built yet: see issue 4.)",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def score_cmd(ctx: typer.Context) -> None:
        not_built("score", "issue 4")
