"""Reading `score` inputs (search output, generate docs output, TREC runs) and fusing several inputs."""

from __future__ import annotations

import json

import pytest

from synrank.errors import ConfigError, InputError
from synrank.score.lists import fuse_inputs, read_lists


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def cand_rec(qid, docs, src=None, query="q text"):
    rec = {"query_id": qid, "query": query, "candidates": [{"doc_id": d, "score": s, "rank": i + 1} for i, (d, s) in enumerate(docs)]}
    if src:
        rec["source_doc_id"] = src
    return rec


def test_search_output_and_ranks(tmp_path):
    p = write_jsonl(tmp_path / "a.jsonl", [cand_rec("1", [("a", 3.0), ("b", 2.0)], src="a")])
    lists = read_lists(p)
    ql = lists["1"]
    assert ql.query == "q text" and ql.source_doc_id == "a"
    assert [(c.doc_id, c.rank, c.text) for c in ql.candidates] == [("a", 1, None), ("b", 2, None)]


def test_order_by_score_when_no_rank(tmp_path):
    p = write_jsonl(tmp_path / "a.jsonl", [{"query_id": "1", "query": "x", "candidates": [{"doc_id": "a", "score": 1}, {"doc_id": "b", "score": 5}]}])
    assert [c.doc_id for c in read_lists(p)["1"].candidates] == ["b", "a"]


def test_generate_docs_output_keeps_level_as_label(tmp_path):
    rec = {
        "query_id": "7",
        "query": "what is a fox",
        "documents": [{"doc_id": "7-3-0", "level": 3, "text": "A fox is a canid."}, {"doc_id": "7-0-0", "level": 0, "text": "Stock prices fell."}],
        "meta": {"model": "smollm2"},
    }
    ql = read_lists(write_jsonl(tmp_path / "synth.jsonl", [rec]))["7"]
    assert [(c.doc_id, c.label, c.text) for c in ql.candidates] == [("7-3-0", 3, "A fox is a canid."), ("7-0-0", 0, "Stock prices fell.")]
    assert ql.meta == {"model": "smollm2"}


def test_trec_run_needs_queries(tmp_path):
    run = tmp_path / "r.trec"
    run.write_text("1 Q0 a 1 3.0 x\n1 Q0 b 2 2.0 x\n")
    with pytest.raises(ConfigError, match="TREC run") as err:
        read_lists(run)
    assert err.value.setting == "queries"  # the library names the setting; the CLI shows --queries
    ql = read_lists(run, {"1": "query one"})["1"]
    assert ql.query == "query one" and [c.doc_id for c in ql.candidates] == ["a", "b"]


def test_fuse_two_inputs_rrf_and_top(tmp_path):
    a = read_lists(write_jsonl(tmp_path / "a.jsonl", [cand_rec("1", [("a", 3), ("b", 2), ("c", 1)], src="c")]))
    b = read_lists(write_jsonl(tmp_path / "b.jsonl", [cand_rec("1", [("c", 9), ("d", 8)]), cand_rec("2", [("z", 1)])]))
    fused = fuse_inputs([a, b], method="rrf", top=3)
    assert [ql.query_id for ql in fused] == ["1", "2"]
    # rrf: c = 1/63 + 1/61, a = 1/61, b = 1/62, d = 1/62 -> c, a, then b/d tie broken by best rank then id -> b
    assert [(c.doc_id, c.rank) for c in fused[0].candidates] == [("c", 1), ("a", 2), ("b", 3)]
    assert fused[0].candidates[0].score == pytest.approx(1 / 63 + 1 / 61)
    assert fused[0].source_doc_id == "c"
    # depth cuts each input before fusion
    fused = fuse_inputs([a, b], method="rrf", depth=1)
    assert [c.doc_id for c in fused[0].candidates] == ["a", "c"]


@pytest.mark.parametrize(
    "line,needle",
    [
        ('{"query_id": "1", "query": "x", "candidates": [{"doc_id": "a"}, {"doc_id": "a"}]}', "appears twice"),
        ('{"query_id": "1", "query": "x"}', "neither 'candidates'"),
        ('{"query_id": "1", "candidates": []}', "no query text"),
        ('{"query_id": "1", "query": "x", "candidates": [{"score": 1}]}', "no doc_id"),
        ('{"query_id": "1", "query": "x", "candidates": [{"doc_id": "a", "score": "high"}]}', "must be a number"),
        ('{"query_id": "1", "query": "x", "documents": [{"doc_id": "a", "text": "t"}]}', "missing level"),
        ('{"query_id": "1", "query": "x", "candidates": [', "bad JSON"),
    ],
)
def test_bad_records_name_file_and_line(tmp_path, line, needle):
    p = tmp_path / "in.jsonl"
    p.write_text(json.dumps(cand_rec("0", [("z", 1)])) + "\n" + line + "\n")
    with pytest.raises(InputError) as exc:
        read_lists(p)
    assert needle in str(exc.value) and f"{p}:2" in str(exc.value)


def test_score_lists_progress_counts_every_teacher_pair():
    from synrank.score.lists import Candidate, QueryList
    from synrank.score.pipeline import ScoringOptions, score_lists
    from synrank.score.teachers.bm25 import BM25Teacher

    lists = [
        QueryList("1", "fox", [Candidate("a", "a red fox", rank=2), Candidate("b", "a loyal dog", rank=1)]),
        QueryList("2", "dog", [Candidate("b", "a loyal dog", rank=1)]),
    ]
    seen: list[int] = []
    recs = list(score_lists(lists, [BM25Teacher(), BM25Teacher()], ScoringOptions(chunk_queries=1), on_progress=seen.append))
    assert sum(seen) == 6  # 3 pairs x 2 teachers
    # the teacher, not the first-stage rank, orders the output: "fox" matches a, not b
    assert [c["doc_id"] for c in recs[0]["candidates"]] == ["a", "b"]
    assert recs[0]["candidates"][0]["rank"] == 2


def test_select_lists_defaults_are_the_score_stage_defaults():
    """select_lists() called bare builds the lists `synrank score` builds by default: CADeT's fusion (RRF, k=60),
    the fused top-100, each retriever's own candidates (input 1), no source filter."""
    import inspect

    from synrank.config import default_of
    from synrank.score import ScoreConfig, select_lists

    bare = {n: p.default for n, p in inspect.signature(select_lists).parameters.items() if p.default is not p.empty}
    assert (bare["method"], bare["k"], bare["depth"], bare["top"], bare["student_input"]) == ("rrf", 60, 0, 100, 1)
    assert (bare["require_source_in_top"], bare["source_in_top_scope"]) == (0, "per-input")
    same = {"method": "fuse", "k": "rrf_k", "depth": "depth", "top": "top", "require_source_in_top": "require_source_in_top",
            "source_in_top_scope": "source_in_top_scope", "student_input": "student_input"}
    assert {arg: bare[arg] for arg in same} == {arg: default_of(ScoreConfig, name) for arg, name in same.items()}
