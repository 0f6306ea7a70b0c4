"""`synrank score`: score candidate lists with teachers and apply the distillation filters.

The work is :func:`synrank.score.run`; defaults, help and checks come from :class:`synrank.score.ScoreConfig`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from synrank.cli.common import info
from synrank.cli.options import arg, default_of, opt, uses_config
from synrank.score.stage import ScoreConfig as C


def register(app: typer.Typer) -> None:
    @app.command("score")
    @uses_config(C)
    def score_cmd(
        inputs: Annotated[list[str], arg(C, "inputs")],
        teacher: Annotated[list[str], opt(C, "teacher", "--teacher", "-t")] = default_of(C, "teacher"),
        corpus: Annotated[str | None, opt(C, "corpus", "--corpus", "-c")] = default_of(C, "corpus"),
        queries: Annotated[str | None, opt(C, "queries", "--queries", "-q")] = default_of(C, "queries"),
        out: Annotated[Path | None, opt(C, "out", "--out", "-o")] = default_of(C, "out"),
        fuse: Annotated[str, opt(C, "fuse")] = default_of(C, "fuse"),
        rrf_k: Annotated[int, opt(C, "rrf_k")] = default_of(C, "rrf_k"),
        depth: Annotated[int, opt(C, "depth")] = default_of(C, "depth"),
        top: Annotated[int, opt(C, "top")] = default_of(C, "top"),
        student_input: Annotated[int, opt(C, "student_input")] = default_of(C, "student_input"),
        teacher_combine: Annotated[str, opt(C, "teacher_combine")] = default_of(C, "teacher_combine"),
        teacher_activation: Annotated[str, opt(C, "teacher_activation")] = default_of(C, "teacher_activation"),
        list_size: Annotated[int, opt(C, "list_size")] = default_of(C, "list_size"),
        min_list_size: Annotated[int | None, opt(C, "min_list_size")] = default_of(C, "min_list_size"),
        require_source_in_top: Annotated[int, opt(C, "require_source_in_top")] = default_of(C, "require_source_in_top"),
        source_in_top_scope: Annotated[str, opt(C, "source_in_top_scope")] = default_of(C, "source_in_top_scope"),
        require_source_top1: Annotated[bool, opt(C, "require_source_top1")] = default_of(C, "require_source_top1"),
        drop_bottom_pct: Annotated[float, opt(C, "drop_bottom_pct")] = default_of(C, "drop_bottom_pct"),
        drop_bottom_by: Annotated[str, opt(C, "drop_bottom_by")] = default_of(C, "drop_bottom_by"),
        normalize: Annotated[str, opt(C, "normalize")] = default_of(C, "normalize"),
        pct_low: Annotated[float, opt(C, "pct_low")] = default_of(C, "pct_low"),
        pct_high: Annotated[float, opt(C, "pct_high")] = default_of(C, "pct_high"),
        pct_stats: Annotated[str, opt(C, "pct_stats")] = default_of(C, "pct_stats"),
        stats_by: Annotated[str, opt(C, "stats_by")] = default_of(C, "stats_by"),
        monot5_score: Annotated[str, opt(C, "monot5_score")] = default_of(C, "monot5_score"),
        monot5_template: Annotated[str, opt(C, "monot5_template")] = default_of(C, "monot5_template"),
        monot5_tokens: Annotated[str, opt(C, "monot5_tokens")] = default_of(C, "monot5_tokens"),
        rankt5_template: Annotated[str, opt(C, "rankt5_template")] = default_of(C, "rankt5_template"),
        rankt5_token: Annotated[str, opt(C, "rankt5_token")] = default_of(C, "rankt5_token"),
        llm_levels: Annotated[int, opt(C, "llm_levels")] = default_of(C, "llm_levels"),
        query_prefix: Annotated[str, opt(C, "query_prefix")] = default_of(C, "query_prefix"),
        doc_prefix: Annotated[str, opt(C, "doc_prefix")] = default_of(C, "doc_prefix"),
        no_title: Annotated[bool, opt(C, "no_title")] = default_of(C, "no_title"),
        chunk: Annotated[int, opt(C, "chunk")] = default_of(C, "chunk"),
        batch_tokens: Annotated[int, opt(C, "batch_tokens")] = default_of(C, "batch_tokens"),
        max_batch_size: Annotated[int, opt(C, "max_batch_size")] = default_of(C, "max_batch_size"),
        max_length: Annotated[int, opt(C, "max_length")] = default_of(C, "max_length"),
        device: Annotated[str, opt(C, "device")] = default_of(C, "device"),
        dtype: Annotated[str, opt(C, "dtype")] = default_of(C, "dtype"),
        threads: Annotated[int, opt(C, "threads")] = default_of(C, "threads"),
        seed: Annotated[int, opt(C, "seed")] = default_of(C, "seed"),
        trust_remote_code: Annotated[bool, opt(C, "trust_remote_code")] = default_of(C, "trust_remote_code"),
        overwrite: Annotated[bool, opt(C, "overwrite")] = default_of(C, "overwrite"),
    ) -> None:
        """Score candidate lists with one or more teachers and write training lists.

        Fuses the inputs per query, fetches passage texts from --corpus, scores every (query, passage) pair,
        applies the optional filters of listwise distillation (CADeT's reference semantics by default) and
        prints how many queries each removed.
        Output records: {"query_id", "query", "candidates": [{"doc_id", "text", "score", "label"?}], "meta"}.
        """
        from synrank.config import from_mapping
        from synrank.score.stage import run

        result = run(from_mapping(C, locals()), info=info)
        summary = result.summary
        removed = ", ".join(f"{k}: {v:,}" for k, v in summary["removed"].items()) or "none"
        info(f"{summary['queries_in']:,} queries in, {summary['queries_out']:,} out; removed by filter: {removed}")
        if summary["queries_in"] and not summary["queries_out"]:
            info("warning: no query survived the filters; the output is empty (loosen --require-source-* or --drop-bottom-pct)")
        if result.out is not None:
            info(f"wrote {len(result.records):,} training lists to {result.out}")
