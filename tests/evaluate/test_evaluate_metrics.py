"""Metrics on the real graded TREC DL qrels, checked against values computed by hand from the formulas
(linear graded gains, log2 discount; trec_eval's tie order: score desc, then doc id desc)."""

from __future__ import annotations

import math

import pytest

from synrank.errors import ConfigError
from synrank.evaluate.metrics import evaluate_run, parse_metrics, queries_without_relevant
from synrank.formats import read_qrels


def dcg(gains):
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


@pytest.fixture(scope="module")
def dl19(msmarco_dir):
    return read_qrels(msmarco_dir / "dl19-qrels.trec")


def by_grade(judged, grade):
    return sorted(d for d, g in judged.items() if g == grade)


def test_graded_ndcg_against_hand_computation(dl19):
    qid = sorted(dl19)[0]
    judged = dl19[qid]
    g3, g2, g1, g0 = (by_grade(judged, g) for g in (3, 2, 1, 0))
    assert g3 and g2 and g1 and g0
    ranking = [g0[0], g3[0], "UNJUDGED-1", g1[0], g2[0]]
    run = {qid: {d: 10.0 - i for i, d in enumerate(ranking)}}
    agg, per_q = evaluate_run(run, {qid: judged}, ["nDCG@10", "nDCG@3", "RR@10", "R@100", "P@5", "AP"])
    ideal = sorted(judged.values(), reverse=True)
    gains = [0, 3, 0, 1, 2]
    assert per_q[qid]["nDCG@10"] == pytest.approx(dcg(gains) / dcg(ideal[:10]), abs=1e-4)
    assert per_q[qid]["nDCG@3"] == pytest.approx(dcg(gains[:3]) / dcg(ideal[:3]), abs=1e-4)
    nrel = sum(1 for g in judged.values() if g >= 1)
    assert per_q[qid]["RR@10"] == pytest.approx(1 / 2)
    assert per_q[qid]["R@100"] == pytest.approx(3 / nrel)
    assert per_q[qid]["P@5"] == pytest.approx(3 / 5)
    assert per_q[qid]["AP"] == pytest.approx((1 / 2 + 2 / 4 + 3 / 5) / nrel, abs=1e-4)
    assert agg == per_q[qid]


def test_rel_level_two_for_binary_metrics_keeps_graded_ndcg(dl19):
    qid = sorted(dl19)[1]
    judged = dl19[qid]
    g3, g1 = by_grade(judged, 3) or by_grade(judged, 2), by_grade(judged, 1)
    run = {qid: {g1[0]: 2.0, g3[0]: 1.0}}
    _, lvl1 = evaluate_run(run, {qid: judged}, ["RR@10", "nDCG@10"], rel_level=1)
    _, lvl2 = evaluate_run(run, {qid: judged}, ["RR@10", "nDCG@10"], rel_level=2)
    assert lvl1[qid]["RR@10"] == 1.0
    assert lvl2[qid]["RR@10"] == 0.5
    assert lvl1[qid]["nDCG@10"] == pytest.approx(lvl2[qid]["nDCG@10"])


def test_ties_broken_by_descending_doc_id_as_trec_eval():
    qrels = {"q": {"a": 1}}
    run = {"q": {"a": 1.0, "b": 1.0}}  # tie: trec_eval ranks "b" before "a"
    _, per_q = evaluate_run(run, qrels, ["RR@10", "RR@1", "nDCG@10"])
    assert per_q["q"]["RR@10"] == 0.5
    assert per_q["q"]["RR@1"] == 0.0
    assert per_q["q"]["nDCG@10"] == pytest.approx(1 / math.log2(3))


def test_unjudged_are_non_relevant_and_missing_queries_count_zero():
    qrels = {"q1": {"a": 1, "b": 0}, "q2": {"c": 2}}
    run = {"q1": {"x": 3.0, "y": 2.0, "a": 1.0}}  # q2 absent from the run
    agg, per_q = evaluate_run(run, qrels, ["RR@10", "R@100"])
    assert per_q["q1"]["RR@10"] == pytest.approx(1 / 3)
    assert per_q["q2"] == {"RR@10": 0.0, "R@100": 0.0}
    assert agg["RR@10"] == pytest.approx((1 / 3) / 2)


def test_query_without_relevant_documents_scores_zero_and_is_reported():
    qrels = {"q1": {"a": 1}, "q2": {"b": 0}}
    run = {"q1": {"a": 1.0}, "q2": {"b": 1.0}}
    agg, per_q = evaluate_run(run, qrels, ["nDCG@10", "AP"])
    assert per_q["q2"] == {"nDCG@10": 0.0, "AP": 0.0}
    assert agg["nDCG@10"] == pytest.approx(0.5)
    assert queries_without_relevant(qrels) == ["q2"]


def test_dl20_full_ideal_run_scores_one(msmarco_dir):
    qrels = read_qrels(msmarco_dir / "dl20-qrels.trec")
    ideal = {q: {d: float(g) for d, g in docs.items()} for q, docs in qrels.items()}
    agg, per_q = evaluate_run(ideal, qrels, ["nDCG@10", "RR@10"], rel_level=2)
    assert len(per_q) == 54
    assert agg["nDCG@10"] == pytest.approx(1.0)
    assert agg["RR@10"] == pytest.approx(1.0)


def test_metric_names():
    assert [m.name for m in parse_metrics("nDCG@10, R@100,RR@10,AP")] == ["nDCG@10", "R@100", "RR@10", "AP"]
    for bad in ("ndcg@10", "R", "MRR@10", "nDCG@0"):
        with pytest.raises(ConfigError):
            parse_metrics(bad)
