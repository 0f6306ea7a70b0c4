"""The distillation filters on constructed lists whose outcome is known.

Each reference rule (CADeT's code, manveertamber/cadet-dense-retrieval) has a test computing the expected
lists by hand or with numpy's percentiles independently; the earlier synrank behaviour, still an option,
keeps its own tests (named ``..._earlier_synrank``)."""

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


def test_source_in_top_k_fused_rank_earlier_synrank():
    kept, summary = apply_filters(LISTS, FilterConfig(require_source_in_top=2, source_in_top_scope="fused"))
    assert ids(kept) == ["q1", "q3"]
    assert summary["removed"] == {"source_not_in_top_2": 3}
    kept, _ = apply_filters(LISTS, FilterConfig(require_source_in_top=3, source_in_top_scope="fused"))
    assert ids(kept) == ["q1", "q2", "q3"]


def test_source_top1():
    kept, summary = apply_filters(LISTS, FilterConfig(require_source_top1=True))
    assert ids(kept) == ["q1", "q2"]
    assert summary["removed"] == {"source_not_teacher_top1": 3}


def test_filters_chain_and_count_separately():
    kept, summary = apply_filters(LISTS, FilterConfig(require_source_in_top=2, source_in_top_scope="fused", require_source_top1=True))
    assert ids(kept) == ["q1"]
    assert summary["removed"] == {"source_not_in_top_2": 3, "source_not_teacher_top1": 1}
    assert summary["queries_out"] == 1


def test_drop_bottom_query_count_earlier_synrank():
    # top teacher scores: q1 .9, q2 .95, q3 .6, q4 .4, q5 .7 -> the lowest 40% (2 of 5) are q4, q3
    kept, summary = apply_filters(LISTS, FilterConfig(drop_bottom_pct=40, drop_bottom_by="query-count"))
    assert ids(kept) == ["q1", "q2", "q5"]
    assert summary["removed"] == {"bottom_40pct_top_score": 2}
    assert summary["bottom_threshold"] == pytest.approx(0.6)
    # 25% of 5 = 1.25 -> floor: 1 query
    kept, _ = apply_filters(LISTS, FilterConfig(drop_bottom_pct=25, drop_bottom_by="query-count"))
    assert ids(kept) == ["q1", "q2", "q3", "q5"]


def test_list_size_keeps_best_teacher_scores():
    kept, _ = apply_filters(LISTS, FilterConfig(list_size=2, min_list_size=0))
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


def test_pct_minmax_after_list_size_earlier_synrank():
    lists = [mk("q", None, [("a", 1, 10.0), ("b", 2, 5.0), ("c", 3, -100.0)])]
    kept, summary = apply_filters(lists, FilterConfig(list_size=2, normalize="pct-minmax", pct_low=0, pct_high=100, pct_stats="kept"))
    assert [c["score"] for c in kept[0]["candidates"]] == [1.0, 0.0]  # -100 was cut before normalising
    assert summary["normalize"]["low"] == 5.0


def test_minmax_per_query():
    kept, _ = apply_filters(LISTS[:1], FilterConfig(normalize="minmax"))
    assert [c["score"] for c in kept[0]["candidates"]] == pytest.approx([1.0, 0.5, 0.0])


def test_source_filters_need_source_ids():
    with pytest.raises(ConfigError, match="source_doc_id"):
        apply_filters([LISTS[4]], FilterConfig(require_source_top1=True))


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [
        ({"drop_bottom_pct": 100}, "drop_bottom_pct"),
        ({"normalize": "sigmoid"}, "normalize"),
        ({"pct_low": 50, "pct_high": 10}, "pct_low"),
        ({"list_size": -1}, "list_size"),
        ({"min_list_size": -1}, "min_list_size"),
        ({"drop_bottom_by": "queries"}, "drop_bottom_by"),
        ({"stats_by": "retriever"}, "stats_by"),
    ],
)
def test_bad_filter_options_name_the_setting(kwargs, setting):
    with pytest.raises(ConfigError) as err:
        FilterConfig(**kwargs)
    assert err.value.setting == setting
    assert "--" not in err.value.message  # library errors speak of settings, not flags
    cfg = FilterConfig()
    for k, v in kwargs.items():
        setattr(cfg, k, v)
    with pytest.raises(ConfigError):
        apply_filters(LISTS, cfg)  # changed in place after construction: still refused


# -- reference semantics (CADeT) -------------------------------------------------------------------


