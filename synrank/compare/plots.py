"""Headless matplotlib figures of a comparison: sorted per-query deltas and metric distributions.

Figures are built with ``matplotlib.figure.Figure`` (no pyplot, no GUI backend, no global state) and written
atomically, so a failed or interrupted plot never leaves a half-written PNG.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from synrank.compare.analysis import Comparison
from synrank.compare.stats import TEST_LABELS
from synrank.formats.io import atomic_write

# Colour-blind-safe palette (Okabe & Ito, with grey for the yellow that is hard to see on white); past 8
# systems the colours repeat with another line style.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#999999", "#000000")
LINESTYLES = ("-", "--", ":", "-.")


def _grid(n: int) -> tuple[int, int]:
    cols = 1 if n == 1 else 2
    return math.ceil(n / cols), cols


def _figure(n_panels: int, width: float, height: float):
    from matplotlib.figure import Figure

    rows, cols = _grid(n_panels)
    if cols == 1:
        width *= 1.3  # a lone panel gets room for its legend and the two-line title
    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def _save(fig, path: str | Path) -> None:
    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format=fmt, dpi=130)


def plot_deltas(cmp: Comparison, path: str | Path) -> int:
    """Write :func:`deltas_figure` to ``path``; returns the number of panels."""
    fig = deltas_figure(cmp)
    _save(fig, path)
    return len(cmp.metrics)


def plot_distributions(cmp: Comparison, path: str | Path) -> int:
    """Write :func:`distributions_figure` to ``path``; returns the number of panels."""
    fig = distributions_figure(cmp)
    _save(fig, path)
    return len(cmp.metrics)


def deltas_figure(cmp: Comparison):
    """Per-query delta of each system vs the baseline, sorted, one panel per metric."""
    b = cmp.names.index(cmp.baseline)
    others = [s for s in range(len(cmp.names)) if s != b]
    fig, axes = _figure(len(cmp.metrics), 6.4, 4.0)
    n = cmp.n_queries
    x = np.arange(1, n + 1)
    for m, ax in enumerate(axes):
        for k, s in enumerate(others):
            d = np.sort(cmp.deltas(s, m))[::-1]
            c = cmp.cells[s][m]
            colour = PALETTE[k % len(PALETTE)]
            label = f"{cmp.names[s]}: Δ {c.delta:+.4f}{'*' if c.significant else ''}  W/T/L {c.wins}/{c.ties}/{c.losses}"
            style = LINESTYLES[(k // len(PALETTE)) % len(LINESTYLES)]
            ax.step(x, d, where="mid", color=colour, linestyle=style, linewidth=1.6, label=label)
            if len(others) == 1:
                # One system: shade gains and losses so the balance is visible at a glance.
                ax.fill_between(x, d, 0, where=d > 0, step="mid", color="#009E73", alpha=0.25, linewidth=0)
                ax.fill_between(x, d, 0, where=d < 0, step="mid", color="#D55E00", alpha=0.25, linewidth=0)
        ax.axhline(0.0, color="0.3", linewidth=0.8)
        ax.set_title(f"{cmp.metrics[m]}: per-query Δ vs {cmp.baseline}", fontsize=11)
        ax.set_xlabel(f"queries, sorted by Δ (n = {n})")
        ax.set_ylabel(f"Δ {cmp.metrics[m]}")
        ax.set_xlim(0.5, n + 0.5)
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(loc="best", fontsize=8, framealpha=0.9)
    corr = "uncorrected" if cmp.settings.correction == "none" else f"{cmp.settings.correction.capitalize()}-corrected"
    fig.suptitle(
        f"Per-query differences to the baseline\n{TEST_LABELS[cmp.settings.test]}; * = significant at α = {cmp.settings.alpha:g} ({corr})",
        fontsize=11,
    )
    return fig


def distributions_figure(cmp: Comparison):
    """Per-query metric distributions of every system (box = quartiles, diamond = mean), one panel per metric."""
    fig, axes = _figure(len(cmp.metrics), 6.4, 4.0)
    positions = np.arange(1, len(cmp.names) + 1)
    for m, ax in enumerate(axes):
        data = [cmp.scores[s, m] for s in range(len(cmp.names))]
        parts = ax.violinplot(data, positions=positions, showextrema=False, widths=0.85)
        for k, body in enumerate(parts["bodies"]):
            body.set_facecolor(PALETTE[k % len(PALETTE)])
            body.set_alpha(0.3)
        ax.boxplot(data, positions=positions, widths=0.25, showfliers=False, medianprops={"color": "black"})
        means = [float(v.mean()) for v in data]
        ax.scatter(positions, means, marker="D", color="white", edgecolor="black", zorder=3)
        for p, v in zip(positions, means):
            ax.annotate(f"{v:.3f}", (p, v), xytext=(8, 0), textcoords="offset points", fontsize=8, va="center")
        ax.set_xticks(positions, cmp.names, rotation=20 if len(cmp.names) > 3 else 0, ha="right" if len(cmp.names) > 3 else "center")
        ax.set_title(f"{cmp.metrics[m]} per query (n = {cmp.n_queries})", fontsize=11)
        ax.set_ylabel(cmp.metrics[m])
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle("Per-query metric distributions\nviolin = density, box = quartiles, ◇ = mean", fontsize=11)
    return fig
