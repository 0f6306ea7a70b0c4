"""`synrank fuse`: combine several runs (BM25, dense, ...) into one TREC run (hybrid retrieval)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from synrank.cli.common import info


def _read_run(path: str) -> dict[str, dict[str, float]]:
    """A TREC run, or `synrank search` JSONL (candidates with scores; rank-only lists get 1/rank)."""
    from synrank.formats.runs import read_trec_run
    from synrank.score.lists import first_nonblank, read_lists

    if not first_nonblank(path).lstrip().startswith("{"):  # raises on an empty file
        return read_trec_run(path)
    return {
        qid: {c.doc_id: float(c.score) if c.score is not None else 1.0 / (c.rank or 1) for c in ql.candidates}
        for qid, ql in read_lists(path).items()
    }


def register(app: typer.Typer) -> None:
    @app.command("fuse")
    def fuse_cmd(
        runs: Annotated[list[str], typer.Argument(help="Two or more runs: TREC files or `synrank search` JSONL.")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Fused TREC run (written atomically, with a manifest beside it).")],
        method: Annotated[str, typer.Option("--method", help="rrf (reciprocal rank), minmax or zscore (normalised score sum, CombSUM).")] = "rrf",
        rrf_k: Annotated[int, typer.Option("--rrf-k", help="RRF constant k in 1/(k + rank).")] = 60,
        depth: Annotated[int, typer.Option("--depth", help="Documents taken from each run before fusion; 0 = all.")] = 0,
        top: Annotated[int, typer.Option("--top", help="Documents kept per query in the fused run; 0 = all.")] = 1000,
        tag: Annotated[str, typer.Option("--run-tag", help="Tag in the last column of the TREC run.")] = "synrank-fuse",
    ) -> None:
        """Fuse runs query by query: reciprocal rank fusion (Cormack et al., 2009) or a normalised score sum.

        Typical use is hybrid retrieval, e.g. a BM25 run and a dense run:
        `synrank fuse bm25.trec dense.trec --out hybrid.trec`, then `synrank compare ... --qrels`.
        """
        from synrank.errors import ConfigError
        from synrank.formats.manifest import make_manifest, manifest_path_for, write_manifest
        from synrank.formats.runs import write_trec_run
        from synrank.score.fusion import FUSIONS, fuse_runs

        if len(runs) < 2:
            raise ConfigError("fuse needs at least two runs")
        if method not in FUSIONS:
            raise ConfigError(f"unknown --method {method!r} (use one of {', '.join(FUSIONS)})")
        if depth < 0 or top < 0:
            raise ConfigError("--depth and --top must be >= 0")
        fused = fuse_runs([_read_run(r) for r in runs], method=method, k=rrf_k, depth=depth, top=top)
        write_trec_run(fused, out, tag=tag)
        manifest = make_manifest("fuse", config={"runs": runs, "method": method, "rrf_k": rrf_k, "depth": depth, "top": top})
        manifest["queries"] = len(fused)
        write_manifest(manifest, manifest_path_for(out))
        info(f"fused {len(runs)} runs over {len(fused):,} queries into {out}")
