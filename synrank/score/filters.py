"""The list filters of listwise distillation (Tamber et al., 2025), each optional and counted.

Applied in this order to lists whose candidates are sorted by teacher score (best first):
1. ``source_in_top=K``: keep a query only if its source passage (``source_doc_id``, the passage the
   synthetic query was written from) is among the top K *first-stage* candidates;
2. ``source_top1``: keep it only if the teacher ranks the source passage first;
3. ``drop_bottom_pct=X``: drop the ``floor(n * X / 100)`` queries with the lowest top teacher score;
4. ``list_size=N``: keep the N best-scored passages of each list;
5. ``normalize``: ``pct-minmax`` maps teacher scores to [0, 1] by min-max with the 1st and 99th
   percentiles of *all* kept scores as min and max, clipped; ``minmax`` does plain min-max per query.
   The raw teacher score is kept as ``raw_score``.
Truncating before normalising means the percentiles describe the scores the student is trained on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from synrank.errors import ConfigError
from synrank.score.fusion import minmax

NORMALIZE = ("none", "minmax", "pct-minmax")


@dataclass
class FilterConfig:
    source_in_top: int = 0  # 0 = off
    source_top1: bool = False
    drop_bottom_pct: float = 0.0
    list_size: int = 0  # 0 = keep all
    normalize: str = "none"
    pct_low: float = 1.0
    pct_high: float = 99.0

    def validate(self) -> None:
        if self.source_in_top < 0 or self.list_size < 0:
            raise ConfigError("--require-source-in-top and --list-size must be >= 0")
        if not 0 <= self.drop_bottom_pct < 100:
            raise ConfigError("--drop-bottom-pct must be in [0, 100)")
        if self.normalize not in NORMALIZE:
            raise ConfigError(f"unknown --normalize {self.normalize!r} (use one of {', '.join(NORMALIZE)})")
        if not 0 <= self.pct_low < self.pct_high <= 100:
            raise ConfigError("percentiles must satisfy 0 <= --pct-low < --pct-high <= 100")

    @property
    def needs_source(self) -> bool:
        return self.source_in_top > 0 or self.source_top1


def _top_score(lst: dict[str, Any]) -> float:
    return float(lst["candidates"][0]["score"])


def apply_filters(lists: list[dict[str, Any]], config: FilterConfig) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Filter scored lists (``{"query_id", "source_doc_id"?, "candidates": [{"doc_id", "score", "rank"}]}``,
    candidates best first by teacher). Returns the kept lists (new objects) and a summary of what each
    filter removed."""
    config.validate()
    summary: dict[str, Any] = {"queries_in": len(lists), "removed": {}}
    kept = [dict(lst, candidates=[dict(c) for c in lst["candidates"]]) for lst in lists if lst["candidates"]]
    if len(kept) < len(lists):
        summary["removed"]["empty_list"] = len(lists) - len(kept)

    if config.needs_source and lists and not any(lst.get("source_doc_id") for lst in lists):
        raise ConfigError("source-passage filters need a source_doc_id per query (from `generate --task queries`); none found")

    if config.source_in_top > 0:
        k = config.source_in_top
        before = len(kept)
        kept = [
            lst
            for lst in kept
            if lst.get("source_doc_id") is not None
            and any(c["doc_id"] == lst["source_doc_id"] and c.get("rank") is not None and c["rank"] <= k for c in lst["candidates"])
        ]
        summary["removed"][f"source_not_in_top_{k}"] = before - len(kept)

    if config.source_top1:
        before = len(kept)
        kept = [lst for lst in kept if lst.get("source_doc_id") is not None and lst["candidates"][0]["doc_id"] == lst["source_doc_id"]]
        summary["removed"]["source_not_teacher_top1"] = before - len(kept)

    if config.drop_bottom_pct > 0:
        n_drop = math.floor(len(kept) * config.drop_bottom_pct / 100)
        order = sorted(range(len(kept)), key=lambda i: (_top_score(kept[i]), i))
        dropped = set(order[:n_drop])
        if n_drop:
            summary["bottom_threshold"] = _top_score(kept[order[n_drop - 1]])
        kept = [lst for i, lst in enumerate(kept) if i not in dropped]
        summary["removed"][f"bottom_{config.drop_bottom_pct:g}pct_top_score"] = n_drop

    if config.list_size > 0:
        for lst in kept:
            lst["candidates"] = lst["candidates"][: config.list_size]

    if config.normalize == "pct-minmax" and kept:
        allscores = np.asarray([c["score"] for lst in kept for c in lst["candidates"]], dtype=np.float64)
        lo, hi = (float(x) for x in np.percentile(allscores, [config.pct_low, config.pct_high]))
        summary["normalize"] = {"method": "pct-minmax", "low_pct": config.pct_low, "high_pct": config.pct_high, "low": lo, "high": hi}
        span = hi - lo
        for lst in kept:
            for c in lst["candidates"]:
                c["raw_score"] = c["score"]
                c["score"] = 1.0 if span <= 0 else float(min(1.0, max(0.0, (c["score"] - lo) / span)))
    elif config.normalize == "minmax":
        summary["normalize"] = {"method": "minmax (per query)"}
        for lst in kept:
            for c, s in zip(lst["candidates"], minmax([c["score"] for c in lst["candidates"]])):
                c["raw_score"] = c["score"]
                c["score"] = s
    summary["queries_out"] = len(kept)
    return kept, summary
