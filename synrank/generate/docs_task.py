"""Graded synthetic documents (SyCL): for each real query, passages at levels ``levels-1 .. 0``.

One output record per query::

    {"query_id", "query", "documents": [{"doc_id", "level", "text"}, ...], "meta": {...}}

``doc_id`` is ``<query_id>-L<level>-<index>``: unique, and stable across runs and shards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from synrank.generate.engine import Slot, SlotResult
from synrank.generate.levels import scale_text
from synrank.generate.templates import Template


@dataclass(frozen=True)
class DocsTask:
    template: Template
    levels: int
    docs_per_level: int
    definitions: dict[int, str]

    name = "docs"

    def doc_id(self, query_id: str, level: int, index: int) -> str:
        return f"{query_id}-L{level}-{index}"

    def slots(self, query_id: str, query: str) -> list[Slot]:
        scale = scale_text(self.definitions)
        out = []
        for level in range(self.levels - 1, -1, -1):
            for index in range(self.docs_per_level):
                values = {
                    "query": query,
                    "level": str(level),
                    "level_definition": self.definitions[level],
                    "scale": scale,
                    "max_level": str(self.levels - 1),
                    "index": str(index),
                }
                out.append(Slot(query_id, self.doc_id(query_id, level, index), self.template, values, {"level": level, "index": index}))
        return out

    def record(self, query_id: str, query: str, results: list[SlotResult], meta: dict[str, Any]) -> dict[str, Any] | None:
        """The query's record, or None when every passage was rejected (nothing to train on)."""
        docs = [
            {"doc_id": r.slot.slot_id, "level": r.slot.info["level"], "text": r.text}
            for r in results
            if r.text is not None
        ]
        if not docs:
            return None
        rejected = sum(1 for r in results if r.text is None)
        return {
            "query_id": query_id,
            "query": query,
            "documents": docs,
            "meta": {**meta, "rejected": rejected, "attempts": sum(r.attempts for r in results)},
        }
