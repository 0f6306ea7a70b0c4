"""Bi-encoder teacher: the model's similarity (cosine or dot, as it was trained) between query and
passage embeddings, computed with :class:`synrank.index.encoder.Encoder` (token-budget batches, bf16,
OOM back-off). Each distinct query and passage is encoded once, however many pairs it appears in:
fused candidate lists repeat passages across queries, so this is much less work than encoding pairs."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from synrank.score.teachers.base import Teacher, TeacherConfig


class BiEncoderTeacher(Teacher):
    kind = "bi-encoder"

    def __init__(
        self, model: str, config: TeacherConfig | None = None, *, query_prefix: str = "", doc_prefix: str = "", cache_size: int = 200_000
    ) -> None:
        super().__init__(model)
        from synrank.index.encoder import Encoder, EncoderConfig

        self.config = config or TeacherConfig()
        self.encoder = Encoder(
            model,
            EncoderConfig(
                device=self.config.device,
                dtype=self.config.dtype,
                max_tokens=self.config.max_tokens,
                max_batch_size=max(self.config.max_batch_size, 1),
                max_seq_length=self.config.max_length,
                trust_remote_code=self.config.trust_remote_code,
            ),
        )
        self.query_prefix = query_prefix
        self.doc_prefix = doc_prefix
        self.cache_size = cache_size
        self._doc_cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()

    def _embed(self, texts: list[str], prefix: str) -> np.ndarray:
        emb = self.encoder.encode(texts, prefix=prefix)
        if self.encoder.similarity == "cosine" and not self.encoder.normalized:
            emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        return emb

    def score(
        self, queries: Sequence[str], texts: Sequence[str], doc_ids: Sequence[str], on_progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        if not queries:
            return np.zeros(0, dtype=np.float32)
        uq = list(dict.fromkeys(queries))
        q_emb = dict(zip(uq, self._embed(uq, self.query_prefix)))
        # Key passages by id *and* text: generated documents may reuse ids across files.
        keys = list(dict.fromkeys(zip(doc_ids, texts)))
        missing = [k for k in keys if k not in self._doc_cache]
        if missing:
            for key, e in zip(missing, self._embed([t for _d, t in missing], self.doc_prefix)):
                self._doc_cache[key] = e
        d_emb = {}
        for key in keys:
            self._doc_cache.move_to_end(key)
            d_emb[key] = self._doc_cache[key]
        while len(self._doc_cache) > self.cache_size:
            self._doc_cache.popitem(last=False)
        sim = self.encoder.similarity
        out = np.empty(len(queries), dtype=np.float32)
        for i, (q, d, t) in enumerate(zip(queries, doc_ids, texts)):
            a, b = q_emb[q], d_emb[(d, t)]
            out[i] = -float(np.linalg.norm(a - b)) if sim == "euclidean" else float(a @ b)
        if on_progress is not None:
            on_progress(len(queries))
        return out

    def info(self) -> dict[str, Any]:
        return {**super().info(), **{k: v for k, v in self.encoder.info().items() if k != "name"}, "query_prefix": self.query_prefix, "doc_prefix": self.doc_prefix}
