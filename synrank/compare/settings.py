"""The statistical settings of a comparison (:class:`Settings`), with their defaults and help text.

:func:`synrank.compare.analysis.compare` runs them; the ``compare`` stage config takes its defaults from here, so
each is written once. Light on purpose (no numpy or scipy): the CLI reads it at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass

from synrank.config import setting


@dataclass
class Settings:
    """The statistical settings of a comparison."""

    test: str = setting("t-test", help="Paired test: t-test, randomization (Fisher; alias permutation), wilcoxon, bootstrap.")
    correction: str = setting("holm", help="Multiple-comparison correction over all cells of the table: holm, bonferroni, none.")
    alpha: float = setting(0.05, help="Significance level applied to the corrected p-values.")
    permutations: int = setting(10_000, help="Random sign flips for the randomization test.")
    resamples: int = setting(10_000, help="Bootstrap resamples for the confidence intervals (and the bootstrap test).")
    confidence: float = setting(0.95, help="Confidence level of the bootstrap intervals of the mean difference.")
    seed: int = setting(42, help="Seed of the randomization test's sign flips and of the bootstrap resamples.")


__all__ = ["Settings"]
