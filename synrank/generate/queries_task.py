"""Synthetic queries of several types for corpus passages (the listwise-distillation setting).

One output record per query: ``{"query_id", "text", "type", "source_doc_id"}`` with
``query_id = <doc_id>-<type>-<index>``, stable across runs and shards.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from synrank.formats.corpus import Document
from synrank.generate.slots import Slot, SlotResult
from synrank.generate.examples import Example, format_examples, sample_examples
from synrank.generate.passages import PassageCap
from synrank.generate.templates import Template

# The six query types of CADeT (Tamber et al.; manveertamber/cadet-dense-retrieval,
# query_generation/query_gen_scripts/), the default set.
CADET_TYPES = ("title", "claim", "question", "keywords", "msmarco", "natural")
# synrank's first prompt set, kept as named alternatives (``--types v1``).
V1_TYPES = ("question-v1", "claim-v1", "keywords-v1", "title-v1", "search")
PRESETS = {"cadet": CADET_TYPES, "v1": V1_TYPES}
BUILTIN_TYPES = CADET_TYPES + V1_TYPES


@dataclass(frozen=True)
class QueriesTask:
    templates_by_type: dict[str, Template]  # query type -> template, in output order
    per_doc: int
    examples: tuple[Example, ...] = ()  # the user's (typed or untyped)
    num_examples: int = 3
    seed: int = 42
    default_examples: tuple[Example, ...] = ()  # packaged, typed; used for a type the user gave none for
    passage_cap: PassageCap = field(default_factory=PassageCap)

    name = "queries"
    input_noun = "passages"
    output_noun = "queries"
    default_max_new_tokens = 64
    default_min_words = 1
    default_temperature = 0.8  # CADeT: SamplingParams(temperature=0.8) in every *_gen_vllm.py
    default_top_p = 1.0  # CADeT: vLLM's default top_p
    streams_slots = True  # one record per query, resumed per query: each is written the moment it is final

    def schedule_key(self, slot: Slot) -> tuple[str, ...]:
        """The prompt's text, message by message: sorted by it, prompts that share their instructions and
        few-shot examples (drawn per prompt, so shared by chance) run back to back and the engine reuses the
        cached prefix instead of computing it again."""
        return tuple(m["content"] for m in slot.request().messages)

    def iter_inputs(self, source: str) -> Iterator[tuple[str, Document]]:
        from synrank.formats.corpus import iter_corpus

        for doc in iter_corpus(source):
            yield doc.doc_id, doc

    def query_id(self, doc_id: str, qtype: str, index: int) -> str:
        return f"{doc_id}-{qtype}-{index}"

    def done_key(self, unit: str, slot_id: str) -> str:
        return slot_id  # per query: a passage half-done before a kill gets only its missing queries

    def templates(self) -> dict[str, Template]:
        return dict(self.templates_by_type)

    def example_pool(self, qtype: str) -> list[Example]:
        """The examples a prompt of ``qtype`` samples from: the user's for this type (typed or untyped), else
        the packaged ones for this type."""
        pool = [e for e in self.examples if e.type in (None, qtype)]
        return pool or [e for e in self.default_examples if e.type == qtype]

    def slots(self, doc_id: str, doc: Document) -> list[Slot]:
        passage = self.passage_cap(doc.text)
        pools = {qtype: self.example_pool(qtype) for qtype in self.templates_by_type}
        out = []
        for qtype, template in self.templates_by_type.items():
            for index in range(self.per_doc):
                qid = self.query_id(doc_id, qtype, index)
                chosen = sample_examples(pools[qtype], qtype, self.num_examples, qid, self.seed)
                turns = template.examples_as_turns
                values = {
                    "passage": passage,
                    "title": doc.title,
                    "type": qtype,
                    "examples": "" if turns else format_examples(chosen, label=template.label),
                }
                shots = tuple((e.passage, e.query) for e in chosen) if turns else ()
                avoid = tuple(e.query for e in chosen)
                out.append(Slot(doc_id, qid, template, values, {"type": qtype, "index": index}, avoid, shots))
        return out

    def records(self, doc_id: str, doc: Document, results: list[SlotResult], meta: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {"query_id": r.slot.slot_id, "text": r.text, "type": r.slot.info["type"], "source_doc_id": r.slot.unit}
            for r in results
            if r.text is not None
        ]

    def fingerprint(self) -> dict[str, Any]:
        return {"types": list(self.templates_by_type), "per_doc": self.per_doc, "max_passage_tokens": self.passage_cap.max_tokens}

    def with_tokenizer(self, tokenizer: Any) -> QueriesTask:
        return replace(self, passage_cap=replace(self.passage_cap, tokenizer=tokenizer))

    def manifest_info(self) -> dict[str, Any]:
        return {"passage_tokens": self.passage_cap.counter}

    def record_meta(self) -> dict[str, Any]:
        return {}
