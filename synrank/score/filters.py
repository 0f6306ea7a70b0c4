"""The list filters of listwise distillation (Tamber et al., 2025, "CADeT"), each optional and counted.

By default every filter follows the reference code (manveertamber/cadet-dense-retrieval); each departure
synrank used to make is still available as a named setting. Applied in this order to scored lists whose
candidates are sorted by teacher score (best first):

1. ``require_source_in_top=K``: keep a query only if its source passage (``source_doc_id``, the passage
   the synthetic query was written from) is among the top K first-stage candidates. With
   ``source_in_top_scope="per-input"`` (reference, ``query_generation/retriever_filtering_step.py``) each
   input run is tested on its own *before fusion* (see :func:`synrank.score.lists.select_lists`), so this
   step has nothing left to do here; ``"fused"`` tests the fused rank here (synrank before);
2. ``min_list_size=M``: drop lists with fewer than M passages (reference: 20, in
   ``query_generation/generate_jsonl_for_reranking.py`` and ``reranker/filter_by_reranker.py``);
   ``None`` means ``list_size``, 0 keeps short lists;
3. ``require_source_top1``: keep a query only if the teacher ranks the source passage first;
4. statistics: per group of lists (``stats_by="query-type"``: one group per query type, as the reference
   normalises each query type's file on its own; ``"all"``: one group), the percentiles of *every*
   candidate's teacher score of the lists kept so far (reference ``reranker/normalize_scores.py``);
5. ``drop_bottom_pct=X``: ``drop_bottom_by="score-percentile"`` (reference) drops a query whose top
   teacher score is below the X-th percentile of its group's passage scores; ``"query-count"`` drops the
   ``floor(n * X / 100)`` queries with the lowest top score (synrank before);
6. ``list_size=N``: keep the N best-scored passages of each list;
7. ``normalize``: ``pct-minmax`` maps teacher scores to [0, 1] by min-max with the ``pct_low`` and
   ``pct_high`` percentiles as min and max, clipped. ``pct_stats="all-candidates"`` (reference) takes them
   from step 4, before the drop and the truncation; ``"kept"`` from the scores left after steps 5-6
   (synrank before). ``minmax`` does plain min-max per query. The raw teacher score is kept as
   ``raw_score``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from synrank.config import check_choices, setting
from synrank.errors import ConfigError
from synrank.score.fusion import minmax

NORMALIZE = ("none", "minmax", "pct-minmax")
_GENERATED_ID = re.compile(r"^(.+)-(\d+)$")


@dataclass(kw_only=True)
class FilterConfig:
    """Filter settings; field names are the ``score`` command's setting names (errors name them)."""

    require_source_in_top: int = setting(0, help="Keep queries whose source passage is in the top K first-stage candidates; 0 = off.")
    source_in_top_scope: str = setting(
        "per-input",
        help="Where --require-source-in-top looks: per-input (each input run on its own, before fusion; an input whose run fails drops out of the query's pool, as the CADeT reference) or fused (the fused rank; earlier synrank).",
        choices=("per-input", "fused"),
    )
    require_source_top1: bool = setting(False, help="Keep queries whose source passage the teacher ranks first.")
    min_list_size: int | None = setting(
        None, help="Drop lists with fewer passages (the CADeT reference requires 20). Default: --list-size; 0 keeps short lists (earlier synrank)."
    )
    drop_bottom_pct: float = setting(0.0, help="Drop queries with a low top teacher score: see --drop-bottom-by. 0 = off.")
    drop_bottom_by: str = setting(
        "score-percentile",
        help="score-percentile: drop a query whose top teacher score is below the --drop-bottom-pct percentile of all passages' scores (CADeT reference); query-count: drop that percentage of queries with the lowest top score (earlier synrank).",
        choices=("score-percentile", "query-count"),
    )
    list_size: int = setting(0, help="Keep the N best-scored passages per query; 0 = all.")
    normalize: str = setting(
        "none", help="Teacher scores: none, minmax (per query) or pct-minmax (percentile min-max, clipped to [0,1]).", choices=NORMALIZE
    )
    pct_low: float = setting(1.0, help="pct-minmax: percentile used as the minimum.")
    pct_high: float = setting(99.0, help="pct-minmax: percentile used as the maximum.")
    pct_stats: str = setting(
        "all-candidates",
        help="pct-minmax percentiles over all-candidates (every passage of the lists that passed the source filters, before --drop-bottom-pct and --list-size; CADeT reference) or kept (the scores left after them; earlier synrank).",
        choices=("all-candidates", "kept"),
    )
    stats_by: str = setting(
        "query-type",
        help="Percentiles of --drop-bottom-pct and pct-minmax computed per query-type (the `type` of generated queries; CADeT reference) or over all queries (earlier synrank).",
        choices=("query-type", "all"),
    )

    def __post_init__(self) -> None:
        check_choices(self)
        for name in ("require_source_in_top", "list_size", "min_list_size"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError(f"must be >= 0 (got {value})", setting=name)
        if not 0 <= self.drop_bottom_pct < 100:
            raise ConfigError(f"must be in [0, 100) (got {self.drop_bottom_pct:g})", setting="drop_bottom_pct")
        if not 0 <= self.pct_low < self.pct_high <= 100:
            raise ConfigError(f"percentiles must satisfy 0 <= pct_low < pct_high <= 100 (got {self.pct_low:g}, {self.pct_high:g})", setting="pct_low")

    def validate(self) -> None:
        """Re-check after fields were changed in place (construction already checks)."""
        FilterConfig.__post_init__(self)

    @property
    def needs_source(self) -> bool:
        return self.require_source_in_top > 0 or self.require_source_top1

    @property
    def effective_min_list_size(self) -> int:
        return self.list_size if self.min_list_size is None else self.min_list_size

    def filter_settings(self) -> dict[str, Any]:
        """Only the filter settings (for manifests), also when called on a subclass with more fields."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(FilterConfig)}


def query_type(lst: dict[str, Any]) -> str | None:
    """The query type of a scored list: its ``query_type``/``type`` field or ``meta``'s (generated queries
    carry ``type``); else read from a generated query id ``<source_doc_id>-<type>-<n>`` (what
    ``generate --task queries`` writes, and what survives ``search``, which keeps only the source id);
    else ``None``."""
    for holder in (lst, lst.get("meta") or {}):
        for key in ("query_type", "type"):
            value = holder.get(key)
            if value is not None:
                return str(value)
    src, qid = lst.get("source_doc_id"), str(lst.get("query_id", ""))
    if src is not None and qid.startswith(f"{src}-"):
        m = _GENERATED_ID.match(qid[len(str(src)) + 1 :])
        if m:
            return m.group(1)
    return None


def _group_key(lst: dict[str, Any], by: str) -> str:
    if by == "all":
        return ""
    return query_type(lst) or ""


def _groups(lists: list[dict[str, Any]], by: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for lst in lists:
        out.setdefault(_group_key(lst, by), []).append(lst)
    return out


def _percentiles(lists: list[dict[str, Any]], pcts: list[float]) -> list[float]:
    scores = np.asarray([c["score"] for lst in lists for c in lst["candidates"]], dtype=np.float64)
    return [float(x) for x in np.percentile(scores, pcts)]


def _top_score(lst: dict[str, Any]) -> float:
    return float(lst["candidates"][0]["score"])


def _stats_summary(stats: dict[str, dict[str, float]]) -> dict[str, Any]:
    """One group: its numbers at the top level (``low``, ``high``...); several: ``by_query_type``."""
    if len(stats) == 1:
        return dict(next(iter(stats.values())))
    return {"by_query_type": {k or "(none)": v for k, v in stats.items()}}


def apply_filters(lists: list[dict[str, Any]], config: FilterConfig) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Filter scored lists (``{"query_id", "source_doc_id"?, "query_type"?, "candidates": [{"doc_id",
    "score", "rank"}]}``, candidates best first by teacher). Returns the kept lists (new objects) and a
    summary of what each filter removed."""
    config.validate()
    summary: dict[str, Any] = {"queries_in": len(lists), "removed": {}}
    kept = [dict(lst, candidates=[dict(c) for c in lst["candidates"]]) for lst in lists if lst["candidates"]]
    if len(kept) < len(lists):
        summary["removed"]["empty_list"] = len(lists) - len(kept)
    if config.needs_source and lists and not any(lst.get("source_doc_id") for lst in lists):
        raise ConfigError("source-passage filters need a source_doc_id per query (from `generate --task queries`); none found", setting="require_source_top1" if config.require_source_top1 else "require_source_in_top")
    kept = _source_and_size_filters(kept, config, summary["removed"])
    # The reference takes its cutoff and min/max from one pass over every passage of the lists that
    # survived the source filters, before dropping queries or truncating lists.
    early = config.normalize == "pct-minmax" and config.pct_stats == "all-candidates"
    stats = _pct_stats(kept, config) if early and kept else {}
    if config.drop_bottom_pct > 0 and kept:
        kept = _drop_bottom(kept, config, summary)
    if config.list_size > 0:
        for lst in kept:
            lst["candidates"] = lst["candidates"][: config.list_size]
    if config.normalize == "pct-minmax" and kept and not early:
        stats = _pct_stats(kept, config)
    _normalize(kept, config, summary, stats)
    summary["queries_out"] = len(kept)
    return kept, summary


