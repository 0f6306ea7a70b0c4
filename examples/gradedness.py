"""How graded are generated graded documents? An independent scorer's view of SyCL's levels (issue 32).

Input: `synrank score` output over `generate --task docs` documents, one file per scorer (the teacher, BM25, the
base student...): every candidate has the scorer's `score` and the nominal `label` (the level asked for), e.g.

    synrank score sycl-docs.jsonl --teacher bi-encoder:minilm --out docs-minilm.jsonl
    synrank score sycl-docs.jsonl --teacher bm25 --out docs-bm25.jsonl
    python examples/gradedness.py docs-minilm.jsonl docs-bm25.jsonl --names minilm,bm25 [--out gradedness.json]

Per scorer, over the queries with at least two distinct levels:
- Kendall tau-b between level and score per query (scipy), its mean, and a one-sample t-test of the mean against 0
  (what random scores give);
- the share of queries whose passages, sorted by score, come out in level order (ties in level in any order), and
  its chance value (the mean over queries of prod(n_level!) / n!);
- the share whose highest level ranks first, and its chance value (the mean of n_top / n), with a two-sided
  binomial test against it (scipy; exact when every query has the same chance, e.g. four distinct levels).
A list-wise loss has something to learn only when these are well above chance.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from synrank.errors import InputError, SynrankError
from synrank.formats.io import iter_jsonl


@dataclass
class Gradedness:
    name: str
    queries: int
    mean_tau: float
    tau_p: float
    in_order: float
    in_order_chance: float
    top_first: float
    top_first_chance: float
    top_first_p: float


def query_measures(labels: list[float], scores: list[float]) -> tuple[float, bool, bool, float, float] | None:
    """(tau-b, in level order, highest level first, chance of in order, chance of first) for one query;
    None when the query has fewer than two distinct levels (nothing to order)."""
    if len(set(labels)) < 2:
        return None
    tau = stats.kendalltau(labels, scores).statistic
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    ranked = [labels[i] for i in order]
    in_order = all(a >= b for a, b in zip(ranked, ranked[1:]))
    # Ties in score make "first" ambiguous: count it only when the top level is strictly ahead.
    best = max(scores)
    leaders = {labels[i] for i, s in enumerate(scores) if s == best}
    top_first = leaders == {max(labels)}
    counts = Counter(labels)
    n = len(labels)
    chance_order = math.prod(math.factorial(c) for c in counts.values()) / math.factorial(n)
    chance_first = counts[max(labels)] / n
    return (0.0 if math.isnan(tau) else float(tau)), in_order, top_first, chance_order, chance_first


def measure(path: str, name: str) -> Gradedness:
    rows = []
    for line, rec in iter_jsonl(path):
        cands = rec.get("candidates")
        if not isinstance(cands, list) or not cands:
            raise InputError("expected `synrank score` output: a 'candidates' list", path=path, line=line)
        try:
            labels = [float(c["label"]) for c in cands]
            scores = [float(c["score"]) for c in cands]
        except (KeyError, TypeError, ValueError):
            raise InputError("every candidate needs a numeric 'label' (the level) and 'score'", path=path, line=line) from None
        m = query_measures(labels, scores)
        if m is not None:
            rows.append(m)
    if not rows:
        raise InputError("no query has two distinct levels", path=path)
    taus = np.array([r[0] for r in rows])
    first = sum(r[2] for r in rows)
    first_chance = float(np.mean([r[4] for r in rows]))
    return Gradedness(
        name=name,
        queries=len(rows),
        mean_tau=float(taus.mean()),
        tau_p=float(stats.ttest_1samp(taus, 0.0).pvalue) if len(rows) > 1 and taus.std() > 0 else float("nan"),
        in_order=float(np.mean([r[1] for r in rows])),
        in_order_chance=float(np.mean([r[3] for r in rows])),
        top_first=first / len(rows),
        top_first_chance=first_chance,
        top_first_p=float(stats.binomtest(first, len(rows), first_chance).pvalue),
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scored", nargs="+", help="`synrank score` outputs over the same generated documents, one per scorer")
    ap.add_argument("--names", help="comma-separated, one per file (default: the file names)")
    ap.add_argument("--out", help="also write the table as JSON here")
    args = ap.parse_args()
    names = args.names.split(",") if args.names else args.scored
    if len(names) != len(args.scored):
        print(f"gradedness: {len(names)} names for {len(args.scored)} files", file=sys.stderr)
        return 2
    try:
        results = [measure(path, name) for path, name in zip(args.scored, names)]
    except SynrankError as exc:
        print(f"gradedness: {exc.one_line()}", file=sys.stderr)
        return 2
    print("| scorer | queries | mean Kendall τ (p vs 0) | in level order (chance) | top level first (chance, p) |")
    print("|---|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r.name} | {r.queries} | {r.mean_tau:+.3f} ({r.tau_p:.2g}) | {r.in_order:.1%} ({r.in_order_chance:.1%}) "
            f"| {r.top_first:.1%} ({r.top_first_chance:.1%}, {r.top_first_p:.2g}) |"
        )
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump([asdict(r) for r in results], fh, indent=2)
            fh.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
