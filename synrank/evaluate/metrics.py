"""Metrics with the names users know (ir_measures style), computed by pytrec_eval (trec_eval's C code).

Supported: ``nDCG@k`` (graded gains, trec_eval's ``ndcg_cut``), ``R@k`` (``recall_k``), ``P@k`` (``P_k``),
``RR@k`` (reciprocal rank of the first relevant document within the top k), ``RR`` (full depth), ``AP``
(``map`` over the whole run) and ``AP@k`` (``map_cut_k``).

Conventions, the same as trec_eval with ``-c``:
- averages are taken over every query in the qrels (restricted to the evaluated query set); a query with
  no retrieved documents scores 0 on every metric;
- a query whose judgments are all below ``rel_level`` has nothing to find and scores 0 (callers are told
  which queries these are);
- ties in the run are broken as trec_eval does (descending doc id), including for the ``RR@k`` cut-off;
- unjudged documents count as non-relevant.

``rel_level`` is the minimum grade counted as relevant by binary metrics (R, P, RR, AP); nDCG always uses
the graded gains. TREC DL passage ranking uses ``rel_level=2`` for its binary metrics.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from synrank.errors import ConfigError

DEFAULT_METRICS = ("nDCG@10", "R@100", "RR@10", "AP")
_PATTERN = re.compile(r"^(nDCG|R|P|RR|AP)(?:@(\d+))?$")


@dataclass(frozen=True)
class Metric:
    name: str
    family: str
    cutoff: int | None

    @property
    def trec_measure(self) -> str:
        if self.family == "nDCG":
            return f"ndcg_cut_{self.cutoff}" if self.cutoff else "ndcg"
        if self.family == "R":
            return f"recall_{self.cutoff}"
        if self.family == "P":
            return f"P_{self.cutoff}"
        if self.family == "AP":
            return f"map_cut_{self.cutoff}" if self.cutoff else "map"
        return "recip_rank"  # RR: cut-off applied by truncating the run


def parse_metrics(names: str | Iterable[str]) -> list[Metric]:
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    out = []
    for name in names:
        m = _PATTERN.match(name)
        if not m:
            raise ConfigError(f"unknown metric {name!r} (use nDCG@k, R@k, P@k, RR, RR@k, AP, AP@k)")
        family, cutoff = m.group(1), int(m.group(2)) if m.group(2) else None
        if family in ("R", "P") and cutoff is None:
            raise ConfigError(f"metric {name!r} needs a cut-off, e.g. {family}@10")
        if cutoff is not None and cutoff <= 0:
            raise ConfigError(f"metric {name!r}: the cut-off must be positive")
        out.append(Metric(name, family, cutoff))
    if not out:
        raise ConfigError("no metrics given")
    return out


def _trec_sorted(docs: Mapping[str, float]) -> list[tuple[str, float]]:
    """trec_eval's order: score descending, then doc id descending."""
    return sorted(docs.items(), key=lambda x: (x[1], x[0]), reverse=True)


def evaluate_run(
    run: Mapping[str, Mapping[str, float]],
    qrels: Mapping[str, Mapping[str, int]],
    metrics: str | Iterable[str] = DEFAULT_METRICS,
    *,
    rel_level: int = 1,
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Return ``(aggregate, per_query)`` for every query in ``qrels``.

    ``run`` is ``{qid: {doc_id: score}}``; ``qrels`` is ``{qid: {doc_id: grade}}``.
    """
    import pytrec_eval

    parsed = parse_metrics(metrics)
    qrels = {q: {d: int(g) for d, g in docs.items()} for q, docs in qrels.items() if docs}
    full = {q: {d: float(s) for d, s in docs.items()} for q, docs in run.items() if q in qrels and docs}
    per_query: dict[str, dict[str, float]] = {q: {m.name: 0.0 for m in parsed} for q in qrels}

    plain = [m for m in parsed if m.family != "RR"]
    if plain and full:
        ev = pytrec_eval.RelevanceEvaluator(qrels, {m.trec_measure for m in plain}, relevance_level=rel_level)
        for q, vals in ev.evaluate(full).items():
            for m in plain:
                per_query[q][m.name] = float(vals[m.trec_measure])

    for m in (m for m in parsed if m.family == "RR"):
        runs = full if m.cutoff is None else {q: dict(_trec_sorted(d)[: m.cutoff]) for q, d in full.items()}
        if runs:
            ev = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}, relevance_level=rel_level)
            for q, vals in ev.evaluate(runs).items():
                per_query[q][m.name] = float(vals["recip_rank"])

    n = len(per_query)
    aggregate = {m.name: (sum(v[m.name] for v in per_query.values()) / n if n else 0.0) for m in parsed}
    return aggregate, per_query


def queries_without_relevant(qrels: Mapping[str, Mapping[str, int]], rel_level: int = 1) -> list[str]:
    return [q for q, docs in qrels.items() if not any(g >= rel_level for g in docs.values())]
