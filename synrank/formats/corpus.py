"""Corpus files: a BEIR folder (``corpus.jsonl``), a JSONL file (``_id``/``doc_id``/``id``, optional
``title``, ``text``/``contents``), a TSV file (``id<TAB>text`` or ``id<TAB>title<TAB>text``), or stdin.

Reading streams: documents are yielded one at a time so callers can encode in chunks.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from synrank.errors import InputError, InputWarning
from synrank.formats.io import STDIN, check_id, display_name, iter_lines, parse_json_line, require_field

ID_FIELDS = ("_id", "doc_id", "docid", "id", "pid")
TEXT_FIELDS = ("text", "contents", "body", "passage")
_TSV_HEADERS = {("id", "text"), ("docid", "text"), ("doc_id", "text"), ("id", "title", "text"), ("pid", "passage"), ("_id", "title", "text"), ("doc_id", "title", "text")}


@dataclass(frozen=True)
class Document:
    doc_id: str
    text: str
    title: str = ""

    @property
    def empty(self) -> bool:
        """No title and no text: kept (real collections have them), it simply has nothing to match."""
        return not self.text and not self.title


def doc_text(doc: Document, use_title: bool = True) -> str:
    """The text a retriever sees: ``title + " " + text`` (the BEIR/MTEB convention) unless disabled."""
    if use_title and doc.title:
        return f"{doc.title} {doc.text}".strip()
    return doc.text


def corpus_file(path: str | Path) -> str | Path:
    if str(path) == STDIN:
        return STDIN
    p = Path(path)
    if p.is_dir():
        for name in ("corpus.jsonl", "corpus.jsonl.gz", "corpus.tsv"):
            if (p / name).exists():
                return p / name
        raise InputError("folder has no corpus.jsonl (expected a BEIR dataset folder)", path=p)
    return p


def iter_corpus(path: str | Path) -> Iterator[Document]:
    """Stream documents, checking ids are present, unique and free of whitespace.

    Documents with an empty title and text are kept (test collections contain them, and BEIR and pyserini
    keep them); once the file is read, one :class:`InputWarning` gives their count and first ids.
    """
    src = corpus_file(path)
    name = display_name(src)
    seen: set[str] = set()
    fmt: str | None = None
    ncols: int | None = None
    n = 0
    empty: list[str] = []
    for lineno, line in iter_lines(src):
        if fmt is None:
            suffixes = Path(str(src)).suffixes
            if ".jsonl" in suffixes or ".json" in suffixes:
                fmt = "jsonl"
            elif ".tsv" in suffixes:
                fmt = "tsv"
            else:
                fmt = "jsonl" if line.lstrip().startswith("{") else "tsv"
            if fmt == "tsv" and tuple(c.strip().lower() for c in line.split("\t")) in _TSV_HEADERS:
                ncols = len(line.split("\t"))
                continue
        if fmt == "jsonl":
            obj = parse_json_line(line, path=name, lineno=lineno)
            doc_id = check_id(require_field(obj, ID_FIELDS, path=name, lineno=lineno, what="document id"), "document id", path=name, lineno=lineno)
            text = require_field(obj, TEXT_FIELDS, path=name, lineno=lineno, what="document text")
            # Only a missing or null title means "no title": 0, false or [] are as wrong as 7.
            title = obj.get("title")
            title = "" if title is None else title
            if not isinstance(text, str) or not isinstance(title, str):
                raise InputError("document text and title must be strings", path=name, line=lineno)
        else:
            cols = line.split("\t")
            if ncols is None:
                ncols = len(cols)
                if ncols not in (2, 3):
                    raise InputError(
                        f"expected 2 (id, text) or 3 (id, title, text) tab-separated columns, found {ncols}",
                        path=name,
                        line=lineno,
                    )
            if len(cols) != ncols:
                raise InputError(f"expected {ncols} tab-separated columns, found {len(cols)}", path=name, line=lineno)
            doc_id = check_id(cols[0].strip(), "document id", path=name, lineno=lineno)
            title, text = (cols[1], cols[2]) if ncols == 3 else ("", cols[1])
        if not text.strip() and not title.strip():
            empty.append(doc_id)
        if doc_id in seen:
            raise InputError(f"duplicate document id {doc_id!r}", path=name, line=lineno)
        seen.add(doc_id)
        n += 1
        yield Document(doc_id=doc_id, text=text.strip(), title=title.strip())
    if n == 0:
        raise InputError("no documents found (empty file)", path=name)
    if empty:
        first = ", ".join(empty[:5]) + (", ..." if len(empty) > 5 else "")
        warnings.warn(
            f"{name}: {len(empty)} document(s) have an empty title and text (ids {first}); "
            "they are kept as empty documents with nothing to match",
            InputWarning,
            stacklevel=2,
        )


def read_corpus(path: str | Path) -> dict[str, Document]:
    """Read a whole corpus into memory (for lookups by id; use :func:`iter_corpus` to stream)."""
    return {d.doc_id: d for d in iter_corpus(path)}
