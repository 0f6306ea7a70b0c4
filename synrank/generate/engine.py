"""Run prompts through a backend with parsing, duplicate checks and retries.

A *slot* is one item to produce (one passage at one level, or one query of one type). Slots whose answer
cannot be parsed, is empty or duplicates a kept one are re-asked with a new seed, up to ``max_retries``
times, and then reported as rejects with their raw text. Nothing here raises on bad model output.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from synrank.generate.parsing import DuplicateFilter, ParseFailure, normalise, parse_answer, similar
from synrank.generate.slots import Slot, SlotResult
from synrank.llm.base import ChatRequest, Completion, LLMBackend, SamplingConfig


@dataclass
class EngineStats:
    prompts: int = 0
    completion_tokens: int = 0
    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0  # of prompt_tokens, reused from the engine's prompt cache (llama.cpp reports it)
    accepted: int = 0
    rejected: int = 0
    retried: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def attempt_seed(base: int, slot_id: str, attempt: int) -> int:
    h = hashlib.sha256(f"{base}:{slot_id}:{attempt}".encode()).digest()
    return int.from_bytes(h[:4], "little") & 0x7FFFFFFF


class SlotEngine:
    """The checks and the bookkeeping of one run: a slot's answer is parsed, length-checked and compared with
    the few-shot answers as soon as it arrives (:meth:`check`); the duplicate check against the texts its input
    already kept happens in slot order (:meth:`keep`), so which answer counts as the duplicate never depends on
    which prompt finished first. The scheduling lives in :func:`synrank.generate.pipeline.run_units`."""

    def __init__(
        self,
        backend: LLMBackend,
        sampling: SamplingConfig,
        *,
        max_retries: int = 2,
        dedup_threshold: float = 0.9,
        min_words: int = 0,
        in_flight: int = 0,
    ) -> None:
        self.backend = backend
        self.min_words = min_words
        self.sampling = sampling
        self.max_retries = max(0, max_retries)
        self.dedup = DuplicateFilter(dedup_threshold)
        self.stats = EngineStats()
        self.in_flight = in_flight  # prompts in the engine at once for a backend that takes them one by one; 0 = its own

    def request(self, slot: Slot, attempt: int) -> ChatRequest:
        return slot.request(seed=attempt_seed(self.sampling.seed, slot.slot_id, attempt))

    def count(self, comp: Completion) -> None:
        self.stats.prompts += 1
        self.stats.completion_tokens += comp.completion_tokens
        self.stats.prompt_tokens += comp.prompt_tokens
        self.stats.cached_prompt_tokens += int(comp.extra.get("cached_tokens") or 0)

    def raw(self, req: ChatRequest, comp: Completion) -> str:
        return (req.prefix if self.backend.supports_prefix else "") + comp.text

    def check(self, slot: Slot, raw: str, comp: Completion) -> str:
        """The answer's text, or :class:`ParseFailure` for a bad, short or copied answer (no other slot involved)."""
        text = parse_answer(slot.template.output, raw, truncated=comp.finish_reason == "length")
        if len(text.split()) < self.min_words:
            raise ParseFailure(f"too short ({len(text.split())} words, --min-words {self.min_words})", "too_short")
        if any(similar(normalise(text), normalise(a), self.dedup.threshold) for a in slot.avoid):
            raise ParseFailure("copies a few-shot example's answer", "duplicate")
        return text

    def keep(self, slot: Slot, text: str) -> str | None:
        """Keep ``text`` for its input unless it repeats one kept before; returns the duplicate's reason or None."""
        dup_of = self.dedup.check(slot.unit, text)
        if dup_of is not None:
            return f"duplicate of {dup_of}"
        self.dedup.add(slot.unit, slot.slot_id, text)
        return None

    def run(self, slots: Sequence[Slot]) -> list[SlotResult]:
        """Every slot to its final result (accepted or out of retries), in the order given."""
        from synrank.generate.pipeline import Unit, run_units

        by_unit: dict[str, list[Slot]] = {}
        for s in slots:
            by_unit.setdefault(s.unit, []).append(s)
        results: dict[str, SlotResult] = {}
        run_units(None, [Unit(k, v, None) for k, v in by_unit.items()], self, None, None, meta={},
                  on_result=lambda _u, res: results.__setitem__(res.slot.slot_id, res), forget=False)
        return [results[s.slot_id] for s in slots]

    def forget(self, unit: str) -> None:
        """Drop kept texts of a finished input (memory stays flat on long runs)."""
        self.dedup.forget(unit)
