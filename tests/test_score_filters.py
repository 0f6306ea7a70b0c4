"""The distillation filters on constructed lists whose outcome is known."""

from __future__ import annotations

import numpy as np
import pytest

from synrank.errors import ConfigError
from synrank.score.filters import FilterConfig, apply_filters


def mk(qid, src, cands):
    """cands: (doc_id, first-stage rank, teacher score); stored best teacher score first, as the pipeline does."""
    cs = [{"doc_id": d, "rank": r, "score": s, "text": d} for d, r, s in cands]
    cs.sort(key=lambda c: (-c["score"], c["rank"]))
    return {"query_id": qid, "query": qid, "source_doc_id": src, "meta": {}, "candidates": cs}


LISTS = [
    mk("q1", "s1", [("s1", 1, 0.9), ("x", 2, 0.5), ("y", 3, 0.1)]),  # source rank 1, teacher top-1
    mk("q2", "s2", [("x", 1, 0.8), ("y", 2, 0.7), ("s2", 3, 0.95)]),  # source rank 3, teacher top-1
    mk("q3", "s3", [("s3", 1, 0.2), ("x", 2, 0.6), ("y", 3, 0.3)]),  # source rank 1, teacher ranks it 3rd
    mk("q4", "s4", [("x", 1, 0.4), ("y", 2, 0.3)]),  # source not retrieved
    mk("q5", None, [("x", 1, 0.7)]),  # no source id
]


def ids(lists):
    return [lst["query_id"] for lst in lists]


def test_no_filters_keeps_everything():
    kept, summary = apply_filters(LISTS, FilterConfig())
    assert ids(kept) == ["q1", "q2", "q3", "q4", "q5"]
    assert summary["queries_in"] == summary["queries_out"] == 5
    assert summary["removed"] == {}


def test_source_in_top_k():
    kept, summary = apply_filters(LISTS, FilterConfig(source_in_top=2))
    assert ids(kept) == ["q1", "q3"]
    assert summary["removed"] == {"source_not_in_top_2": 3}
    kept, _ = apply_filters(LISTS, FilterConfig(source_in_top=3))
    assert ids(kept) == ["q1", "q2", "q3"]


def test_source_top1():
    kept, summary = apply_filters(LISTS, FilterConfig(source_top1=True))
    assert ids(kept) == ["q1", "q2"]
    assert summary["removed"] == {"source_not_teacher_top1": 3}


def test_filters_chain_and_count_separately():
    kept, summary = apply_filters(LISTS, FilterConfig(source_in_top=2, source_top1=True))
    assert ids(kept) == ["q1"]
    assert summary["removed"] == {"source_not_in_top_2": 3, "source_not_teacher_top1": 1}
    assert summary["queries_out"] == 1


def test_drop_bottom_pct():
    # top teacher scores: q1 .9, q2 .95, q3 .6, q4 .4, q5 .7 -> the lowest 40% (2 of 5) are q4, q3
    kept, summary = apply_filters(LISTS, FilterConfig(drop_bottom_pct=40))
    assert ids(kept) == ["q1", "q2", "q5"]
    assert summary["removed"] == {"bottom_40pct_top_score": 2}
    assert summary["bottom_threshold"] == pytest.approx(0.6)
    # 25% of 5 = 1.25 -> floor: 1 query
    kept, _ = apply_filters(LISTS, FilterConfig(drop_bottom_pct=25))
    assert ids(kept) == ["q1", "q2", "q3", "q5"]


def test_list_size_keeps_best_teacher_scores():
    kept, _ = apply_filters(LISTS, FilterConfig(list_size=2))
    assert [c["doc_id"] for c in kept[1]["candidates"]] == ["s2", "x"]
    assert [len(lst["candidates"]) for lst in kept] == [2, 2, 2, 2, 1]


def test_pct_minmax_matches_numpy_percentiles():
    rng = np.random.default_rng(0)
    lists = [mk(f"q{i}", None, [(f"d{j}", j + 1, float(rng.normal())) for j in range(20)]) for i in range(30)]
    kept, summary = apply_filters(lists, FilterConfig(normalize="pct-minmax"))
    raw = np.array([c["score"] for lst in lists for c in lst["candidates"]])
    lo, hi = np.percentile(raw, 1), np.percentile(raw, 99)
    assert summary["normalize"]["low"] == pytest.approx(lo)
    assert summary["normalize"]["high"] == pytest.approx(hi)
    got = np.array([c["score"] for lst in kept for c in lst["candidates"]])
    back = np.array([c["raw_score"] for lst in kept for c in lst["candidates"]])
    np.testing.assert_allclose(back, raw)
    np.testing.assert_allclose(got, np.clip((raw - lo) / (hi - lo), 0, 1))
    assert got.min() == 0.0 and got.max() == 1.0
    assert (got == 0).sum() >= 1 and (got == 1).sum() >= 1  # clipping happened at both ends


def test_pct_minmax_after_list_size():
    lists = [mk("q", None, [("a", 1, 10.0), ("b", 2, 5.0), ("c", 3, -100.0)])]
    kept, summary = apply_filters(lists, FilterConfig(list_size=2, normalize="pct-minmax", pct_low=0, pct_high=100))
    assert [c["score"] for c in kept[0]["candidates"]] == [1.0, 0.0]  # -100 was cut before normalising
    assert summary["normalize"]["low"] == 5.0


def test_minmax_per_query():
    kept, _ = apply_filters(LISTS[:1], FilterConfig(normalize="minmax"))
    assert [c["score"] for c in kept[0]["candidates"]] == pytest.approx([1.0, 0.5, 0.0])


def test_source_filters_need_source_ids():
    with pytest.raises(ConfigError, match="source_doc_id"):
        apply_filters([LISTS[4]], FilterConfig(source_top1=True))


@pytest.mark.parametrize(
    "cfg",
    [FilterConfig(drop_bottom_pct=100), FilterConfig(normalize="sigmoid"), FilterConfig(pct_low=50, pct_high=10), FilterConfig(list_size=-1)],
)
def test_bad_filter_options(cfg):
    with pytest.raises(ConfigError):
        apply_filters(LISTS, cfg)
