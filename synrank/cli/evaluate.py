"""`synrank eval`: search an index with evaluation queries and compute metrics (over ``synrank.evaluate.run``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from synrank.cli.common import info
from synrank.cli.options import arg, default_of, opt, uses_config
from synrank.config import from_mapping
from synrank.evaluate.stage import EvalConfig as C


def register(app: typer.Typer) -> None:
    @app.command("eval")
    @uses_config(C)
    def eval_cmd(
        index: Annotated[Path, arg(C, "index")],
        dataset: Annotated[str | None, opt(C, "dataset", "--dataset", "-d")] = default_of(C, "dataset"),
        split: Annotated[str, opt(C, "split")] = default_of(C, "split"),
        queries: Annotated[str | None, opt(C, "queries")] = default_of(C, "queries"),
        qrels: Annotated[str | None, opt(C, "qrels")] = default_of(C, "qrels"),
        out: Annotated[Path | None, opt(C, "out", "--out", "-o")] = default_of(C, "out"),
        run_out: Annotated[Path | None, opt(C, "run_out")] = default_of(C, "run_out"),
        metrics: Annotated[str, opt(C, "metrics")] = default_of(C, "metrics"),
        k: Annotated[int, opt(C, "k")] = default_of(C, "k"),
        rel_level: Annotated[int, opt(C, "rel_level")] = default_of(C, "rel_level"),
        model: Annotated[str | None, opt(C, "model", "--model", "-m")] = default_of(C, "model"),
        query_prefix: Annotated[str, opt(C, "query_prefix")] = default_of(C, "query_prefix"),
        nprobe: Annotated[int, opt(C, "nprobe")] = default_of(C, "nprobe"),
        ef_search: Annotated[int, opt(C, "ef_search")] = default_of(C, "ef_search"),
        run_tag: Annotated[str, opt(C, "run_tag")] = default_of(C, "run_tag"),
        device: Annotated[str, opt(C, "device")] = default_of(C, "device"),
        dtype: Annotated[str, opt(C, "dtype")] = default_of(C, "dtype"),
        threads: Annotated[int, opt(C, "threads")] = default_of(C, "threads"),
        seed: Annotated[int, opt(C, "seed")] = default_of(C, "seed"),
        trust_remote_code: Annotated[bool, opt(C, "trust_remote_code")] = default_of(C, "trust_remote_code"),
    ) -> None:
        """Evaluate a dense index on judged queries: search, write the TREC run, compute metrics (pytrec_eval).

        Averages are over every judged query (queries without results count 0); judged queries with no text
        in the queries cannot be searched: they are left out, with a note. Graded qrels give graded nDCG.
        """
        from synrank.evaluate.report import metrics_table, print_table
        from synrank.evaluate.stage import run

        result = run(from_mapping(C, locals()), info=info)
        print_table(metrics_table(f"{result.dataset} — {result.model}", result.aggregate, result.num_queries))
        if result.out is None:
            typer.echo(json.dumps({"aggregate": result.aggregate, "num_queries": result.num_queries, "dataset": result.dataset}))
