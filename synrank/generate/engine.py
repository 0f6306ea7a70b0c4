"""Run prompts through a backend with parsing, duplicate checks and retries.

A *slot* is one item to produce (one passage at one level, or one query of one type). All pending
slots of a chunk go to the backend together (so it can batch them); slots whose answer cannot be
parsed, is empty or duplicates a kept one are re-asked with a new seed, up to ``max_retries`` times,
and then reported as rejects with their raw text. Nothing here raises on bad model output.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from synrank.generate.parsing import DuplicateFilter, ParseFailure, normalise, parse_answer, similar
from synrank.generate.templates import Template
from synrank.llm.base import ChatRequest, LLMBackend, SamplingConfig


@dataclass
class Slot:
    unit: str  # the input it belongs to (query id or source doc id): the duplicate-check group
    slot_id: str  # stable id of the produced item (doc_id or query_id)
    template: Template
    values: dict[str, str]
    info: dict[str, Any] = field(default_factory=dict)
    avoid: tuple[str, ...] = ()  # texts the answer must not repeat (the few-shot examples' answers shown)
    shots: tuple[tuple[str, str], ...] = ()  # (passage, answer) few-shot pairs sent as earlier chat turns

    def request(self, seed: int = 0) -> ChatRequest:
        return self.template.render(self.values, seed=seed, shots=self.shots)


@dataclass
class SlotResult:
    slot: Slot
    text: str | None  # None when rejected
    reasons: list[str]  # one per failed attempt
    raw: str  # last raw answer (prefix + completion)
    attempts: int
    kinds: list[str] = field(default_factory=list)  # category of each failed attempt (parsing.REJECT_KINDS)


@dataclass
class EngineStats:
    prompts: int = 0
    completion_tokens: int = 0
    prompt_tokens: int = 0
    accepted: int = 0
    rejected: int = 0
    retried: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def attempt_seed(base: int, slot_id: str, attempt: int) -> int:
    h = hashlib.sha256(f"{base}:{slot_id}:{attempt}".encode()).digest()
    return int.from_bytes(h[:4], "little") & 0x7FFFFFFF


class SlotEngine:
    def __init__(
        self,
        backend: LLMBackend,
        sampling: SamplingConfig,
        *,
        max_retries: int = 2,
        dedup_threshold: float = 0.9,
        min_words: int = 0,
    ) -> None:
        self.backend = backend
        self.min_words = min_words
        self.sampling = sampling
        self.max_retries = max(0, max_retries)
        self.dedup = DuplicateFilter(dedup_threshold)
        self.stats = EngineStats()

    def run(self, slots: Sequence[Slot]) -> list[SlotResult]:
        results = {s.slot_id: SlotResult(s, None, [], "", 0) for s in slots}
        pending = list(slots)
        for attempt in range(self.max_retries + 1):
            if not pending:
                break
            if attempt:
                self.stats.retried += len(pending)
            requests = [s.request(seed=attempt_seed(self.sampling.seed, s.slot_id, attempt)) for s in pending]
            completions = self.backend.generate(requests, self.sampling)
            self.stats.prompts += len(requests)
            failed = []
            for slot, req, comp in zip(pending, requests, completions):
                self.stats.completion_tokens += comp.completion_tokens
                self.stats.prompt_tokens += comp.prompt_tokens
                res = results[slot.slot_id]
                res.attempts = attempt + 1
                raw = (req.prefix if self.backend.supports_prefix else "") + comp.text
                res.raw = raw
                try:
                    text = parse_answer(slot.template.output, raw, truncated=comp.finish_reason == "length")
                    if len(text.split()) < self.min_words:
                        raise ParseFailure(f"too short ({len(text.split())} words, --min-words {self.min_words})", "too_short")
                except ParseFailure as exc:
                    res.reasons.append(exc.reason)
                    res.kinds.append(exc.kind)
                    failed.append(slot)
                    continue
                if any(similar(normalise(text), normalise(a), self.dedup.threshold) for a in slot.avoid):
                    res.reasons.append("copies a few-shot example's answer")
                    res.kinds.append("duplicate")
                    failed.append(slot)
                    continue
                dup_of = self.dedup.check(slot.unit, text)
                if dup_of is not None:
                    res.reasons.append(f"duplicate of {dup_of}")
                    res.kinds.append("duplicate")
                    failed.append(slot)
                    continue
                self.dedup.add(slot.unit, slot.slot_id, text)
                res.text = text
            pending = failed
        for res in results.values():
            if res.text is None:
                self.stats.rejected += 1
            else:
                self.stats.accepted += 1
        return [results[s.slot_id] for s in slots]

    def forget(self, unit: str) -> None:
        """Drop kept texts of a finished input (memory stays flat on long runs)."""
        self.dedup.forget(unit)
