"""Few-shot examples for query generation, sampled per prompt (as in the listwise-distillation paper,
where each prompt shows three random example pairs so queries vary in style).

Files, one example a line:

- JSONL: ``{"passage": ..., "query": ...}`` (``text``/``doc`` for the passage, ``question`` for the query),
  optional ``"type"`` to use the example only for that query type (untyped examples serve every type);
- TSV: ``query<TAB>passage`` (the column order of MS MARCO's and the CADeT reference's example files).

``--examples FILE`` reads a file as above; ``--examples TYPE=FILE`` (repeatable) gives the examples of one
type, whatever their ``type`` field says. A type the user gives no examples for uses synrank's packaged
examples for it (``templates/examples.jsonl``, written for synrank, licence-safe), if there are any.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from synrank.errors import InputError
from synrank.formats.io import display_name, iter_lines, parse_json_line, require_field


@dataclass(frozen=True)
class Example:
    passage: str
    query: str
    type: str | None = None


def _is_jsonl(path: str | Path, first_line: str) -> bool:
    return str(path).endswith((".jsonl", ".jsonl.gz", ".json")) or first_line.lstrip().startswith("{")


def read_examples(path: str | Path, *, qtype: str | None = None) -> list[Example]:
    """Examples from a JSONL or TSV file; ``qtype`` types every example of the file."""
    name = display_name(path)
    out: list[Example] = []
    jsonl: bool | None = None
    for lineno, line in iter_lines(path):
        if jsonl is None:
            jsonl = _is_jsonl(path, line)
        if jsonl:
            obj = parse_json_line(line, path=name, lineno=lineno)
            passage = require_field(obj, ("passage", "text", "doc"), path=name, lineno=lineno, what="example passage")
            query = require_field(obj, ("query", "question"), path=name, lineno=lineno, what="example query")
            etype = obj.get("type")
        else:
            cols = line.split("\t")
            if len(cols) != 2:
                raise InputError(f"expected 2 tab-separated columns (query, passage), got {len(cols)}", path=name, line=lineno)
            query, passage = cols
            etype = None
        if not isinstance(passage, str) or not isinstance(query, str) or not passage.strip() or not query.strip():
            raise InputError("example passage and query must be non-empty strings", path=name, line=lineno)
        if etype is not None and not isinstance(etype, str):
            raise InputError("example type must be a string", path=name, line=lineno)
        out.append(Example(" ".join(passage.split()), " ".join(query.split()), qtype or etype))
    if not out:
        raise InputError("no examples found (empty file)", path=name)
    return out


def packaged_examples() -> list[Example]:
    """synrank's own typed examples for the packaged query types (written for synrank, not taken from a dataset)."""
    path = resources.files("synrank.generate") / "templates" / "examples.jsonl"
    with resources.as_file(path) as p:
        return read_examples(p)


def retype(examples: list[Example], qtype: str) -> list[Example]:
    return [replace(e, type=qtype) for e in examples]


def sample_examples(examples: list[Example], qtype: str, k: int, key: str, seed: int) -> list[Example]:
    """Up to ``k`` examples for ``qtype`` chosen by a generator seeded by (seed, key): reproducible per prompt."""
    pool = [e for e in examples if e.type in (None, qtype)]
    if not pool or k <= 0:
        return []
    h = int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "big")
    return random.Random(h).sample(pool, min(k, len(pool)))


def format_examples(chosen: list[Example], max_chars: int = 600, *, label: str = "Query") -> str:
    """Rendered for the ``{{examples}}`` placeholder; empty when there are none. ``label`` names the answer
    the way the template asks for it ("Claim", "Title", ...)."""
    if not chosen:
        return ""
    parts = ["Examples of passages and good queries:"]
    for e in chosen:
        passage = e.passage if len(e.passage) <= max_chars else e.passage[:max_chars].rsplit(" ", 1)[0] + " ..."
        parts.append(f"Passage: {passage}\n{label}: {e.query}")
    return "\n\n".join(parts) + "\n\nNow your turn.\n"
