"""First-stage retrieval for candidate lists: BM25 (bm25s + PyStemmer) and dense search over a
``synrank index`` folder, writing one candidate record per query (or a TREC run)."""

from synrank.search.bm25 import BM25Config, BM25Index, load_or_build_bm25
from synrank.search.records import QueryRecord, candidate_record, read_query_records

__all__ = ["BM25Config", "BM25Index", "QueryRecord", "candidate_record", "load_or_build_bm25", "read_query_records"]