def test_min_list_size_defaults_to_list_size():
    # reference: generate_jsonl_for_reranking.py / filter_by_reranker.py keep lists of >= 20 passages,
    # normalize_scores.py then keeps 20: with list_size=N a shorter list is dropped.
    lists = [mk("long", None, [("a", 1, 3.0), ("b", 2, 2.0), ("c", 3, 1.0)]), mk("short", None, [("a", 1, 3.0), ("b", 2, 2.0)])]
    kept, summary = apply_filters(lists, FilterConfig(list_size=3))
    assert ids(kept) == ["long"] and summary["removed"] == {"fewer_than_3_passages": 1}
    kept, _ = apply_filters(lists, FilterConfig(list_size=2, min_list_size=3))
    assert ids(kept) == ["long"] and [len(x["candidates"]) for x in kept] == [2]
    kept, summary = apply_filters(lists, FilterConfig(list_size=3, min_list_size=0))  # earlier synrank
    assert ids(kept) == ["long", "short"] and summary["removed"] == {}


def test_min_list_size_runs_before_source_top1():
    # reference filter_by_reranker.py: `len(passages) >= 20 and qid == passages[0].docid`; both counted.
    lists = [mk("q1", "s", [("s", 1, 3.0), ("x", 2, 2.0)]), mk("q2", "s", [("x", 1, 3.0), ("s", 2, 2.0), ("y", 3, 1.0)])]
    kept, summary = apply_filters(lists, FilterConfig(min_list_size=3, require_source_top1=True))
    assert kept == [] and summary["removed"] == {"fewer_than_3_passages": 1, "source_not_teacher_top1": 1}


ONE_HIGH = [mk(f"q{i}", None, [("a", 1, top), ("b", 2, 0.0), ("c", 3, 0.0)]) for i, top in enumerate([10.0, 9.0, 8.0, 7.0], 1)]


def test_drop_bottom_is_a_percentile_of_all_passage_scores():
    # reference normalize_scores.py: cutoff = np.percentile(all passages' scores, 25); drop a query when
    # passages[0] < cutoff. Scores: eight 0.0 and 7, 8, 9, 10 -> the 25th percentile is 0.0: nothing goes.
    kept, summary = apply_filters(ONE_HIGH, FilterConfig(drop_bottom_pct=25))
    assert ids(kept) == ["q1", "q2", "q3", "q4"]
    assert summary["bottom_cutoff"] == {"cutoff": 0.0} and summary["removed"] == {"top_score_below_p25": 0}
    # earlier synrank dropped a quarter of the queries whatever their scores
    kept, _ = apply_filters(ONE_HIGH, FilterConfig(drop_bottom_pct=25, drop_bottom_by="query-count"))
    assert ids(kept) == ["q1", "q2", "q3"]


def test_drop_bottom_cutoff_matches_numpy_and_keeps_equal_scores():
    rng = np.random.default_rng(1)
    lists = [mk(f"q{i}", None, [(f"d{j}", j + 1, float(rng.normal(i / 10, 1))) for j in range(20)]) for i in range(40)]
    cutoff = np.percentile([c["score"] for lst in lists for c in lst["candidates"]], 25)
    expected = [lst["query_id"] for lst in lists if not lst["candidates"][0]["score"] < cutoff]
    kept, summary = apply_filters(lists, FilterConfig(drop_bottom_pct=25))
    assert ids(kept) == expected and summary["bottom_cutoff"]["cutoff"] == pytest.approx(cutoff)
    # a top score equal to the cutoff stays (the reference drops `< cutoff`): nine 0.0 of 13 -> p25 = 0.0
    kept, _ = apply_filters([*ONE_HIGH, mk("z", None, [("a", 1, 0.0)])], FilterConfig(drop_bottom_pct=25))
    assert ids(kept) == ["q1", "q2", "q3", "q4", "z"]


def test_pct_minmax_statistics_before_drop_and_truncation():
    # reference normalize_scores.py: min/max = 1st/99th percentiles of every passage's score, computed in
    # the same pass as the cutoff, i.e. before queries are dropped and lists cut to 20.
    lists = [
        mk("q1", None, [("a", 1, 10.0), ("b", 2, 5.0), ("c", 3, 0.0)]),
        mk("q2", None, [("a", 1, 6.0), ("b", 2, 4.0), ("c", 3, 2.0)]),
    ]
    cfg = FilterConfig(list_size=1, normalize="pct-minmax", pct_low=0, pct_high=100)
    kept, summary = apply_filters(lists, cfg)
    # all six scores: min 0, max 10 -> q1's 10 -> 1.0, q2's 6 -> 0.6 (by hand)
    assert [x["candidates"][0]["score"] for x in kept] == pytest.approx([1.0, 0.6])
    assert (summary["normalize"]["low"], summary["normalize"]["high"]) == (0.0, 10.0)
    # earlier synrank: statistics of the kept (truncated) scores 10 and 6 -> 1.0 and 0.0
    cfg = FilterConfig(list_size=1, normalize="pct-minmax", pct_low=0, pct_high=100, pct_stats="kept")
    kept, _ = apply_filters(lists, cfg)
    assert [x["candidates"][0]["score"] for x in kept] == pytest.approx([1.0, 0.0])
    # a dropped query's passages still count: q3's scores widen the range (0..20 -> q1 0.5, q2 0.3)
    low = mk("q3", None, [("a", 1, -1.0), ("b", 2, -2.0), ("c", 3, -3.0)])
    high = mk("q0", None, [("a", 1, 20.0), ("b", 2, 19.0), ("c", 3, 18.0)])
    kept, summary = apply_filters([*lists, low, high], FilterConfig(drop_bottom_pct=25, normalize="pct-minmax", pct_low=0, pct_high=100))
    assert summary["bottom_cutoff"]["cutoff"] == pytest.approx(-0.25)
    assert ids(kept) == ["q1", "q2", "q0"]  # cutoff: 25th pct of the 12 scores = -0.25 (index 2.75 between -1 and 0); q3 top -1 < -0.25
    assert kept[0]["candidates"][0]["score"] == pytest.approx((10 - -3) / (20 - -3))


