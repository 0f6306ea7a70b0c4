"""`synrank fuse`: combine several runs (BM25, dense, ...) into one TREC run (hybrid retrieval).

The work is :func:`synrank.score.run_fuse`; defaults, help and checks come from :class:`synrank.score.FuseConfig`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from synrank.cli.common import info
from synrank.cli.options import arg, default_of, opt, uses_config
from synrank.score.stage import FuseConfig as C


def register(app: typer.Typer) -> None:
    @app.command("fuse")
    @uses_config(C)
    def fuse_cmd(
        runs: Annotated[list[str], arg(C, "runs")],
        out: Annotated[Path, opt(C, "out", "--out", "-o")],
        method: Annotated[str, opt(C, "method")] = default_of(C, "method"),
        rrf_k: Annotated[int, opt(C, "rrf_k")] = default_of(C, "rrf_k"),
        depth: Annotated[int, opt(C, "depth")] = default_of(C, "depth"),
        top: Annotated[int, opt(C, "top")] = default_of(C, "top"),
        run_tag: Annotated[str, opt(C, "run_tag")] = default_of(C, "run_tag"),
    ) -> None:
        """Fuse runs query by query: reciprocal rank fusion (Cormack et al., 2009) or a normalised score sum.

        Typical use is hybrid retrieval, e.g. a BM25 run and a dense run:
        `synrank fuse bm25.trec dense.trec --out hybrid.trec`, then `synrank compare ... --qrels`.
        """
        from synrank.config import from_mapping
        from synrank.score.stage import run_fuse

        result = run_fuse(from_mapping(C, locals()))
        info(f"fused {len(runs)} runs over {result.queries:,} queries into {result.out}")
