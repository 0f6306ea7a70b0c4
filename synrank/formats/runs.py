"""TREC run files: ``qid Q0 docid rank score tag``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from synrank.errors import InputError
from synrank.formats.io import atomic_write, display_name, iter_lines, parse_number

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
