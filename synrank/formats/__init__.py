"""Plain-file records and their readers/writers.

Every reader raises :class:`synrank.errors.InputError` naming the file and line of the first problem.
"""

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
