"""Teachers, fusion and list filters for list-wise distillation (``synrank score``).

- :mod:`.lists`: read search output / generate docs output / TREC runs; fuse several inputs per query.
- :mod:`.fusion`: reciprocal rank fusion, normalised CombSUM, combining several teachers.
- :mod:`.teachers`: cross-encoder, bi-encoder, BM25 and LLM-judge teachers behind one interface.
- :mod:`.pipeline`: attach passage text, score pairs chunk by chunk, build output records.
- :mod:`.filters`: the distillation filters (source in top K, source ranked first, bottom X%, list size,
  percentile min-max normalisation).
"""

from synrank.score.filters import FilterConfig, apply_filters
from synrank.score.fusion import combine_teachers, fuse, norm_sum, rrf
from synrank.score.lists import Candidate, QueryList, fuse_inputs, read_lists
from synrank.score.pipeline import ScoreConfig, attach_text, output_record, score_lists

__all__ = [
    "Candidate",
    "FilterConfig",
    "QueryList",
    "ScoreConfig",
    "apply_filters",
    "attach_text",
    "combine_teachers",
    "fuse",
    "fuse_inputs",
    "norm_sum",
    "output_record",
    "read_lists",
    "rrf",
    "score_lists",
]
