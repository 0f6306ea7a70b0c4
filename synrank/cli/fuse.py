"""`synrank fuse`: combine several runs (BM25, dense, ...) into one TREC run (hybrid retrieval).

The work is :func:`synrank.score.run_fuse`; defaults, help and checks come from :class:`synrank.score.FuseConfig`.
"""

from __future__ import annotations

from typing import Any

import typer

from synrank.cli.common import info
from synrank.cli.options import config_command
from synrank.config import from_mapping
from synrank.score.stage import FuseConfig


def register(app: typer.Typer) -> None:
    @config_command(app, "fuse", FuseConfig)
    def fuse_cmd(settings: dict[str, Any]) -> None:
        """Fuse runs query by query: reciprocal rank fusion (Cormack et al., 2009) or a normalised score sum.

        Typical use is hybrid retrieval, e.g. a BM25 run and a dense run:
        `synrank fuse bm25.trec dense.trec --out hybrid.trec`, then `synrank compare ... --qrels`.
        """
        from synrank.score.stage import run_fuse

        cfg = from_mapping(FuseConfig, settings)
        result = run_fuse(cfg, progress=True)
        info(f"fused {len(cfg.runs)} runs over {result.queries:,} queries into {result.out}")
