"""Teachers, fusion and list filters for list-wise distillation (``synrank score`` and ``synrank fuse``).

- :mod:`.stage`: the stages as library calls: ``run(ScoreConfig) -> ScoreResult`` and
  ``run_fuse(FuseConfig) -> FuseResult``.
- :mod:`.lists`: read search output / generate docs output / TREC runs; build each query's list.
- :mod:`.fusion`: reciprocal rank fusion, normalised CombSUM, combining several teachers.
- :mod:`.teachers`: cross-encoder, T5 reranker (monoT5, RankT5), bi-encoder, BM25 and LLM-judge teachers behind one interface.
- :mod:`.pipeline`: attach passage text, score pairs chunk by chunk, build output records.
- :mod:`.filters`: the distillation filters (source in top K, list length, source ranked first, bottom
  cutoff, list size, percentile min-max normalisation), CADeT's reference semantics by default.
"""

from __future__ import annotations

from synrank._lazy import lazy_exports

# Each name is imported from its submodule on first use, so reading a config at start-up (the CLI) loads no NumPy.
_WHERE = {
    "FilterConfig": "filters",
    "apply_filters": "filters",
    "combine_teachers": "fusion",
    "fuse": "fusion",
    "norm_sum": "fusion",
    "rrf": "fusion",
    "Candidate": "lists",
    "QueryList": "lists",
    "fuse_inputs": "lists",
    "read_lists": "lists",
    "select_lists": "lists",
    "ScoringOptions": "pipeline",
    "attach_text": "pipeline",
    "output_record": "pipeline",
    "score_lists": "pipeline",
    "FuseConfig": "stage",
    "FuseResult": "stage",
    "ScoreConfig": "stage",
    "ScoreResult": "stage",
    "run": "stage",
    "run_fuse": "stage",
}

__all__ = sorted(_WHERE)

__getattr__ = lazy_exports("synrank.score", _WHERE)

