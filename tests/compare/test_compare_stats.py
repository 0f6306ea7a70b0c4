"""Paired tests and corrections against independent references: scipy.stats, exact enumeration,
hand-computed cases and ranx's own tests."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats
from helpers import scifact_runs

from synrank.compare.correction import adjust, bonferroni, holm
from synrank.compare.stats import bootstrap, paired_t_test, randomization_test, wilcoxon_test


@pytest.fixture(scope="module")
def real_diffs(scifact_dir):
    """Per-query nDCG@10 and AP of three BM25 variants on the 300 SciFact test queries (pytrec_eval)."""
    from synrank.evaluate.metrics import evaluate_run

    runs, qrels = scifact_runs(str(scifact_dir))
    per = {name: evaluate_run(run, qrels, ["nDCG@10", "AP"])[1] for name, run in runs.items()}
    qids = sorted(per["bm25"])
    arr = {n: np.array([[p[q]["nDCG@10"], p[q]["AP"]] for q in qids]) for n, p in per.items()}
    return arr


def test_t_test_matches_scipy_ttest_rel_on_real_scores(real_diffs):
    base = real_diffs["bm25"]
    for other in ("bm25-nostem", "bm25-notitle"):
        ours = paired_t_test(real_diffs[other] - base)
        for m in range(2):
            ref = stats.ttest_rel(real_diffs[other][:, m], base[:, m]).pvalue
            assert ours[m] == pytest.approx(ref, rel=1e-10)


def test_t_test_hand_computed():
    # d = (1, 2, 3, 4, 10): mean 4, sd sqrt(12.5), t = 4 / (sqrt(12.5)/sqrt(5)) = 2.5298..., df = 4.
    d = np.array([1.0, 2, 3, 4, 10])
    t = 4 / (math.sqrt(12.5) / math.sqrt(5))
    assert t == pytest.approx(2.5298221281347035)
    assert paired_t_test(d)[0] == pytest.approx(2 * stats.t.sf(t, 4), rel=1e-12)
    assert paired_t_test(np.zeros(7))[0] == 1.0  # identical systems: no evidence, not NaN
    assert paired_t_test(np.full(7, 0.1))[0] == 0.0  # the same gain on every query: zero variance


def test_wilcoxon_matches_scipy_and_exact_case(real_diffs):
    base = real_diffs["bm25"]
    d = real_diffs["bm25-notitle"] - base
    ours = wilcoxon_test(d)
    for m in range(2):
        ref = stats.wilcoxon(real_diffs["bm25-notitle"][:, m], base[:, m]).pvalue
        assert ours[m] == pytest.approx(ref, rel=1e-10)
    # Exact null distribution by hand: 5 positive, distinct differences -> W- = 0, P(W- = 0) = 1/32, two-sided 2/32.
    assert wilcoxon_test(np.array([0.1, 0.2, 0.3, 0.4, 0.5]))[0] == pytest.approx(2 / 32)
    assert wilcoxon_test(np.zeros(5))[0] == 1.0


def _exact_randomization_p(d: np.ndarray) -> float:
    obs = abs(d.sum())
    hits = sum(abs(np.dot(s, d)) >= obs - 1e-12 for s in itertools.product((-1.0, 1.0), repeat=len(d)))
    return hits / 2 ** len(d)


def test_randomization_close_to_exact_enumeration():
    rng = np.random.default_rng(3)
    d = np.round(rng.normal(0.15, 0.4, size=12), 2)
    exact = _exact_randomization_p(d)
    p = randomization_test(d, permutations=40_000, seed=1)[0]
    se = math.sqrt(exact * (1 - exact) / 40_000)
    assert abs(p - exact) < 4 * se + 1e-4, (p, exact)


def test_randomization_reproducible_with_seed_and_vectorised_consistently():
    rng = np.random.default_rng(0)
    d = rng.normal(0.02, 0.3, size=(500, 3))
    a = randomization_test(d, permutations=2000, seed=7)
    assert np.array_equal(a, randomization_test(d, permutations=2000, seed=7))
    assert not np.array_equal(a, randomization_test(d, permutations=2000, seed=8))
    # Each column of a batched call is the single-column test with the same sign flips.
    assert a[1] == randomization_test(d[:, 1], permutations=2000, seed=7)[0]
    assert np.all((a > 0) & (a <= 1))


def test_randomization_close_to_t_test_on_large_sample():
    rng = np.random.default_rng(11)
    d = rng.normal(0.01, 0.25, size=(5000, 4))
    d[:, 1] += 0.005
    d[:, 3] = rng.normal(0.0, 0.25, size=5000)
    p_rand = randomization_test(d, permutations=20_000, seed=3)
    p_t = paired_t_test(d)
    assert np.allclose(p_rand, p_t, atol=0.015), (p_rand, p_t)


def test_bootstrap_ci_matches_scipy_percentile_bootstrap(real_diffs):
    d = real_diffs["bm25-notitle"][:, 0] - real_diffs["bm25"][:, 0]
    ours = bootstrap(d, resamples=20_000, confidence=0.95, seed=5)
    ref = stats.bootstrap((d,), np.mean, n_resamples=20_000, confidence_level=0.95, method="percentile", random_state=9)
    width = ref.confidence_interval.high - ref.confidence_interval.low
    assert ours.low[0] == pytest.approx(ref.confidence_interval.low, abs=0.05 * width)
    assert ours.high[0] == pytest.approx(ref.confidence_interval.high, abs=0.05 * width)
    assert ours.low[0] < d.mean() < ours.high[0]


def test_bootstrap_p_close_to_t_test_on_large_sample_and_seeded():
    rng = np.random.default_rng(2)
    d = rng.normal(0.006, 0.2, size=(4000, 2))
    res = bootstrap(d, resamples=20_000, seed=1)
    assert np.allclose(res.p_value, paired_t_test(d), atol=0.02)
    again = bootstrap(d, resamples=20_000, seed=1)
    assert np.array_equal(res.low, again.low) and np.array_equal(res.p_value, again.p_value)
    # Normal-theory CI for a large sample: mean +- 1.96 * sd / sqrt(n).
    half = 1.959964 * d.std(ddof=1, axis=0) / math.sqrt(len(d))
    assert np.allclose(res.low, d.mean(axis=0) - half, atol=0.1 * half)
    assert np.allclose(res.high, d.mean(axis=0) + half, atol=0.1 * half)


def test_holm_and_bonferroni_hand_computed():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # Bonferroni: 4p capped at 1.
    assert bonferroni(p) == pytest.approx([0.04, 0.16, 0.12, 0.02])
    # Holm: sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> monotone 0.02, 0.03, 0.06, 0.06.
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # Capping at 1 and keeping order.
    assert holm(np.array([0.5, 0.4, 0.6])) == pytest.approx([1.0, 1.0, 1.0])
    assert holm(np.array([0.001, 0.2, 0.3])) == pytest.approx([0.003, 0.4, 0.4])
    assert adjust(p, "none") == pytest.approx(p)
    # Holm never rejects less than Bonferroni.
    rng = np.random.default_rng(0)
    q = rng.random(50) ** 3
    assert np.all(holm(q) <= bonferroni(q) + 1e-15)


@pytest.mark.slow
def test_randomization_agrees_with_ranx_fisher(real_diffs):
    """ranx's Fisher randomisation test (numba) on the same per-query scores: p within Monte Carlo error."""
    from ranx.statistical_tests import fisher_randomization_test

    base = real_diffs["bm25"]
    for other in ("bm25-nostem", "bm25-notitle"):
        ours = randomization_test(real_diffs[other] - base, permutations=20_000, seed=1)
        for m in range(2):
            ref, _ = fisher_randomization_test(base[:, m].copy(), real_diffs[other][:, m].copy(), 20_000, 0.05, 42)
            se = math.sqrt(max(ref * (1 - ref), 1e-4) / 20_000)
            assert abs(ours[m] - ref) < 6 * se + 2e-4, (other, m, ours[m], ref)
