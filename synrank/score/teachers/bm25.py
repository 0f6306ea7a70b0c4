"""BM25 teacher: Lucene BM25 (bm25s) with the statistics of ``--corpus`` when every scored passage is in it,
else of the pool of all passages being scored (e.g. generated documents, which no corpus holds)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from synrank.score.teachers.base import Teacher
from synrank.search.bm25 import BM25Config, BM25Index, load_or_build_bm25


class BM25Teacher(Teacher):
    kind = "bm25"

    def __init__(self, model: str = "", *, corpus: str | Path | None = None, config: BM25Config | None = None, cache_root: str | Path | None = None, log: Any = None) -> None:
        super().__init__(model)
        self.corpus = corpus
        self.bm25_config = config or BM25Config()
        self.cache_root = cache_root
        self.log = log
        self.index: BM25Index | None = None
        self.statistics = ""

    def prepare(self, queries: Sequence[str], doc_ids: Sequence[str], texts: Sequence[str]) -> None:
        if self.corpus is not None and str(self.corpus) != "-":  # stdin was consumed for the passage texts
            index = load_or_build_bm25(self.corpus, self.bm25_config, cache_root=self.cache_root, log=self.log)
            if all(d in index._row for d in doc_ids):
                self.index, self.statistics = index, f"corpus {self.corpus}"
                return
        pool = dict(zip(doc_ids, texts))
        self.index = BM25Index.build(list(pool), list(pool.values()), self.bm25_config)
        self.statistics = f"pool of {len(pool):,} scored passages"
        if self.log is not None:
            why = "some passages are not in --corpus" if self.corpus is not None else "no --corpus"
            self.log(f"bm25 teacher: term statistics from the {self.statistics} ({why})")

    def score(
        self, queries: Sequence[str], texts: Sequence[str], doc_ids: Sequence[str], on_progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        if self.index is None:
            self.prepare(queries, doc_ids, texts)
        assert self.index is not None
        out = np.empty(len(queries), dtype=np.float32)
        # Group by query: one sparse scoring pass per distinct query.
        groups: dict[str, list[int]] = {}
        for i, q in enumerate(queries):
            groups.setdefault(q, []).append(i)
        for q, idx in groups.items():
            for i, s in zip(idx, self.index.score_pairs(q, [doc_ids[i] for i in idx])):
                out[i] = s
        if on_progress is not None:
            on_progress(len(queries))
        return out

    def info(self) -> dict[str, Any]:
        return {**super().info(), "library": "bm25s", "config": self.bm25_config.__dict__, "statistics": self.statistics}
