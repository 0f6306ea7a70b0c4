"""Does a dev split rank two configurations the way the held-out real queries do?

A dev split is only worth deciding on if, for configurations known to differ, it moves in the same
direction as real queries. Give the `synrank eval --out` files of the base model and of two configurations
A and B (one file per seed; seeds are averaged per query) on the dev split and on the real queries. For each
split and metric, the script prints A - B over all queries and over two halves fixed by the *base* model
alone: ``hard`` queries (the base scores below the query's best possible value, 1, on that metric: for one
relevant passage, its source not at rank 1) and ``easy`` ones, with a paired two-sided t-test (scipy) of
the seed-averaged per-query values. A row "agrees" when the dev difference has the sign of the real one.

    python examples/dev_agreement.py --dev-base DEV_BASE.json --dev-a A1.json,A2.json --dev-b B1.json,B2.json \\
        --real-base BASE.json --real-a A1.json,A2.json --real-b B1.json,B2.json [--metrics nDCG@10,R@100]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from scipy import stats

from synrank.compare.inputs import load_results
from synrank.errors import SynrankError

SUBSETS = ("all", "hard", "easy")


def per_query(paths: list[str]) -> dict[str, dict[str, float]]:
    """Seed-averaged per-query values; a query a seed lacks counts 0 (as `synrank compare` does)."""
    systems = [load_results(p, p).per_query for p in paths]
    queries = set().union(*systems)
    metrics = {m for s in systems for row in s.values() for m in row}
    return {q: {m: float(np.mean([s.get(q, {}).get(m, 0.0) for s in systems])) for m in metrics} for q in queries}


def differences(base: dict, a: dict, b: dict, metric: str) -> dict[str, tuple[int, float, float]]:
    """subset -> (queries, mean A - B, paired t-test p) over the base model's queries."""
    out = {}
    for subset in SUBSETS:
        qids = sorted(q for q, row in base.items() if subset == "all" or (row.get(metric, 0.0) < 1.0 - 1e-9) == (subset == "hard"))
        d = np.array([a.get(q, {}).get(metric, 0.0) - b.get(q, {}).get(metric, 0.0) for q in qids])
        p = float(stats.ttest_1samp(d, 0.0).pvalue) if len(d) > 1 and d.any() else float("nan")  # = paired t of A vs B
        out[subset] = (len(qids), float(d.mean()) if len(d) else float("nan"), p)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for split in ("dev", "real"):
        ap.add_argument(f"--{split}-base", required=True, help=f"the base model's eval file on the {split} queries")
        ap.add_argument(f"--{split}-a", required=True, help="configuration A's eval files, comma-separated (one per seed)")
        ap.add_argument(f"--{split}-b", required=True, help="configuration B's eval files, comma-separated")
    ap.add_argument("--metrics", default="nDCG@10,R@100")
    args = ap.parse_args()
    try:
        table = {}
        for split in ("dev", "real"):
            base = per_query([getattr(args, f"{split}_base")])
            a = per_query(getattr(args, f"{split}_a").split(","))
            b = per_query(getattr(args, f"{split}_b").split(","))
            for metric in args.metrics.split(","):
                table[split, metric] = differences(base, a, b, metric)
    except SynrankError as exc:
        print(f"dev_agreement: error: {exc.one_line()}", file=sys.stderr)
        return 2
    print("| metric | queries | dev n | dev A-B | dev p | real n | real A-B | real p | agrees |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for metric in args.metrics.split(","):
        for subset in SUBSETS:
            dn, dd, dp = table["dev", metric][subset]
            rn, rd, rp = table["real", metric][subset]
            agrees = "—" if not (dd and rd) or np.isnan(dd) or np.isnan(rd) else ("yes" if np.sign(dd) == np.sign(rd) else "no")
            print(f"| {metric} | {subset} | {dn} | {dd:+.4f} | {dp:.3f} | {rn} | {rd:+.4f} | {rp:.3f} | {agrees} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
