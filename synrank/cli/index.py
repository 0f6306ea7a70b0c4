"""`synrank index`: encode a corpus into a FAISS index folder (over ``synrank.index.build``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from synrank.cli.common import info
from synrank.cli.options import arg, default_of, opt, uses_config
from synrank.config import from_mapping
from synrank.index.stage import IndexConfig as C


def register(app: typer.Typer) -> None:
    @app.command("index")
    @uses_config(C)
    def index_cmd(
        corpus: Annotated[str, arg(C, "corpus")],
        out: Annotated[Path, opt(C, "out", "--out", "-o", folder=True)],
        model: Annotated[str, opt(C, "model", "--model", "-m")] = default_of(C, "model"),
        factory: Annotated[str, opt(C, "factory")] = default_of(C, "factory"),
        no_title: Annotated[bool, opt(C, "no_title")] = default_of(C, "no_title"),
        doc_prefix: Annotated[str, opt(C, "doc_prefix")] = default_of(C, "doc_prefix"),
        batch_tokens: Annotated[int, opt(C, "batch_tokens")] = default_of(C, "batch_tokens"),
        max_batch_size: Annotated[int, opt(C, "max_batch_size")] = default_of(C, "max_batch_size"),
        max_seq_length: Annotated[int, opt(C, "max_seq_length")] = default_of(C, "max_seq_length"),
        chunk_size: Annotated[int, opt(C, "chunk_size")] = default_of(C, "chunk_size"),
        train_sample: Annotated[int, opt(C, "train_sample")] = default_of(C, "train_sample"),
        device: Annotated[str, opt(C, "device")] = default_of(C, "device"),
        dtype: Annotated[str, opt(C, "dtype")] = default_of(C, "dtype"),
        threads: Annotated[int, opt(C, "threads")] = default_of(C, "threads"),
        seed: Annotated[int, opt(C, "seed")] = default_of(C, "seed"),
        trust_remote_code: Annotated[bool, opt(C, "trust_remote_code")] = default_of(C, "trust_remote_code"),
        overwrite: Annotated[bool, opt(C, "overwrite")] = default_of(C, "overwrite"),
    ) -> None:
        """Encode a corpus with a bi-encoder into a FAISS index folder.

        Streams the corpus in chunks (memory does not grow with corpus size beyond the index itself) and is
        resumable: re-run the same command after an interruption and finished chunks are reused.
        """
        from synrank.index.stage import build

        result = build(from_mapping(C, locals()), info=info)
        reused = f", {result.chunks_reused} chunk(s) reused from an interrupted run" if result.chunks_reused else ""
        empty = f" ({result.empty_documents} empty, never retrieved)" if result.empty_documents else ""
        info(f"indexed {result.documents} documents{empty} into {result.out}{reused}")
