"""Mean and spread over training seeds, per configuration: the table of docs/results.md.

Each input is a TREC run (scored against --qrels) or a `synrank eval --out` results file (its per-query
values are used as they are, so a model whose checkpoint is gone still counts, e.g.
examples/data/scifact/evals-640/). Inputs named ``CONFIG-s<SEED>`` are grouped by ``CONFIG``; a name without a
seed suffix is its own group. For each group: mean nDCG@10 and R@100 over seeds, the spread (min-max and
sample standard deviation), and a paired two-sided t-test of the seed-averaged per-query nDCG@10 against the
baseline (scipy), i.e. the configuration's expected per-query score, not one lucky seed; the last column
Holm-corrects those p-values over the rows of the table.

    python examples/seed_summary.py [--qrels QRELS] --baseline base RUN_OR_EVAL... --names NAME,NAME,...
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict

import numpy as np
from scipy import stats

from synrank.compare.correction import holm
from synrank.compare.inputs import load_results, looks_like_json
from synrank.errors import SynrankError
from synrank.evaluate.metrics import evaluate_run
from synrank.formats.qrels import read_qrels
from synrank.formats.runs import read_trec_run

METRICS = ("nDCG@10", "R@100")
SEED = re.compile(r"^(?P<config>.+)-s(?P<seed>\d+)$")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--names", required=True, help="comma-separated, one per run")
    ap.add_argument("--qrels", help="qrels the TREC runs are scored with (not needed when every input is an eval JSON)")
    ap.add_argument("--baseline", required=True, help="group name the p-values are computed against")
    args = ap.parse_args()
    names = args.names.split(",")
    if len(names) != len(args.runs):
        print(f"seed_summary: {len(args.runs)} runs but {len(names)} names", file=sys.stderr)
        return 2
    try:
        qrels = read_qrels(args.qrels) if args.qrels else None
        groups: dict[str, list[dict[str, dict[str, float]]]] = defaultdict(list)
        seeds: dict[str, list[str]] = defaultdict(list)
        for path, name in zip(args.runs, names):
            m = SEED.match(name)
            config = m["config"] if m else name
            if looks_like_json(path):
                per_query = load_results(path, name).per_query
            elif qrels is None:
                print(f"seed_summary: {path} is a TREC run: pass --qrels to score it", file=sys.stderr)
                return 2
            else:
                _, per_query = evaluate_run(read_trec_run(path), qrels, METRICS)
            groups[config].append(per_query)
            seeds[config].append(m["seed"] if m else "-")
    except SynrankError as exc:
        print(f"seed_summary: error: {exc.one_line()}", file=sys.stderr)
        return 2
    if args.baseline not in groups:
        print(f"seed_summary: no run named {args.baseline!r}", file=sys.stderr)
        return 2
    # Every input must cover the same queries, or the paired test would pair different things.
    qids = sorted(groups[args.baseline][0])
    for config, runs in groups.items():
        if any(set(pq) != set(qids) for pq in runs):
            print(f"seed_summary: {config} was evaluated on other queries than {args.baseline}", file=sys.stderr)
            return 2

    def per_query_mean(config: str, metric: str) -> np.ndarray:
        return np.mean([[pq[q][metric] for q in qids] for pq in groups[config]], axis=0)

    base = per_query_mean(args.baseline, "nDCG@10")
    p_values: dict[str, float] = {}
    for config in groups:
        mine = per_query_mean(config, "nDCG@10")
        if config != args.baseline and not np.allclose(mine, base):
            p_values[config] = float(stats.ttest_rel(mine, base).pvalue)
    adjusted = dict(zip(p_values, holm(np.array(list(p_values.values()))))) if p_values else {}
    print(
        f"| configuration | seeds | nDCG@10 mean | nDCG@10 min-max | nDCG@10 sd | R@100 mean | Δ nDCG@10 "
        f"| p (paired t, {len(qids)} queries) | p (Holm over {len(p_values)} rows) |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for config, runs in groups.items():
        per_seed = [np.mean([pq[q]["nDCG@10"] for q in qids]) for pq in runs]
        recall = np.mean([np.mean([pq[q]["R@100"] for q in qids]) for pq in runs])
        sd = f"{np.std(per_seed, ddof=1):.4f}" if len(per_seed) > 1 else "-"
        p = f"{p_values[config]:.3g}" if config in p_values else "-"
        p_holm = f"{adjusted[config]:.3g}" if config in adjusted else "-"
        print(
            f"| {config} | {','.join(seeds[config])} | {np.mean(per_seed):.4f} | {min(per_seed):.4f}-{max(per_seed):.4f} | {sd} "
            f"| {recall:.4f} | {np.mean(per_seed) - base.mean():+.4f} | {p} | {p_holm} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
