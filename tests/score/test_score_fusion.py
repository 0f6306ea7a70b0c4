"""Fusion and teacher combination against hand-computed values and ranx (an independent implementation)."""

from __future__ import annotations

import pytest

from synrank.errors import ConfigError
from synrank.score.fusion import combine_teachers, fuse, minmax, rrf


def test_rrf_hand_computed():
    # list A: a b c ; list B: c d a   (k = 60)
    fused = rrf([["a", "b", "c"], ["c", "d", "a"]], k=60)
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 63)
    assert fused["b"] == pytest.approx(1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert fused["d"] == pytest.approx(1 / 62)
    ranked = fuse([["a", "b", "c"], ["c", "d", "a"]], method="rrf")
    # a and c tie (best rank 1 each) -> doc id; b and d tie (best rank 2) -> doc id
    assert [d for d, _ in ranked] == ["a", "c", "b", "d"]


def test_rrf_other_k():
    fused = rrf([["x", "y"]], k=0)
    assert fused == {"x": 1.0, "y": 0.5}


def _ranx_fuse(runs, method, norm=None):
    ranx = pytest.importorskip("ranx")
    kwargs = {"method": method}
    if norm:
        kwargs["norm"] = norm
    return ranx.fuse([ranx.Run(r) for r in runs], **kwargs).to_dict()


@pytest.mark.slow  # ranx JIT-compiles its kernels with numba on first use (~20 s)
def test_rrf_matches_ranx():
    runs = [
        {"q": {"d1": 9.0, "d2": 7.5, "d3": 3.0, "d4": 1.0}},
        {"q": {"d3": 0.9, "d5": 0.8, "d1": 0.1}},
        {"q": {"d6": 2.0, "d2": 1.0}},
    ]
    rankings = [sorted(r["q"], key=lambda d: -r["q"][d]) for r in runs]
    ours = dict(fuse(rankings, method="rrf"))
    ref = _ranx_fuse(runs, "rrf")["q"]
    assert set(ours) == set(ref)
    for d in ref:
        assert ours[d] == pytest.approx(ref[d], rel=1e-9)


@pytest.mark.slow
def test_minmax_sum_matches_ranx():
    runs = [
        {"q": {"d1": 9.0, "d2": 7.5, "d3": 3.0, "d4": 1.0}},
        {"q": {"d3": 0.9, "d5": 0.8, "d1": 0.1}},
    ]
    rankings = [sorted(r["q"], key=lambda d: -r["q"][d]) for r in runs]
    ours = dict(fuse(rankings, [r["q"] for r in runs], method="minmax"))
    ref = _ranx_fuse(runs, "sum", "min-max")["q"]
    for d in ref:
        assert ours[d] == pytest.approx(ref[d], abs=1e-9)
    # by hand: d3 = (3-1)/8 + 1 = 1.25 ; d1 = 1 + 0 = 1.0
    assert ours["d3"] == pytest.approx(1.25)
    assert ours["d1"] == pytest.approx(1.0)


def test_zscore_sum_by_hand():
    ranked = dict(fuse([["a", "b", "c"]], [{"a": 3.0, "b": 2.0, "c": 1.0}], method="zscore"))
    sd = (2 / 3) ** 0.5  # population std of 3, 2, 1
    assert ranked["a"] == pytest.approx(1 / sd)
    assert ranked["b"] == pytest.approx(0.0)


def test_score_fusion_needs_scores():
    with pytest.raises(ConfigError):
        fuse([["a"], ["b"]], [None, {"b": 1.0}], method="minmax")
    with pytest.raises(ConfigError):
        fuse([["a"]], method="borda")


def test_minmax_constant_list():
    assert minmax([2.0, 2.0]) == [1.0, 1.0]
    assert minmax([1.0, 3.0, 2.0]) == [0.0, 1.0, 0.5]


def test_combine_teachers():
    t1 = [10.0, 0.0, 5.0]
    t2 = [0.2, 0.4, 0.3]
    assert combine_teachers([t1]) == t1
    mean = combine_teachers([t1, t2], "mean")
    assert mean == pytest.approx([(1.0 + 0.0) / 2, (0.0 + 1.0) / 2, (0.5 + 0.5) / 2])
    r = combine_teachers([t1, t2], "rrf")
    # ranks: t1 -> [1, 3, 2]; t2 -> [3, 1, 2]
    assert r == pytest.approx([1 / 61 + 1 / 63, 1 / 63 + 1 / 61, 2 / 62])
    with pytest.raises(ConfigError):
        combine_teachers([t1, t2], "max")
