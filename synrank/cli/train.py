"""`synrank train`: Train a dense retriever list-wise (wasserstein, ws2, kl, kl+infonce, infonce)."""

from __future__ import annotations

import typer

from synrank.cli.common import not_built


def register(app: typer.Typer) -> None:
    @app.command(
        "train",
        help="Train a dense retriever list-wise (wasserstein, ws2, kl, kl+infonce, infonce). (Not built yet: see issue 5.)",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def train_cmd(ctx: typer.Context) -> None:
        not_built("train", "issue 5")
