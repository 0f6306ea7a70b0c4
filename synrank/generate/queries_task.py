"""Synthetic queries of several types for corpus passages (the listwise-distillation setting).

One output record per query: ``{"query_id", "text", "type", "source_doc_id"}`` with
``query_id = <doc_id>-<type>-<index>``, stable across runs and shards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from synrank.formats.corpus import Document
from synrank.generate.engine import Slot, SlotResult
from synrank.generate.examples import Example, format_examples, sample_examples
from synrank.generate.templates import Template

BUILTIN_TYPES = ("question", "claim", "keywords", "title", "search")


@dataclass(frozen=True)
class QueriesTask:
    templates: dict[str, Template]  # query type -> template, in output order
    per_doc: int
    examples: tuple[Example, ...] = ()
    num_examples: int = 3
    seed: int = 42
    max_passage_chars: int = 2000

    name = "queries"

    def query_id(self, doc_id: str, qtype: str, index: int) -> str:
        return f"{doc_id}-{qtype}-{index}"

    def slots(self, doc: Document) -> list[Slot]:
        passage = doc.text if len(doc.text) <= self.max_passage_chars else doc.text[: self.max_passage_chars].rsplit(" ", 1)[0]
        out = []
        for qtype, template in self.templates.items():
            for index in range(self.per_doc):
                qid = self.query_id(doc.doc_id, qtype, index)
                chosen = sample_examples(list(self.examples), qtype, self.num_examples, qid, self.seed) if self.examples else []
                values = {
                    "passage": passage,
                    "title": doc.title,
                    "type": qtype,
                    "examples": format_examples(chosen),
                }
                out.append(Slot(doc.doc_id, qid, template, values, {"type": qtype, "index": index}))
        return out

    def records(self, results: list[SlotResult]) -> list[dict[str, Any]]:
        return [
            {"query_id": r.slot.slot_id, "text": r.text, "type": r.slot.info["type"], "source_doc_id": r.slot.unit}
            for r in results
            if r.text is not None
        ]
