"""What a generation task is, as seen by the runner (:func:`synrank.generate.run`).

A task reads its inputs, turns one input into *slots* (one item to produce each, see
:class:`~synrank.generate.engine.Slot`), and turns the engine's results for one input into output
records. Everything the runner needs beyond that (the resume key, the resume fingerprint, the nouns
for messages) is part of the interface too, so the runner never asks which task it holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

from synrank.generate.slots import Slot, SlotResult
from synrank.generate.templates import Template


@runtime_checkable
class GenerationTask(Protocol):
    name: str  # "docs" | "queries": the record's "task" in the rejects file
    input_noun: str  # what one input is, for progress and messages ("queries", "passages")
    output_noun: str  # what one accepted slot is ("passages", "queries")
    default_max_new_tokens: int
    default_min_words: int
    default_temperature: float
    default_top_p: float
    streams_slots: bool  # True: a record per slot, written as each slot is final; False: a record per input

    def schedule_key(self, slot: Slot) -> tuple[str, ...]:
        """Prompts run in this order within a wave (then reading order): equal prefixes next to each other."""
        ...

    def iter_inputs(self, source: str) -> Iterator[tuple[str, Any]]:
        """``(key, payload)`` per input, in file order; reading validates (bad lines raise InputError)."""
        ...

    def slots(self, key: str, payload: Any) -> list[Slot]: ...

    def done_key(self, unit: str, slot_id: str) -> str:
        """The key resume compares against the output's ``query_id``s: per input (docs) or per slot (queries)."""
        ...

    def records(self, key: str, payload: Any, results: list[SlotResult], meta: dict[str, Any]) -> list[dict[str, Any]]:
        """The output records of one finished input (possibly none)."""
        ...

    def templates(self) -> dict[str, Template]:
        """Every template in use, by name (for the resume fingerprint and the dry run)."""
        ...

    def fingerprint(self) -> dict[str, Any]:
        """Task settings that must match for a re-run to resume an existing output."""
        ...

    def with_tokenizer(self, tokenizer: Any) -> GenerationTask:
        """The task using the generator's tokenizer (a Hugging Face fast tokenizer, or None) where it counts tokens."""
        ...

    def manifest_info(self) -> dict[str, Any]:
        """Facts about this run of the task for the manifest (not checked on resume)."""
        ...

    def record_meta(self) -> dict[str, Any]:
        """Task fields added to each record's ``meta`` (docs task)."""
        ...
