"""Compare every system with the baseline on every metric: means, deltas, bootstrap CIs, paired tests,
multiple-comparison correction over the whole table, and win/tie/loss counts."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from synrank.compare.correction import adjust
from synrank.compare.inputs import Aligned
from synrank.compare.settings import Settings
from synrank.compare.stats import TIE_EPS, bootstrap, run_test


@dataclass
class Cell:
    """One system on one metric (the baseline's cells carry only the mean)."""

    mean: float
    delta: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    significant: bool | None = None
    wins: int | None = None
    ties: int | None = None
    losses: int | None = None


@dataclass
class Comparison:
    names: list[str]
    metrics: list[str]
    baseline: str
    qids: list[str]
    scores: np.ndarray  # (systems, metrics, queries)
    cells: list[list[Cell]]  # [system][metric]
    settings: Settings
    family_size: int  # comparisons the correction was applied over
    missing: dict[str, int]
    dropped: int

    @property
    def n_queries(self) -> int:
        return len(self.qids)

    def deltas(self, system: int, metric: int) -> np.ndarray:
        b = self.names.index(self.baseline)
        return self.scores[system, metric] - self.scores[b, metric]

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "metrics": self.metrics,
            "num_queries": self.n_queries,
            "test": self.settings.test,
            "correction": self.settings.correction,
            "family_size": self.family_size,
            "settings": asdict(self.settings),
            "missing_counted_as_zero": self.missing,
            "dropped_by_intersect": self.dropped,
            "systems": [
                {"name": name, "baseline": name == self.baseline, "metrics": {m: asdict(c) for m, c in zip(self.metrics, row)}}
                for name, row in zip(self.names, self.cells)
            ],
        }


def compare(aligned: Aligned, baseline: int = 0, settings: Settings | None = None) -> Comparison:
    """Test every non-baseline system against ``aligned.names[baseline]`` on every metric."""
    st = settings or Settings()
    S, M, _ = aligned.scores.shape
    others = [s for s in range(S) if s != baseline]
    # One column per (system, metric) comparison, so all tests run as one vectorised call.
    diffs = np.stack([aligned.scores[s, m] - aligned.scores[baseline, m] for s in others for m in range(M)], axis=1)
    boot = bootstrap(diffs, resamples=st.resamples, confidence=st.confidence, seed=st.seed)
    if st.test == "bootstrap":
        p = boot.p_value
    else:
        p = run_test(st.test, diffs, permutations=st.permutations, resamples=st.resamples, seed=st.seed)
    p_adj = adjust(p, st.correction)
    means = aligned.scores.mean(axis=2)
    cells: list[list[Cell]] = [[Cell(mean=float(means[s, m])) for m in range(M)] for s in range(S)]
    col = 0
    for s in others:
        for m in range(M):
            d = diffs[:, col]
            cells[s][m] = Cell(
                mean=float(means[s, m]),
                delta=float(d.mean()),
                ci_low=float(boot.low[col]),
                ci_high=float(boot.high[col]),
                p_value=float(p[col]),
                p_adjusted=float(p_adj[col]),
                significant=bool(p_adj[col] <= st.alpha),
                wins=int(np.count_nonzero(d > TIE_EPS)),
                ties=int(np.count_nonzero(np.abs(d) <= TIE_EPS)),
                losses=int(np.count_nonzero(d < -TIE_EPS)),
            )
            col += 1
    return Comparison(
        names=list(aligned.names),
        metrics=list(aligned.metrics),
        baseline=aligned.names[baseline],
        qids=list(aligned.qids),
        scores=aligned.scores,
        cells=cells,
        settings=st,
        family_size=diffs.shape[1],
        missing=dict(aligned.missing),
        dropped=aligned.dropped,
    )
