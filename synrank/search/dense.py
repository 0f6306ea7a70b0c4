"""Dense candidates from a ``synrank index`` folder (FAISS), encoding queries with the index's own model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


class DenseSearcher:
    """Query encoder + :class:`synrank.index.store.DenseIndex`, searched in chunks so progress can be shown."""

    def __init__(
        self,
        index_dir: str | Path,
        *,
        model: str | None = None,
        encoder_config: Any = None,
        query_prefix: str = "",
        nprobe: int | None = None,
        ef_search: int | None = None,
    ) -> None:
        from synrank.index.store import DenseIndex

        self.index = DenseIndex.load(index_dir)
        self.index.set_search_params(nprobe=nprobe, ef_search=ef_search)
        self.encoder = self.index.encoder(model, encoder_config)
        self.query_prefix = query_prefix

    def info(self) -> dict[str, Any]:
        return {"index": str(self.index.path), "model": self.encoder.info(), "query_prefix": self.query_prefix}

    def search(self, queries: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
        return self.index.search(list(queries), k, query_prefix=self.query_prefix, encoder=self.encoder)
