"""Queries in, candidate records out.

A candidate record is ``{"query_id", "query", "candidates": [{"doc_id", "score", "rank"}], "source_doc_id"?}``.
``source_doc_id`` comes from ``generate --task queries`` output (the passage a synthetic query was written
from) and is carried through so ``score`` can apply the source-passage filters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synrank.formats.io import STDIN, iter_jsonl
from synrank.formats.queries import read_queries


@dataclass(frozen=True)
class QueryRecord:
    query_id: str
    text: str
    source_doc_id: str | None = None


def _is_jsonl_file(path: Path) -> bool:
    if {".jsonl", ".json"} & set(path.suffixes):
        return True
    if {".tsv", ".txt"} & set(path.suffixes):
        return False
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.strip():
                return line.lstrip().startswith("{")
    return False


def read_query_records(path: str | Path) -> list[QueryRecord]:
    """Read queries (TSV, JSONL, BEIR folder) with their ``source_doc_id`` when the JSONL has one.

    Validation (ids, text, duplicates, file:line errors) is :func:`synrank.formats.read_queries`'s; a
    second cheap pass over JSONL picks up the source ids. Stdin cannot be read twice, so source ids are
    not carried from ``-`` (write the queries to a file for that).
    """
    queries = read_queries(path)
    sources: dict[str, str] = {}
    p = Path(str(path))
    if str(path) != STDIN:
        if p.is_dir():
            p = p / "queries.jsonl"
        if _is_jsonl_file(p):
            for _lineno, obj in iter_jsonl(p):
                src = obj.get("source_doc_id")
                qid = next((obj[k] for k in ("_id", "query_id", "qid", "id") if obj.get(k) is not None), None)
                if src is not None and qid is not None:
                    sources[str(qid)] = str(src)
    return [QueryRecord(qid, text, sources.get(qid)) for qid, text in queries.items()]


def candidate_record(query: QueryRecord, hits: list[tuple[str, float]]) -> dict[str, Any]:
    """One output record; ``hits`` must already be sorted best first."""
    rec: dict[str, Any] = {
        "query_id": query.query_id,
        "query": query.text,
        "candidates": [{"doc_id": d, "score": round(float(s), 6), "rank": r} for r, (d, s) in enumerate(hits, start=1)],
    }
    if query.source_doc_id is not None:
        rec["source_doc_id"] = query.source_doc_id
    return rec
