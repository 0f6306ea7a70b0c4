"""Retrieval metrics (pytrec_eval), dataset resolution (BEIR folders, ir_datasets ids) and reports."""

from synrank.evaluate.metrics import DEFAULT_METRICS, evaluate_run, parse_metrics

__all__ = ["DEFAULT_METRICS", "evaluate_run", "parse_metrics"]
