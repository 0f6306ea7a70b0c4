"""Retrieval metrics (pytrec_eval), dataset resolution (BEIR folders, ir_datasets ids) and reports.

The stage: ``synrank.evaluate.run(EvalConfig(index=..., dataset=...))``.
"""

from synrank.evaluate.metrics import DEFAULT_METRICS, evaluate_run, parse_metrics
from synrank.evaluate.stage import EvalConfig, EvalResult, run

__all__ = ["DEFAULT_METRICS", "EvalConfig", "EvalResult", "evaluate_run", "parse_metrics", "run"]
