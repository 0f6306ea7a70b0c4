"""Few-shot examples for query generation, sampled per prompt (as in the listwise-distillation paper,
where each prompt shows a few random example pairs so queries vary in style).

File: JSONL, one example a line: ``{"passage": ..., "query": ...}`` (``text``/``doc`` for the passage),
optional ``"type"`` to use the example only for that query type (untyped examples serve every type).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

from synrank.errors import InputError
from synrank.formats.io import display_name, iter_jsonl, require_field


@dataclass(frozen=True)
class Example:
    passage: str
    query: str
    type: str | None = None


def read_examples(path: str | Path) -> list[Example]:
    name = display_name(path)
    out: list[Example] = []
    for lineno, obj in iter_jsonl(path):
        passage = require_field(obj, ("passage", "text", "doc"), path=name, lineno=lineno, what="example passage")
        query = require_field(obj, ("query", "question"), path=name, lineno=lineno, what="example query")
        qtype = obj.get("type")
        if not isinstance(passage, str) or not isinstance(query, str) or not passage.strip() or not query.strip():
            raise InputError("example passage and query must be non-empty strings", path=name, line=lineno)
        if qtype is not None and not isinstance(qtype, str):
            raise InputError("example type must be a string", path=name, line=lineno)
        out.append(Example(" ".join(passage.split()), " ".join(query.split()), qtype))
    if not out:
        raise InputError("no examples found (empty file)", path=name)
    return out


def sample_examples(examples: list[Example], qtype: str, k: int, key: str, seed: int) -> list[Example]:
    """Up to ``k`` examples for ``qtype`` chosen by a generator seeded by (seed, key): reproducible per prompt."""
    pool = [e for e in examples if e.type in (None, qtype)]
    if not pool or k <= 0:
        return []
    h = int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "big")
    return random.Random(h).sample(pool, min(k, len(pool)))


def format_examples(chosen: list[Example], max_chars: int = 600) -> str:
    """Rendered for the ``{{examples}}`` placeholder; empty when there are none."""
    if not chosen:
        return ""
    parts = ["Examples of passages and good queries:"]
    for e in chosen:
        passage = e.passage if len(e.passage) <= max_chars else e.passage[:max_chars].rsplit(" ", 1)[0] + " ..."
        parts.append(f"Passage: {passage}\nQuery: {e.query}")
    return "\n\n".join(parts) + "\n\nNow your turn.\n"
