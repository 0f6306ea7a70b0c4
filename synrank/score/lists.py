"""Reading what ``score`` scores, and fusing several inputs into one candidate list per query.

Accepted inputs (detected per file):
- ``search`` output: ``{"query_id", "query", "candidates": [{"doc_id", "score"?, "rank"?, "text"?, "label"?}], "source_doc_id"?}``
  (``score`` output has the same shape and can be re-scored);
- ``generate --task docs`` output: ``{"query_id", "query", "documents": [{"doc_id", "level", "text"}], "meta"}``:
  each document's ``level`` becomes its ``label`` and its text is used as is;
- a TREC run (``qid Q0 docid rank score tag``), with query texts from ``--queries``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synrank.errors import ConfigError, InputError
from synrank.formats.io import display_name, iter_jsonl, iter_lines, require_field
from synrank.formats.runs import read_trec_run
from synrank.config import default_of
from synrank.score.filters import FilterConfig
from synrank.score.fusion import FUSIONS, RRF_K, fuse

# CADeT's candidate lists: the fused top-100, each retriever trained on its own candidates (input 1). Written
# once here; ScoreConfig takes them as its defaults.
TOP = 100
STUDENT_INPUT = 1


@dataclass
class Candidate:
    doc_id: str
    text: str | None = None
    label: float | int | None = None
    score: float | None = None  # first-stage score from the input file
    rank: int | None = None  # first-stage rank (after fusion when several inputs)


@dataclass
class QueryList:
    query_id: str
    query: str
    candidates: list[Candidate]
    source_doc_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    where: str = ""  # file:line of the record, for error messages
    query_type: str | None = None  # the `type` of a generated query (titles, claims, ...), when known


def _number(value: Any, what: str, *, path: str, lineno: int) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{what} must be a number, got {value!r}", path=path, line=lineno)
    return value


def first_nonblank(path: str | Path) -> str:
    for _n, line in iter_lines(path):
        return line
    raise InputError("empty input file", path=path)


def _parse_record(obj: dict[str, Any], *, path: str, lineno: int, queries: Mapping[str, str] | None) -> QueryList:
    qid = str(require_field(obj, ("query_id", "qid", "_id", "id"), path=path, lineno=lineno, what="query id"))
    query = obj.get("query")
    if query is None and queries is not None:
        query = queries.get(qid)
    if not isinstance(query, str) or not query.strip():
        raise InputError(f"query {qid!r} has no query text (field 'query', or pass --queries)", path=path, line=lineno)
    if "documents" in obj:  # generate --task docs
        items, kind = obj["documents"], "documents"
    elif "candidates" in obj:
        items, kind = obj["candidates"], "candidates"
    else:
        raise InputError("record has neither 'candidates' (search output) nor 'documents' (generate output)", path=path, line=lineno)
    if not isinstance(items, list):
        raise InputError(f"'{kind}' must be a list", path=path, line=lineno)
    cands: list[Candidate] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise InputError(f"{kind}[{i}] must be an object", path=path, line=lineno)
        if item.get("doc_id") is None:
            raise InputError(f"{kind}[{i}] has no doc_id", path=path, line=lineno)
        did = str(item["doc_id"])
        if did in seen:
            raise InputError(f"document {did!r} appears twice in the list of query {qid!r}", path=path, line=lineno)
        seen.add(did)
        text = item.get("text")
        if text is not None and (not isinstance(text, str) or not text.strip()):
            raise InputError(f"{kind}[{i}] ({did!r}) has empty or non-string text", path=path, line=lineno)
        if kind == "documents":
            if text is None:
                raise InputError(f"documents[{i}] ({did!r}) has no text", path=path, line=lineno)
            label = _number(require_field(item, ("level", "label"), path=path, lineno=lineno, what="level"), "level", path=path, lineno=lineno)
        else:
            label = _number(item.get("label"), "label", path=path, lineno=lineno)
        score = _number(item.get("score"), "score", path=path, lineno=lineno)
        rank = item.get("rank")
        if rank is not None and (isinstance(rank, bool) or not isinstance(rank, int) or rank < 1):
            raise InputError(f"{kind}[{i}] rank must be a positive integer, got {rank!r}", path=path, line=lineno)
        cands.append(Candidate(did, text, label, score, rank))
    src = obj.get("source_doc_id")
    if src is None and isinstance(obj.get("meta"), dict):
        src = obj["meta"].get("source_doc_id")
    meta = dict(obj["meta"]) if isinstance(obj.get("meta"), dict) else {}
    qtype = next((h[k] for h in (obj, meta) for k in ("query_type", "type") if h.get(k) is not None), None)
    return QueryList(
        qid, query.strip(), _first_stage_order(cands), None if src is None else str(src), meta, f"{path}:{lineno}", None if qtype is None else str(qtype)
    )


def _first_stage_order(cands: list[Candidate]) -> list[Candidate]:
    """Order a list best first: by rank when every candidate has one, else by score when all have one,
    else as written; then number the ranks 1..n."""
    if cands and all(c.rank is not None for c in cands):
        ordered = sorted(cands, key=lambda c: c.rank)  # type: ignore[arg-type, return-value]
    elif cands and all(c.score is not None for c in cands):
        ordered = sorted(cands, key=lambda c: -c.score)  # type: ignore[operator]  # stable: ties keep file order
    else:
        ordered = list(cands)
    for r, c in enumerate(ordered, start=1):
        c.rank = r
    return ordered


def read_lists(path: str | Path, queries: Mapping[str, str] | None = None) -> dict[str, QueryList]:
    """Read one input file into ``{query_id: QueryList}`` (file order)."""
    name = display_name(path)
    first = first_nonblank(path)
    out: dict[str, QueryList] = {}
    if first.lstrip().startswith("{"):
        for lineno, obj in iter_jsonl(path):
            ql = _parse_record(obj, path=name, lineno=lineno, queries=queries)
            if ql.query_id in out:
                raise InputError(f"duplicate query id {ql.query_id!r}", path=name, line=lineno)
            out[ql.query_id] = ql
        return out
    run = read_trec_run(path)
    if queries is None:
        raise ConfigError(f"{name} is a TREC run: its query texts are needed (a queries file)", setting="queries")
    for qid, docs in run.items():
        if qid not in queries:
            raise InputError(f"query {qid!r} of the run is not in --queries", path=name)
        cands = [Candidate(d, score=s) for d, s in docs.items()]
        out[qid] = QueryList(qid, queries[qid], _first_stage_order(cands), where=name)
    return out


def fuse_inputs(
    inputs: list[dict[str, QueryList]], method: str = "rrf", k: int = 60, depth: int = 0, top: int = 0
) -> list[QueryList]:
    """Merge several inputs per query: fused first-stage ranking (one input: its own order), text,
    labels and source id taken from whichever input has them. ``depth`` cuts each input list before
    fusion, ``top`` the fused list (0 = no cut)."""
    order: dict[str, None] = {}
    for inp in inputs:
        for qid in inp:
            order.setdefault(qid, None)
    result: list[QueryList] = []
    for qid in order:
        lists = [inp[qid] for inp in inputs if qid in inp]
        cut = [ql.candidates[:depth] if depth > 0 else ql.candidates for ql in lists]
        by_id: dict[str, Candidate] = {}
        for cands in cut:
            for c in cands:
                have = by_id.get(c.doc_id)
                if have is None:
                    by_id[c.doc_id] = Candidate(c.doc_id, c.text, c.label, c.score, c.rank)
                else:
                    have.text = have.text if have.text is not None else c.text
                    have.label = have.label if have.label is not None else c.label
        if len(lists) == 1:
            ranked = [(c.doc_id, c.score) for c in cut[0]]
        else:
            scores = None
            if method != "rrf":
                scores = [None if any(c.score is None for c in cands) else {c.doc_id: float(c.score) for c in cands} for cands in cut]  # type: ignore[arg-type]
            ranked = fuse([[c.doc_id for c in cands] for cands in cut], scores, method, k)
        if top > 0:
            ranked = ranked[:top]
        cands_out = []
        for r, (did, s) in enumerate(ranked, start=1):
            c = by_id[did]
            cands_out.append(Candidate(did, c.text, c.label, None if s is None else float(s), r))
        base = lists[0]
        src = next((ql.source_doc_id for ql in lists if ql.source_doc_id is not None), None)
        meta = {}
        for ql in reversed(lists):
            meta.update(ql.meta)
        qtype = next((ql.query_type for ql in lists if ql.query_type is not None), None)
        result.append(QueryList(qid, base.query, cands_out, src, meta, base.where, qtype))
    return result


def select_lists(
    inputs: list[dict[str, QueryList]],
    *,
    method: str = FUSIONS[0],
    k: int = RRF_K,
    depth: int = 0,
    top: int = TOP,
    require_source_in_top: int = default_of(FilterConfig, "require_source_in_top"),
    source_in_top_scope: str = default_of(FilterConfig, "source_in_top_scope"),
    student_input: int = STUDENT_INPUT,
) -> tuple[list[QueryList], dict[str, int]]:
    """The candidate list of every query, as the CADeT reference builds them; returns the lists and how
    many queries each step removed.

    - ``require_source_in_top=K`` with ``source_in_top_scope="per-input"``: each input's list of a query
      is kept only if the query's source passage is within that input's own top K (the reference filters
      each retriever's run before fusing them, ``query_generation/retriever_filtering_step.py``); a
      query no input keeps is removed. (``"fused"``: left to :func:`synrank.score.filters.apply_filters`.)
    - ``student_input=N`` (1-based): the lists keep only input N's candidates and queries, as the
      reference trains each retriever's student on that retriever's own candidates
      (``reranker/outputs/split_by_retriever.py``); 0 keeps the fused list of every input.
    - the rest is :func:`fuse_inputs` (``depth``, ``top``, fusion ``method``).
    """
    if student_input < 0 or student_input > len(inputs):
        raise ConfigError(f"there are {len(inputs)} inputs; use 1..{len(inputs)}, or 0 for the fused list", setting="student_input")
    removed: dict[str, int] = {}
    order: dict[str, None] = {}
    sources: dict[str, str] = {}
    for inp in inputs:
        for qid, ql in inp.items():
            order.setdefault(qid, None)
            if ql.source_doc_id is not None:
                sources.setdefault(qid, ql.source_doc_id)
    kept = inputs
    if require_source_in_top > 0 and source_in_top_scope == "per-input":
        kk = require_source_in_top
        kept = [
            {qid: ql for qid, ql in inp.items() if qid in sources and any(c.doc_id == sources[qid] for c in ql.candidates[:kk])}
            for inp in inputs
        ]
        pool = kept if student_input == 0 else [kept[student_input - 1]]
        before = order if student_input == 0 else inputs[student_input - 1]
        removed[f"source_not_in_top_{kk}"] = sum(1 for qid in before if not any(qid in inp for inp in pool))
    if student_input == 0 or len(inputs) == 1:
        return fuse_inputs([inp for inp in kept if inp], method=method, k=k, depth=depth, top=top), removed
    own = kept[student_input - 1]
    outside = sum(1 for qid in order if qid not in inputs[student_input - 1])
    if outside:
        removed[f"not_in_input_{student_input}"] = outside
    lists = fuse_inputs([own], method=method, k=k, depth=depth, top=top) if own else []
    # Text, labels, source ids and types may come from another input (as fuse_inputs merges them).
    for ql in lists:
        others = [inp[ql.query_id] for inp in inputs if ql.query_id in inp]
        ql.source_doc_id = ql.source_doc_id or sources.get(ql.query_id)
        ql.query_type = ql.query_type or next((o.query_type for o in others if o.query_type is not None), None)
        for o in others:
            ql.meta = {**o.meta, **ql.meta}
            by_id = {c.doc_id: c for c in o.candidates}
            for c in ql.candidates:
                other = by_id.get(c.doc_id)
                if other is not None:
                    c.text = c.text if c.text is not None else other.text
                    c.label = c.label if c.label is not None else other.label
    return lists, removed
