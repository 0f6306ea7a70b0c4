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

from synrank.score.filters import FilterConfig, apply_filters
from synrank.score.fusion import combine_teachers, fuse, norm_sum, rrf
from synrank.score.lists import Candidate, QueryList, fuse_inputs, read_lists, select_lists
from synrank.score.pipeline import ScoringOptions, attach_text, output_record, score_lists
from synrank.score.stage import FuseConfig, FuseResult, ScoreConfig, ScoreResult, run, run_fuse

__all__ = [
    "Candidate",
    "FilterConfig",
    "FuseConfig",
    "FuseResult",
    "QueryList",
    "ScoreConfig",
    "ScoreResult",
    "ScoringOptions",
    "apply_filters",
    "attach_text",
    "combine_teachers",
    "fuse",
    "fuse_inputs",
    "norm_sum",
    "output_record",
    "read_lists",
    "rrf",
    "run",
    "run_fuse",
    "score_lists",
    "select_lists",
]
