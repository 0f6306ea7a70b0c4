"""TREC run files: ``qid Q0 docid rank score tag``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from synrank.errors import InputError
from synrank.formats.io import atomic_write, check_id, display_name, iter_jsonl, iter_lines, parse_json_line, parse_number, require_field

Run = dict[str, dict[str, float]]


def read_trec_run(path: str | Path) -> Run:
    """Read a run into ``{query_id: {doc_id: score}}``."""
    name = display_name(path)
    run: Run = {}
    for lineno, line in iter_lines(path):
        cols = line.split()
        if len(cols) != 6:
            raise InputError(
                f"expected 6 columns (qid Q0 docid rank score tag) in TREC run, found {len(cols)}", path=name, line=lineno
            )
        qid, _, did, _rank, score, _tag = cols
        value = parse_number(score, "score", path=name, lineno=lineno)
        docs = run.setdefault(qid, {})
        if did in docs:
            raise InputError(f"document {did!r} appears twice for query {qid!r}", path=name, line=lineno)
        docs[did] = value
    if not run:
        raise InputError("no results found (empty run file)", path=name)
    return run


def is_candidates_jsonl(path: str | Path) -> bool:
    """Whether the file's first record is a candidate list (``synrank search`` or ``score`` JSONL), as opposed
    to a TREC run or a one-object JSON file such as an eval results file."""
    for lineno, line in iter_lines(path):
        if not line.lstrip().startswith("{"):
            return False
        try:
            obj = parse_json_line(line, path=display_name(path), lineno=lineno)
        except InputError:  # the first line of a multi-line JSON object
            return False
        return "candidates" in obj
    raise InputError("empty input file", path=display_name(path))


def read_candidates_run(path: str | Path) -> Run:
    """``synrank search`` or ``score`` JSONL as a run: each candidate's ``score`` (a score list's teacher score),
    or 1/rank when a list has ranks only."""
    name = display_name(path)
    run: Run = {}
    for lineno, obj in iter_jsonl(path):
        qid = check_id(require_field(obj, ("query_id", "qid"), path=name, lineno=lineno, what="query id"), "query id", path=name, lineno=lineno)
        cands = obj.get("candidates")
        if not isinstance(cands, list):
            raise InputError("'candidates' must be a list", path=name, line=lineno)
        if qid in run:
            raise InputError(f"duplicate query id {qid!r}", path=name, line=lineno)
        docs = run[qid] = {}
        for i, c in enumerate(cands):
            if not isinstance(c, dict) or c.get("doc_id") is None:
                raise InputError(f"candidates[{i}] must be an object with a doc_id", path=name, line=lineno)
            did = check_id(c["doc_id"], "doc_id", path=name, lineno=lineno)
            if did in docs:
                raise InputError(f"document {did!r} appears twice for query {qid!r}", path=name, line=lineno)
            value = c.get("score")
            if value is None:
                rank = c.get("rank")
                value = 1.0 / rank if isinstance(rank, int) and not isinstance(rank, bool) and rank >= 1 else 1.0 / (i + 1)
            docs[did] = parse_number(value, "score", path=name, lineno=lineno)
    if not run:
        raise InputError("no results found (empty run file)", path=name)
    return run


def read_run(path: str | Path) -> Run:
    """A TREC run, or candidate lists (``synrank search`` / ``score`` JSONL)."""
    if is_candidates_jsonl(path):
        return read_candidates_run(path)
    for lineno, line in iter_lines(path):
        if line.lstrip().startswith("{"):  # JSON, but not candidate lists (e.g. generate output, an eval file)
            raise InputError("not a run: JSON without 'candidates' (runs are TREC files or search/score JSONL)", path=display_name(path), line=lineno)
        break
    return read_trec_run(path)


def write_trec_run(
    run: Mapping[str, Sequence[tuple[str, float]]] | Mapping[str, Mapping[str, float]],
    path: str | Path,
    tag: str = "synrank",
) -> None:
    """Write a run atomically, each query's documents sorted by descending score (ties by doc id)."""
    with atomic_write(Path(path)) as fh:
        for qid, docs in run.items():
            items = list(docs.items()) if isinstance(docs, Mapping) else list(docs)
            items.sort(key=lambda x: (-x[1], x[0]))
            for rank, (did, score) in enumerate(items, start=1):
                # Shortest repr that round-trips: rounding (e.g. to 6 decimals) would create ties, and
                # trec_eval breaks ties by doc id, so re-scoring the file would change the metrics.
                fh.write(f"{qid} Q0 {did} {rank} {float(score)!r} {tag}\n")
