"""First-stage retrieval for candidate lists: BM25 (bm25s + PyStemmer) and dense search over a
``synrank index`` folder, writing one candidate record per query (or a TREC run).

The stage: ``synrank.search.run(SearchConfig(source=..., queries=..., bm25=True, out=...))``. Names are
imported on first use, so reading the config (as the CLI does at start-up) loads no NumPy.
"""

from __future__ import annotations

from synrank._lazy import lazy_exports

_WHERE = {
    "run": "stage",
    "SearchConfig": "stage",
    "SearchResult": "stage",
    "open_searcher": "stage",
    "BM25Config": "settings",
    "BM25Index": "bm25",
    "load_or_build_bm25": "bm25",
    "QueryRecord": "records",
    "candidate_record": "records",
    "read_query_records": "records",
}

__all__ = sorted(_WHERE)

__getattr__ = lazy_exports("synrank.search", _WHERE)
