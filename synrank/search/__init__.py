"""First-stage retrieval for candidate lists: BM25 (bm25s + PyStemmer) and dense search over a
``synrank index`` folder, writing one candidate record per query (or a TREC run).

The stage: ``synrank.search.run(SearchConfig(source=..., queries=..., bm25=True, out=...))``. Names are
imported on first use, so reading the config (as the CLI does at start-up) loads no NumPy.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "run": "stage",
    "SearchConfig": "stage",
    "SearchResult": "stage",
    "open_searcher": "stage",
    "BM25Config": "bm25",
    "BM25Index": "bm25",
    "load_or_build_bm25": "bm25",
    "QueryRecord": "records",
    "candidate_record": "records",
    "read_query_records": "records",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'synrank.search' has no attribute {name!r}")
    return getattr(importlib.import_module(f"synrank.search.{module}"), name)
