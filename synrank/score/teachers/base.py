"""The one interface every teacher implements: scores for (query, passage) pairs, higher = more relevant."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from synrank.runtime.batching import run_with_oom_backoff, token_budget_batches


@dataclass
class TeacherConfig:
    """Runtime settings shared by the model-based teachers."""

    device: str = "auto"
    dtype: str = "auto"
    max_tokens: int = 16384  # token budget per batch: batch size x longest pair
    max_batch_size: int = 128
    max_length: int | None = None  # truncate pairs to this many tokens; None = the model's limit
    trust_remote_code: bool = False
    # cross-encoder: "none" = raw logits (the CADeT reference scores with raw logits), "model" = the
    # model's configured activation (sigmoid for bge rerankers), which squeezes top scores towards 1.
    activation: str = "none"


class Teacher(ABC):
    """Scores (query, passage) pairs. ``kind:model`` is how users select it (``--teacher KIND:MODEL``)."""

    kind: str = ""

    def __init__(self, model: str) -> None:
        self.model_name = model

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.model_name}" if self.model_name else self.kind

    def prepare(self, queries: Sequence[str], doc_ids: Sequence[str], texts: Sequence[str]) -> None:  # noqa: B027
        """See every query and passage once before scoring (e.g. to build corpus statistics). Optional."""

    @abstractmethod
    def score(
        self,
        queries: Sequence[str],
        texts: Sequence[str],
        doc_ids: Sequence[str],
        on_progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """One float per pair ``(queries[i], texts[i])``; ``doc_ids[i]`` names the passage.
        ``on_progress(n)`` is called as pairs get done (model teachers: after every batch), n summing to len(queries)."""

    def info(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": self.model_name}


def score_in_batches(
    items: Sequence[Any],
    lengths: Sequence[int],
    predict: Callable[[list[Any]], Sequence[float]],
    config: TeacherConfig,
    on_progress: Callable[[int], None] | None = None,
    *,
    columns: int = 0,
    dtype: Any = np.float32,
) -> np.ndarray:
    """``predict`` over ``items`` in token-budget batches (``lengths`` in tokens), halving a batch that runs out
    of memory; one result per item, in order (a float, or a row of ``columns`` floats). The batching every model
    teacher shares."""
    out = np.zeros((len(items), columns) if columns else len(items), dtype=dtype)
    for batch in token_budget_batches(lengths, config.max_tokens, config.max_batch_size):
        for i, s in zip(batch, run_with_oom_backoff(predict, [items[i] for i in batch])):
            out[i] = s
        if on_progress is not None:
            on_progress(len(batch))
    return out