def _source_and_size_filters(kept: list[dict[str, Any]], config: FilterConfig, removed: dict[str, int]) -> list[dict[str, Any]]:
    """The list filters, in the reference's order: source passage in the fused top k, list size, source
    passage the teacher's top 1. ``removed`` gets each one's count."""
    if config.require_source_in_top > 0 and config.source_in_top_scope == "fused":
        k = config.require_source_in_top
        before = len(kept)
        kept = [
            lst
            for lst in kept
            if lst.get("source_doc_id") is not None
            and any(c["doc_id"] == lst["source_doc_id"] and c.get("rank") is not None and c["rank"] <= k for c in lst["candidates"])
        ]
        removed[f"source_not_in_top_{k}"] = before - len(kept)
    min_size = config.effective_min_list_size
    if min_size > 0:
        before = len(kept)
        kept = [lst for lst in kept if len(lst["candidates"]) >= min_size]
        removed[f"fewer_than_{min_size}_passages"] = before - len(kept)
    if config.require_source_top1:
        before = len(kept)
        kept = [lst for lst in kept if lst.get("source_doc_id") is not None and lst["candidates"][0]["doc_id"] == lst["source_doc_id"]]
        removed["source_not_teacher_top1"] = before - len(kept)
    return kept


def _pct_stats(kept: list[dict[str, Any]], config: FilterConfig) -> dict[str, dict[str, float]]:
    """Each group's ``low`` and ``high`` percentile of the candidates' scores (pct-minmax)."""
    stats = {}
    for key, members in _groups(kept, config.stats_by).items():
        lo, hi = _percentiles(members, [config.pct_low, config.pct_high])
        stats[key] = {"low": lo, "high": hi}
    return stats


