"""Paired significance tests, multiple-comparison correction, tables and plots for retrieval runs.

Library use::

    from synrank.compare import load_results, align, compare, Settings, render
    systems = [load_results("base.json", "base"), load_results("kd.json", "kd")]
    cmp = compare(align(systems, ["nDCG@10"]), baseline=0, settings=Settings(test="randomization"))
    print(render(cmp, "markdown"))
"""

from synrank.compare.analysis import Cell, Comparison, Settings, compare
from synrank.compare.correction import CORRECTIONS, adjust, bonferroni, holm
from synrank.compare.inputs import Aligned, System, align, default_names, load_results, load_run, pick_metrics
from synrank.compare.stats import TESTS, bootstrap, paired_t_test, randomization_test, run_test, wilcoxon_test
from synrank.compare.tables import FORMATS, render, rich_table

__all__ = [
    "CORRECTIONS",
    "FORMATS",
    "TESTS",
    "Aligned",
    "Cell",
    "Comparison",
    "Settings",
    "System",
    "adjust",
    "align",
    "bonferroni",
    "bootstrap",
    "compare",
    "default_names",
    "holm",
    "load_results",
    "load_run",
    "paired_t_test",
    "pick_metrics",
    "randomization_test",
    "render",
    "rich_table",
    "run_test",
    "wilcoxon_test",
]
