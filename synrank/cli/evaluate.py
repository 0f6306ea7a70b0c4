"""`synrank generate`: Generate graded synthetic documents (SyCL) or synthetic queries with an LLM."""

from __future__ import annotations

import typer

from synrank.cli.common import not_built


def register(app: typer.Typer) -> None:
    @app.command(
        "eval",
        help="Generate graded synthetic documents (SyCL) or synthetic queries with an LLM. (Not built yet: see issue 2.)",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def evaluate_cmd(ctx: typer.Context) -> None:
        not_built("eval", "issue 2")
