"""Paired significance tests, multiple-comparison correction, tables and plots for retrieval runs.

Library use (the stage, as ``synrank compare`` runs it)::

    from synrank.compare import CompareConfig, run
    report = run(CompareConfig(inputs=["base.json", "kd.json"], test="randomization"))
    print(report.render("markdown"))

or the parts::

    from synrank.compare import load_results, align, compare, Settings, render
    systems = [load_results("base.json", "base"), load_results("kd.json", "kd")]
    cmp = compare(align(systems, ["nDCG@10"]), baseline=0, settings=Settings(test="randomization"))
    print(render(cmp, "markdown"))

Names are imported on first use, so reading the stage's config (as the CLI does at start-up) does not
load NumPy or SciPy.
"""

from __future__ import annotations

from synrank._lazy import lazy_exports

_WHERE = {
    "run": "stage",
    "CompareConfig": "stage",
    "CompareReport": "stage",
    "Cell": "analysis",
    "Comparison": "analysis",
    "Settings": "settings",
    "compare": "analysis",
    "CORRECTIONS": "correction",
    "adjust": "correction",
    "bonferroni": "correction",
    "holm": "correction",
    "Aligned": "inputs",
    "System": "inputs",
    "align": "inputs",
    "default_names": "inputs",
    "load_results": "inputs",
    "load_run": "inputs",
    "pick_metrics": "inputs",
    "TESTS": "stats",
    "bootstrap": "stats",
    "paired_t_test": "stats",
    "randomization_test": "stats",
    "run_test": "stats",
    "wilcoxon_test": "stats",
    "FORMATS": "tables",
    "render": "tables",
    "rich_table": "tables",
}

__all__ = sorted(_WHERE)

__getattr__ = lazy_exports("synrank.compare", _WHERE)
