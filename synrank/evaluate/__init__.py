"""Retrieval metrics (pytrec_eval), dataset resolution (BEIR folders, ir_datasets ids) and reports.

The stage: ``synrank.evaluate.run(EvalConfig(index=..., dataset=...))``.
"""

from __future__ import annotations

from synrank._lazy import lazy_exports

# Each name is imported from its submodule on first use, so reading a config at start-up (the CLI) loads no NumPy.
_WHERE = {
    "DEFAULT_METRICS": "metrics",
    "evaluate_run": "metrics",
    "parse_metrics": "metrics",
    "EvalConfig": "stage",
    "EvalResult": "stage",
    "run": "stage",
}

__all__ = sorted(_WHERE)

__getattr__ = lazy_exports("synrank.evaluate", _WHERE)

