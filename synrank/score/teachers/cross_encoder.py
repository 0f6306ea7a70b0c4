"""Cross-encoder teacher: a sentence-transformers ``CrossEncoder`` (e.g. BAAI/bge-reranker-v2-m3) scoring
each (query, passage) pair jointly, as the distillation paper's teacher.

Pairs go through the shared runtime layer: token-budget batches (longest first, so padding stays low
and each batch's memory is bounded), bf16 where the hardware has it, and out-of-memory back-off.
Scores are raw logits by default (``TeacherConfig.activation="none"``), as the CADeT reference
(``reranker/run_reranking.py`` takes ``logits`` as they come); ``"model"`` applies the model's configured
activation (sigmoid for bge-reranker), which squeezes the best scores towards 1 before any min-max and
moves both KL targets and the 0.6 x top false-negative mask.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from synrank.errors import ConfigError
from synrank.models import resolve_model_name
from synrank.runtime.device import dtype_name, resolve_device, resolve_dtype
from synrank.score.teachers.base import Teacher, TeacherConfig, score_in_batches


class CrossEncoderTeacher(Teacher):
    kind = "cross-encoder"

    def __init__(self, model: str, config: TeacherConfig | None = None) -> None:
        super().__init__(model)
        import torch
        from sentence_transformers import CrossEncoder
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self.config = config or TeacherConfig()
        self.device = resolve_device(self.config.device)
        self.dtype = resolve_dtype(self.config.dtype, self.device)
        path = resolve_model_name(model)
        try:
            self.model = CrossEncoder(
                path,
                device=str(self.device),
                trust_remote_code=self.config.trust_remote_code,
                max_length=self.config.max_length,
                num_labels=None,
            )
        except OSError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"cannot load cross-encoder {model!r}: {first}") from None
        if self.config.activation not in ("none", "model"):
            raise ConfigError(f"unknown activation {self.config.activation!r} (none, model)", setting="teacher_activation")
        if self.model.num_labels != 1:
            raise ConfigError(f"cross-encoder {model!r} has {self.model.num_labels} outputs; a teacher needs a single relevance score")
        if self.dtype != torch.float32:
            self.model.to(self.dtype)  # CrossEncoder upcasts scores to fp32 itself
        self.model.eval()

    def _lengths(self, queries: Sequence[str], texts: Sequence[str]) -> list[int]:
        tok = self.model.tokenizer
        enc = tok(list(queries), list(texts), truncation=True, max_length=self.model.max_length)
        return [len(ids) for ids in enc["input_ids"]]

    def _predict(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        import torch

        act = torch.nn.Identity() if self.config.activation == "none" else None  # None: the model's own
        scores = self.model.predict(list(pairs), batch_size=len(pairs), show_progress_bar=False, convert_to_numpy=True, activation_fn=act)
        return [float(s) for s in np.atleast_1d(scores)]

    def score(
        self, queries: Sequence[str], texts: Sequence[str], doc_ids: Sequence[str], on_progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        if not queries:
            return np.zeros(0, dtype=np.float32)
        pairs = list(zip(queries, texts))
        return score_in_batches(pairs, self._lengths(queries, texts), self._predict, self.config, on_progress)

    def info(self) -> dict[str, Any]:
        act = self.model.activation_fn
        return {
            **super().info(),
            "path": resolve_model_name(self.model_name),
            "activation": "none (raw logits)" if self.config.activation == "none" else (type(act).__name__ if act is not None else None),
            "max_length": self.model.max_length,
            "dtype": dtype_name(self.dtype),
            "device": str(self.device),
        }
