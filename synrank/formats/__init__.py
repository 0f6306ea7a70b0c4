"""Plain-file records and their readers/writers.

Every reader raises :class:`synrank.errors.InputError` naming the file and line of the first problem.
The ``check`` stage is :mod:`synrank.formats.check` (``synrank.formats.check.run``), loaded on first use.
"""

import importlib
from typing import Any

from synrank.formats.corpus import Document, doc_text, iter_corpus, read_corpus
from synrank.formats.manifest import make_manifest, manifest_path_for, read_manifest, write_manifest
from synrank.formats.io import AppendJsonlWriter, atomic_dir, atomic_write, iter_jsonl, open_text, write_jsonl
from synrank.formats.qrels import read_qrels, write_qrels
from synrank.formats.queries import read_queries
from synrank.formats.runs import read_trec_run, write_trec_run

__all__ = [
    "AppendJsonlWriter",
    "Document",
    "atomic_dir",
    "atomic_write",
    "doc_text",
    "iter_corpus",
    "iter_jsonl",
    "make_manifest",
    "manifest_path_for",
    "read_manifest",
    "write_manifest",
    "open_text",
    "read_corpus",
    "read_qrels",
    "read_queries",
    "read_trec_run",
    "write_jsonl",
    "write_qrels",
    "write_trec_run",
]


def __getattr__(name: str) -> Any:
    # ``synrank.formats.check`` (the check stage) without an explicit import, as for the other stages.
    if name == "check":
        return importlib.import_module("synrank.formats.check")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
