"""Mean and spread over training seeds, per configuration, from TREC runs: the table of docs/results.md.

Runs named ``CONFIG-s<SEED>`` are grouped by ``CONFIG``; a name without a seed suffix is its own group.
For each group: mean nDCG@10 and R@100 over seeds, the spread (min-max and sample standard deviation), and
a paired two-sided t-test of the seed-averaged per-query nDCG@10 against the baseline (scipy), i.e. the
configuration's expected per-query score, not one lucky seed.

    python examples/seed_summary.py --qrels QRELS --baseline base RUN... --names NAME,NAME,...
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict

import numpy as np
from scipy import stats

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
    ap.add_argument("--qrels", required=True)
    ap.add_argument("--baseline", required=True, help="group name the p-values are computed against")
    args = ap.parse_args()
    names = args.names.split(",")
    if len(names) != len(args.runs):
        print(f"seed_summary: {len(args.runs)} runs but {len(names)} names", file=sys.stderr)
        return 2
    try:
        qrels = read_qrels(args.qrels)
        groups: dict[str, list[dict[str, dict[str, float]]]] = defaultdict(list)
        seeds: dict[str, list[str]] = defaultdict(list)
        for path, name in zip(args.runs, names):
            m = SEED.match(name)
            config = m["config"] if m else name
            _, per_query = evaluate_run(read_trec_run(path), qrels, METRICS)
            groups[config].append(per_query)
            seeds[config].append(m["seed"] if m else "-")
    except SynrankError as exc:
        print(f"seed_summary: error: {exc.one_line()}", file=sys.stderr)
        return 2
    if args.baseline not in groups:
        print(f"seed_summary: no run named {args.baseline!r}", file=sys.stderr)
        return 2
    qids = sorted(qrels)

    def per_query_mean(config: str, metric: str) -> np.ndarray:
        return np.mean([[pq[q][metric] for q in qids] for pq in groups[config]], axis=0)

    base = per_query_mean(args.baseline, "nDCG@10")
    print(f"| configuration | seeds | nDCG@10 mean | nDCG@10 min-max | nDCG@10 sd | R@100 mean | Δ nDCG@10 | p (paired t, {len(qids)} queries) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for config, runs in groups.items():
        per_seed = [np.mean([pq[q]["nDCG@10"] for q in qids]) for pq in runs]
        recall = np.mean([np.mean([pq[q]["R@100"] for q in qids]) for pq in runs])
        sd = f"{np.std(per_seed, ddof=1):.4f}" if len(per_seed) > 1 else "-"
        mine = per_query_mean(config, "nDCG@10")
        if config == args.baseline or np.allclose(mine, base):
            p = "-"
        else:
            p = f"{stats.ttest_rel(mine, base).pvalue:.3g}"
        print(
            f"| {config} | {','.join(seeds[config])} | {np.mean(per_seed):.4f} | {min(per_seed):.4f}-{max(per_seed):.4f} | {sd} "
            f"| {recall:.4f} | {np.mean(per_seed) - base.mean():+.4f} | {p} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
