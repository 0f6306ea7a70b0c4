"""Join shard outputs into one file, checking that no record appears twice.

Plain ``cat`` works too; this also refuses duplicates (a shard run twice with different ``--shard``
values) and writes atomically.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from synrank.errors import InputError
from synrank.formats.io import display_name, iter_jsonl


def record_key(obj: dict[str, Any], *, path: str, lineno: int) -> str:
    if "documents" in obj and "query_id" in obj:
        return f"docs:{obj['query_id']}"
    if "query_id" in obj and "source_doc_id" in obj:
        return f"queries:{obj['query_id']}"
    if "slot" in obj and "task" in obj:
        return f"reject:{obj['task']}:{obj['slot']}"
    raise InputError("not a synrank generate record (no query_id/documents or query_id/source_doc_id)", path=path, line=lineno)


def iter_merged(paths: Sequence[str | Path]) -> Iterator[dict[str, Any]]:
    seen: dict[str, str] = {}
    for path in paths:
        name = display_name(path)
        for lineno, obj in iter_jsonl(path):
            key = record_key(obj, path=name, lineno=lineno)
            if key in seen:
                raise InputError(f"record {key.split(':', 1)[1]!r} already in {seen[key]}", path=name, line=lineno)
            seen[key] = f"{name}:{lineno}"
            yield obj