def _drop_bottom(kept: list[dict[str, Any]], config: FilterConfig, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Drop the queries whose top teacher score is in the bottom ``drop_bottom_pct``: by a score percentile
    per group, or by rank (the bottom share of the queries)."""
    before = len(kept)
    if config.drop_bottom_by == "score-percentile":
        cutoffs = {key: _percentiles(members, [config.drop_bottom_pct])[0] for key, members in _groups(kept, config.stats_by).items()}
        kept = [lst for lst in kept if _top_score(lst) >= cutoffs[_group_key(lst, config.stats_by)]]
        summary["bottom_cutoff"] = _stats_summary({k: {"cutoff": v} for k, v in cutoffs.items()})
        summary["removed"][f"top_score_below_p{config.drop_bottom_pct:g}"] = before - len(kept)
        return kept
    n_drop = math.floor(len(kept) * config.drop_bottom_pct / 100)
    order = sorted(range(len(kept)), key=lambda i: (_top_score(kept[i]), i))
    dropped = set(order[:n_drop])
    if n_drop:
        summary["bottom_threshold"] = _top_score(kept[order[n_drop - 1]])
    summary["removed"][f"bottom_{config.drop_bottom_pct:g}pct_top_score"] = n_drop
    return [lst for i, lst in enumerate(kept) if i not in dropped]


def _normalize(kept: list[dict[str, Any]], config: FilterConfig, summary: dict[str, Any], stats: dict[str, dict[str, float]]) -> None:
    """Rescale the scores in place (the raw one kept as ``raw_score``): pct-minmax with ``stats``, or per-query minmax."""
    if config.normalize == "pct-minmax" and kept:
        summary["normalize"] = {
            "method": "pct-minmax",
            "low_pct": config.pct_low,
            "high_pct": config.pct_high,
            "stats": config.pct_stats,
            **_stats_summary(stats),
        }
        for lst in kept:
            st = stats[_group_key(lst, config.stats_by)]
            lo, span = st["low"], st["high"] - st["low"]
            for c in lst["candidates"]:
                c["raw_score"] = c["score"]
                c["score"] = 1.0 if span <= 0 else float(min(1.0, max(0.0, (c["score"] - lo) / span)))
    elif config.normalize == "minmax":
        summary["normalize"] = {"method": "minmax (per query)"}
        for lst in kept:
            for c, s in zip(lst["candidates"], minmax([c["score"] for c in lst["candidates"]])):
                c["raw_score"] = c["score"]
                c["score"] = s
