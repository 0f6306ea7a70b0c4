"""`synrank eval`: search an index with evaluation queries and compute metrics (over ``synrank.evaluate.run``)."""

from __future__ import annotations

import json
from typing import Any

import typer

from synrank.cli.common import info
from synrank.cli.options import config_command
from synrank.config import from_mapping
from synrank.evaluate.stage import EvalConfig


def register(app: typer.Typer) -> None:
    @config_command(app, "eval", EvalConfig)
    def eval_cmd(settings: dict[str, Any]) -> None:
        """Evaluate a dense index on judged queries: search, write the TREC run, compute metrics (pytrec_eval).

        Averages are over every judged query (queries without results count 0); judged queries with no text
        in the queries cannot be searched: they are left out, with a note. Graded qrels give graded nDCG.
        """
        from synrank.evaluate.report import metrics_table, print_table
        from synrank.evaluate.stage import run

        result = run(from_mapping(EvalConfig, settings), progress=True)
        print_table(metrics_table(f"{result.dataset} — {result.model}", result.aggregate, result.num_queries))
        if result.out is None:
            typer.echo(json.dumps(result.summary()))
