"""`score` and `fuse` as library calls (no Typer): the config checks, the entry points and their results."""

from __future__ import annotations

import json

import pytest

from synrank.errors import ConfigError
from synrank.formats.runs import read_trec_run
from synrank.score import FuseConfig, ScoreConfig, run, run_fuse


@pytest.fixture
def files(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    docs = {"d1": "the lazy dog sleeps", "d2": "a fox hunts at night", "d3": "dogs love walks", "d4": "qubits and gates"}
    corpus.write_text("".join(json.dumps({"_id": d, "text": t}) + "\n" for d, t in docs.items()))
    cands = tmp_path / "cands.jsonl"
    recs = [
        {"query_id": "d1-titles-0", "query": "lazy dog", "source_doc_id": "d1", "candidates": [{"doc_id": d, "rank": i + 1} for i, d in enumerate(["d1", "d3", "d2"])]},
        {"query_id": "d4-titles-0", "query": "fox at night", "source_doc_id": "d4", "candidates": [{"doc_id": d, "rank": i + 1} for i, d in enumerate(["d2", "d4", "d1"])]},
    ]
    cands.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return tmp_path, corpus, cands


def test_run_returns_lists_summary_and_writes_output(files):
    tmp, corpus, cands = files
    out = tmp / "lists.jsonl"
    lines: list[str] = []
    result = run(ScoreConfig(inputs=[str(cands)], corpus=str(corpus), teacher=["bm25"], out=out, require_source_top1=True), info=lines.append, progress=False)
    # BM25 ranks d1 first for "lazy dog" and d2 (not the source d4) first for "fox at night"
    assert [r["query_id"] for r in result.records] == ["d1-titles-0"]
    assert result.summary["removed"] == {"source_not_teacher_top1": 1} and result.summary["queries_out"] == 1
    assert [json.loads(x) for x in out.read_text().splitlines()] == result.records
    assert result.records[0]["meta"]["query_type"] == "titles"  # read from the generated query id
    assert result.teachers[0]["kind"] == "bm25" and any("queries" in x for x in lines)
    again = run(ScoreConfig(inputs=[str(cands)], corpus=str(corpus), teacher=["bm25"], out=out, list_size=2), progress=False)
    assert again.resumed == 2 and all(len(r["candidates"]) == 2 for r in again.records)


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [
        ({"fuse": "borda"}, "fuse"),
        ({"teacher": ["reranker:x"]}, "teacher"),
        ({"chunk": 0}, "chunk"),
        ({"top": -1}, "top"),
        ({"student_input": 2}, "student_input"),
        ({"teacher_activation": "softmax"}, "teacher_activation"),
        ({"llm_levels": 11}, "llm_levels"),
        ({"drop_bottom_pct": 100}, "drop_bottom_pct"),
        ({"inputs": []}, "inputs"),
    ],
)
def test_score_config_errors_name_settings(kwargs, setting):
    with pytest.raises(ConfigError) as err:
        ScoreConfig(**{"inputs": ["a.jsonl"], **kwargs})
    assert err.value.setting == setting and "--" not in err.value.message


def test_run_fuse(tmp_path):
    a = tmp_path / "a.trec"
    a.write_text("q1 Q0 d1 1 9.0 A\nq1 Q0 d2 2 7.5 A\n")
    b = tmp_path / "b.trec"
    b.write_text("q1 Q0 d2 1 3.0 B\nq1 Q0 d3 2 1.0 B\n")
    result = run_fuse(FuseConfig(runs=[str(a), str(b)], out=tmp_path / "f.trec", run_tag="mine"))
    assert result.queries == 1 and result.fused["q1"][0] == ("d2", pytest.approx(1 / 62 + 1 / 61))
    assert read_trec_run(tmp_path / "f.trec")["q1"]["d1"] == pytest.approx(1 / 61)
    assert (tmp_path / "f.trec").read_text().split("\n")[0].endswith("mine")
    with pytest.raises(ConfigError) as err:
        FuseConfig(runs=[str(a)], out=tmp_path / "g.trec")
    assert err.value.setting == "runs"


def test_outputs_are_guarded(cli, files, tmp_path):
    """score and fuse go through synrank.formats.outputs: never over an input or a file synrank did not write."""
    tmp, corpus, cands = files
    before = cands.read_bytes()
    r = cli("score", cands, "--corpus", corpus, "--teacher", "bm25", "--out", cands)
    assert r.code == 2 and "is also an input" in r.stderr and cands.read_bytes() == before
    foreign = tmp / "notes.jsonl"
    foreign.write_text("mine\n")
    r = cli("score", cands, "--corpus", corpus, "--teacher", "bm25", "--out", foreign)
    assert r.code == 2 and "not written by synrank" in r.stderr and foreign.read_text() == "mine\n"
    assert not (tmp / "notes.jsonl.scored.jsonl").exists()
    run_a = tmp / "a.trec"
    run_a.write_text("q1 Q0 d1 1 9.0 A\n")
    r = cli("fuse", run_a, cands, "--out", foreign)
    assert r.code == 2 and "not written by synrank" in r.stderr and foreign.read_text() == "mine\n"
    # a re-run replaces synrank's own output
    out = tmp / "lists.jsonl"
    assert cli("score", cands, "--corpus", corpus, "--teacher", "bm25", "--out", out).code == 0
    assert cli("score", cands, "--corpus", corpus, "--teacher", "bm25", "--out", out, "--list-size", "1").code == 0
