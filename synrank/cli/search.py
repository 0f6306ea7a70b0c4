"""`synrank search`: candidate lists for queries from a dense index or BM25 (over ``synrank.search.run``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from synrank.cli.common import info
from synrank.cli.options import arg, default_of, opt, uses_config
from synrank.config import from_mapping
from synrank.search.stage import SearchConfig as C


def register(app: typer.Typer) -> None:
    @app.command("search")
    @uses_config(C)
    def search_cmd(
        source: Annotated[str, arg(C, "source")],
        queries: Annotated[str, arg(C, "queries")],
        k: Annotated[int, opt(C, "k", "--k", "-k")] = default_of(C, "k"),
        bm25: Annotated[bool, opt(C, "bm25")] = default_of(C, "bm25"),
        out: Annotated[Path | None, opt(C, "out", "--out", "-o")] = default_of(C, "out"),
        format: Annotated[str, opt(C, "format")] = default_of(C, "format"),  # noqa: A002 - the --format option
        chunk: Annotated[int, opt(C, "chunk")] = default_of(C, "chunk"),
        model: Annotated[str | None, opt(C, "model", "--model", "-m")] = default_of(C, "model"),
        query_prefix: Annotated[str, opt(C, "query_prefix")] = default_of(C, "query_prefix"),
        nprobe: Annotated[int, opt(C, "nprobe")] = default_of(C, "nprobe"),
        ef_search: Annotated[int, opt(C, "ef_search")] = default_of(C, "ef_search"),
        batch_tokens: Annotated[int, opt(C, "batch_tokens")] = default_of(C, "batch_tokens"),
        k1: Annotated[float, opt(C, "k1")] = default_of(C, "k1"),
        b: Annotated[float, opt(C, "b")] = default_of(C, "b"),
        stemmer: Annotated[str, opt(C, "stemmer")] = default_of(C, "stemmer"),
        stopwords: Annotated[str, opt(C, "stopwords")] = default_of(C, "stopwords"),
        no_title: Annotated[bool, opt(C, "no_title")] = default_of(C, "no_title"),
        cache_dir: Annotated[Path | None, opt(C, "cache_dir")] = default_of(C, "cache_dir"),
        no_cache: Annotated[bool, opt(C, "no_cache")] = default_of(C, "no_cache"),
        device: Annotated[str, opt(C, "device")] = default_of(C, "device"),
        dtype: Annotated[str, opt(C, "dtype")] = default_of(C, "dtype"),
        threads: Annotated[int, opt(C, "threads")] = default_of(C, "threads"),
        trust_remote_code: Annotated[bool, opt(C, "trust_remote_code")] = default_of(C, "trust_remote_code"),
        overwrite: Annotated[bool, opt(C, "overwrite")] = default_of(C, "overwrite"),
    ) -> None:
        """Retrieve the top K candidates per query from a dense index or with BM25.

        Writes one JSON record per query, {"query_id", "query", "candidates": [{"doc_id", "score", "rank"}],
        "source_doc_id"?}, or a TREC run. With --out (JSONL) the run is resumable: re-run the same command
        after an interruption and finished queries are skipped.
        """
        from synrank.search.stage import run

        result = run(from_mapping(C, locals()), info=info)
        if result.out is not None:
            info(f"wrote candidates for {result.queries:,} queries to {result.out}")
