"""Multiple-comparison correction of p-values (family-wise error rate across every cell of a table)."""

from __future__ import annotations

import numpy as np

CORRECTIONS = ("holm", "bonferroni", "none")


def bonferroni(p_values: np.ndarray) -> np.ndarray:
    """Bonferroni-adjusted p-values: ``min(1, m * p)``."""
    p = np.asarray(p_values, dtype=np.float64)
    return np.minimum(1.0, p * p.size)


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979): sort ascending, multiply the i-th smallest
    (0-based) by ``m - i``, then make the sequence non-decreasing and cap it at 1. Rejecting where the
    adjusted p <= alpha is exactly Holm's procedure at level alpha."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = p[order] * (m - np.arange(m))
    adjusted_sorted = np.minimum(1.0, np.maximum.accumulate(scaled))
    out = np.empty(m)
    out[order] = adjusted_sorted
    return out


def adjust(p_values: np.ndarray, method: str) -> np.ndarray:
    """Adjust a flat family of p-values with ``holm``, ``bonferroni`` or ``none``."""
    if method == "holm":
        return holm(p_values)
    if method == "bonferroni":
        return bonferroni(p_values)
    if method == "none":
        return np.asarray(p_values, dtype=np.float64).copy()
    raise ValueError(f"unknown correction {method!r}")
