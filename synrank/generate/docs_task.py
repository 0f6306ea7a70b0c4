"""Graded synthetic documents (SyCL): for each real query, passages at levels ``levels-1 .. 0``.

One output record per query::

    {"query_id", "query", "documents": [{"doc_id", "level", "text"}, ...], "meta": {...}}

``doc_id`` is ``<query_id>-L<level>-<index>``: unique, and stable across runs and shards.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from synrank.generate.slots import Slot, SlotResult
from synrank.generate.levels import scale_text
from synrank.generate.templates import Template


@dataclass(frozen=True)
class DocsTask:
    template: Template
    levels: int
    docs_per_level: int
    definitions: dict[int, str]

    name = "docs"
    input_noun = "queries"
    output_noun = "passages"
    default_max_new_tokens = 200
    default_min_words = 10
    default_temperature = 0.7
    default_top_p = 0.95

    def iter_inputs(self, source: str) -> Iterator[tuple[str, str]]:
        from synrank.formats.queries import read_queries

        yield from read_queries(source).items()

    def done_key(self, unit: str, slot_id: str) -> str:
        return unit  # one record per query: a query is done or not

    def templates(self) -> dict[str, Template]:
        return {"docs": self.template}

    def fingerprint(self) -> dict[str, Any]:
        return {"levels": self.levels, "docs_per_level": self.docs_per_level, "level_definitions": self.definitions}

    def with_tokenizer(self, tokenizer: Any) -> DocsTask:
        return self  # the prompt holds only the query: nothing to cut

    def manifest_info(self) -> dict[str, Any]:
        return {}

    def record_meta(self) -> dict[str, Any]:
        return {"template": self.template.name, "levels": self.levels}

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

    streams_slots = False  # one record per query holding all its passages: written when the query is done

    def schedule_key(self, slot: Slot) -> tuple[str, ...]:
        return ()  # reading order: answers are long (decoding dominates), and each query's record waits for all its levels

    def records(self, query_id: str, query: str, results: list[SlotResult], meta: dict[str, Any]) -> list[dict[str, Any]]:
        """The query's record, or none when every passage was rejected (nothing to train on)."""
        docs = [
            {"doc_id": r.slot.slot_id, "level": r.slot.info["level"], "text": r.text}
            for r in results
            if r.text is not None
        ]
        if not docs:
            return []
        rejected = sum(1 for r in results if r.text is None)
        return [{
            "query_id": query_id,
            "query": query,
            "documents": docs,
            "meta": {**meta, "rejected": rejected, "attempts": sum(r.attempts for r in results)},
        }]
