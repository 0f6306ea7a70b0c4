"""Query files: ``qid<TAB>text`` TSV (MS MARCO/TREC style, optional header), JSONL with an id and a text
field (BEIR ``queries.jsonl``: ``_id``/``text``; also ``query_id``/``query``), or a BEIR folder."""

from __future__ import annotations

from pathlib import Path

from synrank.errors import InputError
from synrank.formats.io import STDIN, check_id, display_name, iter_lines, parse_json_line, require_field

ID_FIELDS = ("_id", "query_id", "qid", "id")
TEXT_FIELDS = ("text", "query", "question")
_TSV_HEADERS = {("qid", "query"), ("query-id", "text"), ("query_id", "query"), ("id", "text"), ("qid", "text"), ("query_id", "text")}


def _is_jsonl(path: str | Path, first_line: str) -> bool:
    suffixes = Path(str(path)).suffixes
    if ".jsonl" in suffixes or ".json" in suffixes:
        return True
    if ".tsv" in suffixes or ".txt" in suffixes:
        return False
    return first_line.lstrip().startswith("{")


def read_queries(path: str | Path) -> dict[str, str]:
    """Read queries into an insertion-ordered ``{query_id: text}``."""
    p = Path(str(path))
    if str(path) != STDIN and p.is_dir():
        p = p / "queries.jsonl"
        path = p
    name = display_name(path)
    queries: dict[str, str] = {}
    fmt: str | None = None
    for lineno, line in iter_lines(path):
        if fmt is None:
            fmt = "jsonl" if _is_jsonl(path, line) else "tsv"
            if fmt == "tsv":
                cols = tuple(c.strip().lower() for c in line.split("\t"))
                if cols in _TSV_HEADERS:
                    continue
        if fmt == "jsonl":
            obj = parse_json_line(line, path=name, lineno=lineno)
            qid = check_id(require_field(obj, ID_FIELDS, path=name, lineno=lineno, what="query id"), "query id", path=name, lineno=lineno)
            text = require_field(obj, TEXT_FIELDS, path=name, lineno=lineno, what="query text")
        else:
            cols_ = line.split("\t")
            if len(cols_) != 2:
                raise InputError(
                    f"expected 2 tab-separated columns (query id, text), found {len(cols_)}", path=name, line=lineno
                )
            qid, text = check_id(cols_[0].strip(), "query id", path=name, lineno=lineno), cols_[1]
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"query {qid!r} has empty text", path=name, line=lineno)
        if qid in queries:
            raise InputError(f"duplicate query id {qid!r}", path=name, line=lineno)
        queries[qid] = text.strip()
    if not queries:
        raise InputError("no queries found (empty file)", path=name)
    return queries
