"""``score`` as a library: attach passage text, score every (query, passage) pair with the teachers,
combine them, and produce scored lists ready for :func:`synrank.score.filters.apply_filters`.

Scored lists are plain dicts (the records of ``<out>.scored.jsonl``):
``{"query_id", "query", "source_doc_id", "meta", "candidates": [{"doc_id", "text", "rank", "score",
"label"?, "teachers"?}]}`` with candidates sorted by combined teacher score, best first (ties: first-stage
rank), ``rank`` being the first-stage (fused) rank and ``teachers`` the raw score of each teacher when
there are several.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synrank.errors import ConfigError, InputError
from synrank.formats.corpus import doc_text, iter_corpus
from synrank.score.filters import query_type
from synrank.score.fusion import combine_teachers
from synrank.score.lists import QueryList
from synrank.score.teachers.base import Teacher


@dataclass
class ScoringOptions:
    """How :func:`score_lists` works (the stage's settings are :class:`synrank.score.stage.ScoreConfig`)."""

    combine: str = "mean"  # several teachers: mean (of per-query min-max) | rrf
    chunk_queries: int = 32  # lists scored (and appended to the output) together
    use_title: bool = True


def attach_text(lists: Sequence[QueryList], corpus: str | Path | None, use_title: bool = True) -> int:
    """Fill in the text of every candidate that has none from ``corpus`` (streamed; only the needed
    passages are kept in memory). Returns how many texts came from the corpus."""
    needed: dict[str, None] = {}
    for ql in lists:
        for c in ql.candidates:
            if c.text is None:
                needed.setdefault(c.doc_id, None)
    if not needed:
        return 0
    if corpus is None:
        first = next(ql for ql in lists if any(c.text is None for c in ql.candidates))
        raise ConfigError(f"candidates carry no passage text (first: query {first.query_id!r} at {first.where}): pass a corpus", setting="corpus")
    texts: dict[str, str] = {}
    for doc in iter_corpus(corpus):
        if doc.doc_id in needed:
            texts[doc.doc_id] = doc_text(doc, use_title)
    for ql in lists:
        for c in ql.candidates:
            if c.text is None:
                t = texts.get(c.doc_id)
                if t is None:
                    path, _, line = ql.where.rpartition(":")
                    raise InputError(
                        f"document {c.doc_id!r} (query {ql.query_id!r}) is not in the corpus {corpus}",
                        path=path or ql.where,
                        line=int(line) if line.isdigit() else None,
                    )
                c.text = t
    return len(needed)


def _scored_record(ql: QueryList, combined: list[float], raw: list[list[float]], names: list[str]) -> dict[str, Any]:
    cands = []
    for j, c in enumerate(ql.candidates):
        rec: dict[str, Any] = {"doc_id": c.doc_id, "text": c.text, "rank": c.rank, "score": float(combined[j])}
        if c.label is not None:
            rec["label"] = c.label
        if len(names) > 1:
            rec["teachers"] = {n: float(r[j]) for n, r in zip(names, raw)}
        cands.append(rec)
    cands.sort(key=lambda r: (-r["score"], r["rank"] if r["rank"] is not None else 0))
    rec = {"query_id": ql.query_id, "query": ql.query, "source_doc_id": ql.source_doc_id, "meta": ql.meta, "candidates": cands}
    if ql.query_type is not None:
        rec["query_type"] = ql.query_type
    return rec


def score_lists(
    lists: Sequence[QueryList],
    teachers: Sequence[Teacher],
    config: ScoringOptions,
    on_progress: Callable[[int], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield one scored record per list, in order, scoring ``config.chunk_queries`` lists per step.
    ``on_progress(n)`` counts teacher-pair scorings (total = pairs x teachers) as batches finish."""
    if not teachers:
        raise ConfigError("at least one teacher is needed", setting="teacher")
    names = [t.name for t in teachers]
    for start in range(0, len(lists), max(1, config.chunk_queries)):
        part = lists[start : start + config.chunk_queries]
        queries = [ql.query for ql in part for _c in ql.candidates]
        texts = [c.text or "" for ql in part for c in ql.candidates]
        ids = [c.doc_id for ql in part for c in ql.candidates]
        per_teacher = [t.score(queries, texts, ids, on_progress=on_progress) for t in teachers]
        offset = 0
        for ql in part:
            n = len(ql.candidates)
            raw = [[float(x) for x in s[offset : offset + n]] for s in per_teacher]
            combined = combine_teachers(raw, config.combine) if n else []
            offset += n
            yield _scored_record(ql, combined, raw, names)


def output_record(scored: dict[str, Any], teacher_names: list[str]) -> dict[str, Any]:
    """The training-list record users get: ``{"query_id", "query", "candidates": [{"doc_id", "text", "score",
    "label"?, "raw_score"?, "teachers"?}], "meta"}``."""
    cands = []
    for c in scored["candidates"]:
        rec = {"doc_id": c["doc_id"], "text": c["text"], "score": round(float(c["score"]), 6)}
        for key in ("label", "raw_score", "teachers"):
            if key in c:
                rec[key] = c[key]
        cands.append(rec)
    meta = dict(scored.get("meta") or {})
    if scored.get("source_doc_id") is not None:
        meta["source_doc_id"] = scored["source_doc_id"]
    qtype = query_type(scored)
    if qtype is not None and "type" not in meta:
        meta["query_type"] = qtype  # the groups of the per-type statistics, visible to the user
    meta["teacher"] = teacher_names if len(teacher_names) > 1 else teacher_names[0]
    if scored["candidates"]:
        top = scored["candidates"][0]
        meta["top_teacher_score"] = top.get("raw_score", top["score"])
    return {"query_id": scored["query_id"], "query": scored["query"], "candidates": cands, "meta": meta}
