"""`synrank index`: encode a corpus into a FAISS index folder (over ``synrank.index.build``)."""

from __future__ import annotations

from typing import Any

import typer

from synrank.cli.common import info
from synrank.cli.options import config_command
from synrank.config import from_mapping
from synrank.index.stage import IndexConfig


def register(app: typer.Typer) -> None:
    @config_command(app, "index", IndexConfig)
    def index_cmd(settings: dict[str, Any]) -> None:
        """Encode a corpus with a bi-encoder into a FAISS index folder.

        Streams the corpus in chunks (memory does not grow with corpus size beyond the index itself) and is
        resumable: re-run the same command after an interruption and finished chunks are reused.
        """
        from synrank.index.stage import run

        result = run(from_mapping(IndexConfig, settings), progress=True)
        reused = f", {result.chunks_reused} chunk(s) reused from an interrupted run" if result.chunks_reused else ""
        empty = f" ({result.empty_documents} empty, never retrieved)" if result.empty_documents else ""
        info(f"indexed {result.documents} documents{empty} into {result.out}{reused}")
