"""`synrank search`: candidate lists for queries from a dense index or BM25 (over ``synrank.search.run``)."""

from __future__ import annotations

from typing import Any

import typer

from synrank.cli.common import info
from synrank.cli.options import config_command
from synrank.config import from_mapping
from synrank.search.stage import SearchConfig


def register(app: typer.Typer) -> None:
    @config_command(app, "search", SearchConfig)
    def search_cmd(settings: dict[str, Any]) -> None:
        """Retrieve the top K candidates per query from a dense index or with BM25.

        Writes one JSON record per query, {"query_id", "query", "candidates": [{"doc_id", "score", "rank"}],
        "source_doc_id"?}, or a TREC run. With --out (JSONL) the run is resumable: re-run the same command
        after an interruption and finished queries are skipped.
        """
        from synrank.search.stage import run

        result = run(from_mapping(SearchConfig, settings), progress=True)
        if result.out is not None:
            info(f"wrote candidates for {result.queries:,} queries to {result.out}")
