"""`synrank check`: read every input once with the stages' own readers and print what they hold."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from synrank.cli.common import info
from synrank.cli.options import arg, default_of, opt, uses_config
from synrank.formats.check import CheckConfig


def register(app: typer.Typer) -> None:
    @app.command("check")
    @uses_config(CheckConfig)
    def check_cmd(
        dataset: Annotated[Optional[str], arg(CheckConfig, "dataset", show_default=False)] = default_of(CheckConfig, "dataset"),
        corpus: Annotated[Optional[str], opt(CheckConfig, "corpus")] = default_of(CheckConfig, "corpus"),
        queries: Annotated[list[str], opt(CheckConfig, "queries")] = default_of(CheckConfig, "queries"),
        qrels: Annotated[list[str], opt(CheckConfig, "qrels")] = default_of(CheckConfig, "qrels"),
        split: Annotated[Optional[str], opt(CheckConfig, "split")] = default_of(CheckConfig, "split"),
    ) -> None:
        """Check input files before a long run: every line is parsed as the stages parse it.

        Exits 2 at the first bad line (FILE:LINE: problem); otherwise prints one line per file with its
        counts, and notes judged documents or queries that the corpus or query files lack.
        Example: `synrank check data/scifact --split test --queries my-queries.tsv`.
        """
        from synrank.formats.check import check_inputs

        result = check_inputs(CheckConfig(dataset=dataset, corpus=corpus, queries=queries, qrels=qrels, split=split))
        for line in result.lines():
            typer.echo(line)
        info("inputs OK")
