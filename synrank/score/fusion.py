"""Rank fusion of several candidate lists, and combination of several teachers' scores.

- Reciprocal rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009): ``rrf(d) = sum_r 1 / (k + rank_r(d))``
  with ranks from 1 and ``k = 60``; a document missing from a list gets nothing from it.
- Normalised sum (CombSUM): each list's scores are min-max (or z-score) normalised per query, then summed;
  a document missing from a list gets 0 from it.
Ties in the fused score are broken by the best rank the document had in any list, then by doc id,
so fusion is deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from synrank.errors import ConfigError

FUSIONS = ("rrf", "minmax", "zscore")
RRF_K = 60


def minmax(values: Sequence[float]) -> list[float]:
    """Min-max to [0, 1]; a constant list maps to all 1.0 (every item is as good as the best)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return []
    lo, hi = float(arr.min()), float(arr.max())
    if hi - lo <= 0:
        return [1.0] * arr.size
    return ((arr - lo) / (hi - lo)).tolist()


def zscore(values: Sequence[float]) -> list[float]:
    """(x - mean) / std (population std); a constant list maps to all 0.0."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return []
    sd = float(arr.std())
    if sd <= 0:
        return [0.0] * arr.size
    return ((arr - arr.mean()) / sd).tolist()


def rrf(rankings: Sequence[Sequence[str]], k: int = RRF_K) -> dict[str, float]:
    """Fuse rankings (doc ids, best first) by reciprocal rank; returns ``{doc_id: fused score}``."""
    if k < 0:
        raise ConfigError(f"must be >= 0 (got {k})", setting="rrf_k")
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking, start=1):
            fused[doc] = fused.get(doc, 0.0) + 1.0 / (k + rank)
    return fused


def norm_sum(scored: Sequence[Mapping[str, float]], norm: str = "minmax") -> dict[str, float]:
    """CombSUM of per-list normalised scores (``norm`` = minmax or zscore); returns ``{doc_id: fused score}``."""
    fn = {"minmax": minmax, "zscore": zscore}.get(norm)
    if fn is None:
        raise ConfigError(f"unknown score normalisation {norm!r} (minmax, zscore)")
    fused: dict[str, float] = {}
    for lst in scored:
        ids = list(lst)
        for doc, value in zip(ids, fn([lst[d] for d in ids])):
            fused[doc] = fused.get(doc, 0.0) + value
    return fused


def fuse(
    rankings: Sequence[Sequence[str]],
    scores: Sequence[Mapping[str, float] | None] | None = None,
    method: str = "rrf",
    k: int = RRF_K,
) -> list[tuple[str, float]]:
    """Fuse lists into one ranking, best first, as ``(doc_id, fused score)``.

    ``rankings[i]`` is list i's doc ids best first; ``scores[i]`` its scores (needed for minmax/zscore).
    """
    if method == "rrf":
        fused = rrf(rankings, k)
    elif method in ("minmax", "zscore"):
        if scores is None or any(s is None for s in scores):
            raise ConfigError(f"{method} needs a score for every candidate (use rrf for rank-only inputs)", setting="fuse")
        fused = norm_sum([s for s in scores if s is not None], method)
    else:
        raise ConfigError(f"unknown fusion {method!r} (use one of {', '.join(FUSIONS)})", setting="fuse")
    best_rank: dict[str, int] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking, start=1):
            best_rank[doc] = min(best_rank.get(doc, rank), rank)
    return sorted(fused.items(), key=lambda kv: (-kv[1], best_rank.get(kv[0], 0), kv[0]))


def combine_teachers(per_teacher: Sequence[Sequence[float]], method: str = "mean", k: int = RRF_K) -> list[float]:
    """Combine several teachers' scores for one query's list into one score per candidate.

    ``mean``: mean of each teacher's per-query min-max normalised scores (teachers' raw scales differ).
    ``rrf``: reciprocal rank fusion of the teachers' rankings (ties share the better rank order by position).
    One teacher: its raw scores, unchanged.
    """
    if not per_teacher:
        raise ValueError("no teacher scores")
    if len(per_teacher) == 1:
        return [float(x) for x in per_teacher[0]]
    n = len(per_teacher[0])
    if method == "mean":
        normed = np.asarray([minmax(s) for s in per_teacher], dtype=np.float64)
        return normed.mean(axis=0).tolist()
    if method == "rrf":
        out = np.zeros(n, dtype=np.float64)
        for s in per_teacher:
            order = sorted(range(n), key=lambda i: (-s[i], i))
            for rank, i in enumerate(order, start=1):
                out[i] += 1.0 / (k + rank)
        return out.tolist()
    raise ConfigError(f"unknown value {method!r} (use one of mean, rrf)", setting="teacher_combine")


def fuse_runs(
    runs: Sequence[Mapping[str, Mapping[str, float]]],
    method: str = "rrf",
    k: int = RRF_K,
    depth: int = 0,
    top: int = 1000,
) -> dict[str, list[tuple[str, float]]]:
    """Fuse whole runs ``{query_id: {doc_id: score}}`` query by query (queries in first-seen order).

    Each run's list is ranked by descending score (ties by doc id, as in a TREC file) and cut at ``depth``
    before fusion; the fused list is cut at ``top`` (0 = no cut). A query missing from a run gets nothing
    from it, the usual convention of RRF and CombSUM."""
    order: dict[str, None] = {}
    for run in runs:
        for qid in run:
            order.setdefault(qid, None)
    fused: dict[str, list[tuple[str, float]]] = {}
    for qid in order:
        rankings: list[list[str]] = []
        scores: list[Mapping[str, float]] = []
        for run in runs:
            docs = run.get(qid)
            if not docs:
                continue
            ranked = sorted(docs.items(), key=lambda kv: (-kv[1], kv[0]))
            if depth > 0:
                ranked = ranked[:depth]
            rankings.append([d for d, _ in ranked])
            scores.append(dict(ranked))
        result = fuse(rankings, scores, method, k)
        fused[qid] = result[:top] if top > 0 else result
    return fused
