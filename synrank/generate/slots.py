"""What the generator produces, one item at a time: a :class:`Slot` (one passage at one level, or one query of
one type) and its :class:`SlotResult`. Below both the engine and the scheduler that drives it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from synrank.generate.templates import Template
from synrank.llm.base import ChatRequest


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


__all__ = ["Slot", "SlotResult"]
