"""Speed of `synrank compare`'s randomisation test against ranx's `compare`, side by side in one run.

Input (the same for both): S systems x Q queries, synthetic runs of `--depth` documents per query over
judged candidates (2 relevant per query, system quality varies), metric nDCG@10, Fisher randomisation test
with P permutations. Defaults are the issue's setting: 10 systems x 10,000 queries x 10,000 permutations.

Timed, from the same in-memory runs and qrels:
  synrank   evaluate every run (pytrec_eval) + align + compare(): 9 tests vs the baseline, Holm,
            bootstrap CIs (10,000 resamples) and win/tie/loss counts
  synrank*  the same evaluation + randomisation tests for ALL 45 pairs (what ranx's table covers)
  ranx      Qrels/Run construction + ranx.compare(stat_test="fisher"): evaluation and tests for every
            ordered pair (ranx runs 90), after a warm-up call that compiles its numba code

    python bench/compare.py                 # the issue's setting (ranx takes ~15 min on 2 cores)
    python bench/compare.py --queries 2000 --permutations 2000   # a quick look
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time

import numpy as np


def make_data(systems: int, queries: int, depth: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    candidates = 50
    qrels = {f"q{i}": {f"q{i}-d0": 2, f"q{i}-d1": 1} for i in range(queries)}
    runs = {}
    for s in range(systems):
        quality = 1.0 + 0.05 * s  # later systems rank relevant documents a little higher
        scores = rng.normal(size=(queries, candidates))
        scores[:, :2] += quality * rng.normal(1.0, 0.5, size=(queries, 2))
        top = np.argsort(-scores, axis=1)[:, :depth]
        runs[f"sys{s}"] = {
            f"q{i}": {f"q{i}-d{int(j)}": float(scores[i, j]) for j in top[i]} for i in range(queries)
        }
    return runs, qrels


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--systems", type=int, default=10)
    ap.add_argument("--queries", type=int, default=10_000)
    ap.add_argument("--permutations", type=int, default=10_000)
    ap.add_argument("--depth", type=int, default=20, help="documents per query in each run")
    ap.add_argument("--skip-ranx", action="store_true", help="time synrank only")
    args = ap.parse_args()

    from synrank.compare import Settings, align, compare
    from synrank.compare.inputs import System
    from synrank.compare.stats import randomization_test
    from synrank.evaluate.metrics import evaluate_run

    S, Q, P = args.systems, args.queries, args.permutations
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"# {S} systems x {Q:,} queries x {P:,} permutations, nDCG@10, depth {args.depth}, {cores} cores", flush=True)
    (runs, qrels), t_data = timed(lambda: make_data(S, Q, args.depth))
    print(f"data generated in {t_data:.1f}s", flush=True)
    names = list(runs)

    def evaluate_all():
        return {n: evaluate_run(runs[n], qrels, ["nDCG@10"])[1] for n in names}

    def synrank_compare(per):
        systems = [System(n, n, "run", per[n], ["nDCG@10"], set(runs[n])) for n in names]
        settings = Settings(test="randomization", permutations=P, resamples=10_000, correction="holm")
        return compare(align(systems, ["nDCG@10"]), baseline=0, settings=settings)

    per, t_eval = timed(evaluate_all)
    cmp, t_cmp = timed(lambda: synrank_compare(per))
    t_syn = t_eval + t_cmp
    print(f"synrank : {t_syn:8.2f}s  (evaluate {t_eval:.2f}s + 9 tests, CIs, Holm {t_cmp:.2f}s)", flush=True)

    qids = cmp.qids
    scores = np.array([[per[n][q]["nDCG@10"] for q in qids] for n in names])
    pairs = list(itertools.combinations(range(S), 2))
    diffs = np.stack([scores[b] - scores[a] for a, b in pairs], axis=1)
    p_all, t_pairs = timed(lambda: randomization_test(diffs, permutations=P, seed=42))
    t_syn_all = t_eval + t_pairs
    print(f"synrank*: {t_syn_all:8.2f}s  (evaluate {t_eval:.2f}s + {len(pairs)} pairwise tests {t_pairs:.2f}s)", flush=True)

    if args.skip_ranx:
        return 0
    try:
        from ranx import Qrels, Run
        from ranx import compare as ranx_compare
    except ImportError:
        print("ranx is not installed (pip install ranx): cannot time it", file=sys.stderr)
        return 1

    # Warm-up: numba compiles ranx's metric and test kernels on first use; not part of the steady-state time.
    (small_runs, small_qrels) = make_data(2, 50, 10, seed=1)
    _, t_jit = timed(
        lambda: ranx_compare(
            Qrels(small_qrels), [Run(r, name=n) for n, r in small_runs.items()], ["ndcg@10"], stat_test="fisher", n_permutations=10
        )
    )
    print(f"ranx warm-up (numba compile) {t_jit:.1f}s", flush=True)

    def ranx_all():
        q = Qrels(qrels)
        rs = [Run(runs[n], name=n) for n in names]
        return ranx_compare(q, rs, ["ndcg@10"], stat_test="fisher", n_permutations=P, max_p=0.05, random_seed=42)

    report, t_ranx = timed(ranx_all)
    print(f"ranx    : {t_ranx:8.2f}s  (Qrels/Run + evaluate + Fisher test for every ordered pair)", flush=True)

    # Same answers? Means equal; p-values equal within Monte Carlo error (different random streams).
    mean_err = max(abs(report.results[n]["ndcg@10"] - cmp.cells[i][0].mean) for i, n in enumerate(names))
    p_err = []
    for k, (a, b) in enumerate(pairs):
        ref = report.comparisons[frozenset([names[a], names[b]])]["ndcg@10"]["p_value"]
        p_err.append(abs(p_all[k] - ref) / max(np.sqrt(max(ref * (1 - ref), 1e-4) / P), 1e-12))
    print(f"max |mean difference| vs ranx: {mean_err:.2e};  max p-value gap: {max(p_err):.1f} Monte Carlo SE")
    print()
    print(f"speed-up vs ranx: synrank compare (9 tests + CIs) {t_ranx / t_syn:.1f}x;  all {len(pairs)} pairs {t_ranx / t_syn_all:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
