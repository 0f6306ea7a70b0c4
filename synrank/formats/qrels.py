"""Relevance judgments: TREC qrels (``qid 0 docid rel``), BEIR TSV (header ``query-id corpus-id score``),
or JSONL (``query_id``, ``doc_id``, ``relevance``/``score``/``label``). Graded levels are kept as integers."""

from __future__ import annotations

from pathlib import Path

from synrank.errors import InputError
from synrank.formats.io import atomic_write, check_id, display_name, iter_lines, parse_json_line, parse_number, require_field

Qrels = dict[str, dict[str, int]]

# Real collections grade within -2..4. pytrec_eval failed on 1e20 (a C int overflow) and took minutes or
# gigabytes on grades near 2**31, so a grade far outside is a typo or a score column: refused at its line.
GRADE_MIN, GRADE_MAX = -1000, 1000


def _to_int(value: str | int | float, *, path: str, lineno: int) -> int:
    f = parse_number(value, "relevance", path=path, lineno=lineno)
    if not GRADE_MIN <= f <= GRADE_MAX:
        raise InputError(f"relevance {value!r} is outside the grades synrank accepts ({GRADE_MIN}..{GRADE_MAX})", path=path, line=lineno)
    if f != int(f):
        raise InputError(f"relevance {value!r} is not an integer grade", path=path, line=lineno)
    return int(f)


def read_qrels(path: str | Path) -> Qrels:
    """Read qrels into ``{query_id: {doc_id: grade}}``; duplicate (query, doc) pairs are an error."""
    name = display_name(path)
    qrels: Qrels = {}
    fmt: str | None = None
    n = 0
    for lineno, line in iter_lines(path):
        if fmt is None:
            if line.lstrip().startswith("{"):
                fmt = "jsonl"
            else:
                cols = line.split("\t") if "\t" in line else line.split()
                if [c.strip().lower() for c in cols][:2] in (["query-id", "corpus-id"], ["query_id", "doc_id"], ["qid", "docid"]):
                    fmt = "beir"
                    continue
                fmt = "trec" if len(cols) == 4 else "beir"
        if fmt == "jsonl":
            obj = parse_json_line(line, path=name, lineno=lineno)
            qid = require_field(obj, ("query_id", "query-id", "qid"), path=name, lineno=lineno, what="query id")
            did = require_field(obj, ("doc_id", "corpus-id", "docid"), path=name, lineno=lineno, what="doc id")
            rel = _to_int(
                require_field(obj, ("relevance", "score", "label", "rel"), path=name, lineno=lineno, what="relevance"),
                path=name,
                lineno=lineno,
            )
        elif fmt == "trec":
            cols = line.split()
            if len(cols) != 4:
                raise InputError(
                    f"expected 4 columns (qid iter docid rel) in TREC qrels, found {len(cols)}", path=name, line=lineno
                )
            qid, did, rel = cols[0], cols[2], _to_int(cols[3], path=name, lineno=lineno)
        else:
            cols = line.split("\t") if "\t" in line else line.split()
            if len(cols) != 3:
                raise InputError(
                    f"expected 3 columns (query-id corpus-id score) in BEIR qrels, found {len(cols)}",
                    path=name,
                    line=lineno,
                )
            qid, did, rel = cols[0].strip(), cols[1].strip(), _to_int(cols[2], path=name, lineno=lineno)
        qid = check_id(qid, "query id", path=name, lineno=lineno)
        did = check_id(did, "document id", path=name, lineno=lineno)
        judged = qrels.setdefault(qid, {})
        if did in judged:
            raise InputError(f"duplicate judgment for query {qid!r}, document {did!r}", path=name, line=lineno)
        judged[did] = rel
        n += 1
    if n == 0:
        raise InputError("no judgments found (empty file)", path=name)
    return qrels


def write_qrels(qrels: Qrels, path: str | Path) -> None:
    """Write TREC-format qrels atomically."""
    with atomic_write(Path(path)) as fh:
        for qid, docs in qrels.items():
            for did, rel in docs.items():
                fh.write(f"{qid} 0 {did} {rel}\n")