def test_statistics_per_query_type():
    # reference: normalize_scores.py runs once per (query type, retriever) file.
    lists = [
        dict(mk("t1", None, [("a", 1, 10.0), ("b", 2, 0.0)]), query_type="titles"),
        dict(mk("t2", None, [("a", 1, 8.0), ("b", 2, 2.0)]), query_type="titles"),
        dict(mk("c1", None, [("a", 1, 1.0), ("b", 2, 0.0)]), meta={"type": "claims"}),
        dict(mk("c2", None, [("a", 1, 0.5), ("b", 2, 0.25)]), meta={"type": "claims"}),
    ]
    cfg = FilterConfig(normalize="pct-minmax", pct_low=0, pct_high=100)
    kept, summary = apply_filters(lists, cfg)
    got = {x["query_id"]: [c["score"] for c in x["candidates"]] for x in kept}
    assert got == {"t1": [1.0, 0.0], "t2": pytest.approx([0.8, 0.2]), "c1": [1.0, 0.0], "c2": [0.5, 0.25]}
    assert summary["normalize"]["by_query_type"] == {"titles": {"low": 0.0, "high": 10.0}, "claims": {"low": 0.0, "high": 1.0}}
    kept, _ = apply_filters(lists, FilterConfig(normalize="pct-minmax", pct_low=0, pct_high=100, stats_by="all"))  # earlier synrank
    got = {x["query_id"]: [c["score"] for c in x["candidates"]] for x in kept}
    assert got["c2"] == pytest.approx([0.05, 0.025])
    # and the bottom cutoff per type: claims' 25th percentile (0.1875) would be below every titles top
    rng = np.random.default_rng(2)
    mixed = [dict(mk(f"{t}{i}", None, [(f"d{j}", j + 1, float(rng.normal(mu, 1))) for j in range(10)]), query_type=t) for t, mu in (("a", 0), ("b", 5)) for i in range(10)]
    kept, _ = apply_filters(mixed, FilterConfig(drop_bottom_pct=25))
    expected = []
    for t in ("a", "b"):
        group = [x for x in mixed if x["query_type"] == t]
        cut = np.percentile([c["score"] for x in group for c in x["candidates"]], 25)
        expected += [x["query_id"] for x in group if x["candidates"][0]["score"] >= cut]
    assert sorted(ids(kept)) == sorted(expected)


def test_pct_minmax_per_type_matches_numpy():
    rng = np.random.default_rng(3)
    lists = [dict(mk(f"{t}{i}", None, [(f"d{j}", j + 1, float(rng.normal(mu, 2))) for j in range(30)]), query_type=t) for t, mu in (("x", 0), ("y", 4)) for i in range(12)]
    kept, _ = apply_filters(lists, FilterConfig(normalize="pct-minmax"))
    for t in ("x", "y"):
        raw = np.array([c["score"] for x in lists if x["query_type"] == t for c in x["candidates"]])
        lo, hi = np.percentile(raw, [1, 99])
        got = np.array([c["score"] for x in kept if x["query_type"] == t for c in x["candidates"]])
        np.testing.assert_allclose(got, np.clip((raw - lo) / (hi - lo), 0, 1))


def test_query_type_from_generated_ids():
    from synrank.score.filters import query_type

    # generate --task queries writes query_id = <doc_id>-<type>-<n>; search keeps only source_doc_id
    assert query_type({"query_id": "doc-7-titles-0", "source_doc_id": "doc-7"}) == "titles"
    assert query_type({"query_id": "doc-7-titles-0", "source_doc_id": "doc-7", "meta": {"type": "claims"}}) == "claims"
    assert query_type({"query_id": "q17", "source_doc_id": "doc-7"}) is None
    assert query_type({"query_id": "doc-7-x", "source_doc_id": "doc-7"}) is None
