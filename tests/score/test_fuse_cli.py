"""`synrank fuse`: hybrid runs by RRF / CombSUM, checked by hand and against the score-level fusion."""

from __future__ import annotations

import json

import pytest

from synrank.formats.runs import read_trec_run


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture
def two_runs(tmp_path):
    a = _write(tmp_path / "a.trec", ["q1 Q0 d1 1 9.0 A", "q1 Q0 d2 2 7.5 A", "q1 Q0 d3 3 3.0 A", "q2 Q0 d9 1 1.0 A"])
    # JSONL search output for the second run (what `synrank search` writes by default).
    b = tmp_path / "b.jsonl"
    b.write_text(
        json.dumps({"query_id": "q1", "query": "x", "candidates": [{"doc_id": "d3", "score": 0.9}, {"doc_id": "d4", "score": 0.8}, {"doc_id": "d1", "score": 0.1}]})
        + "\n",
        encoding="utf-8",
    )
    return a, b


def test_rrf_hand_computed(cli, tmp_path, two_runs):
    a, b = two_runs
    out = tmp_path / "fused.trec"
    res = cli("fuse", a, b, "--out", out)
    assert res.code == 0, res.stderr
    run = read_trec_run(out)
    assert run["q1"]["d1"] == pytest.approx(1 / 61 + 1 / 63)
    assert run["q1"]["d3"] == pytest.approx(1 / 63 + 1 / 61)
    assert run["q1"]["d2"] == pytest.approx(1 / 62)
    assert run["q1"]["d4"] == pytest.approx(1 / 62)
    assert run["q2"] == {"d9": pytest.approx(1 / 61)}  # only in one run: it still gets that run's share
    assert json.loads((tmp_path / "fused.trec.manifest.json").read_text())["queries"] == 2


def test_minmax_depth_top(cli, tmp_path, two_runs):
    a, b = two_runs
    out = tmp_path / "fused.trec"
    assert cli("fuse", a, b, "--method", "minmax", "--depth", "2", "--top", "2", "--out", out).code == 0
    run = read_trec_run(out)
    # depth 2: A = {d1: 1, d2: 0}, B = {d3: 1, d4: 0}; ties broken by best rank then doc id -> d1, d3
    assert list(run["q1"]) == ["d1", "d3"]
    assert run["q1"]["d1"] == pytest.approx(1.0) and run["q1"]["d3"] == pytest.approx(1.0)
    # Without --top: the depth cut changes the normalisation (d2 is A's worst of 2 -> 0, not 0.75 of 3)
    assert cli("fuse", a, b, "--method", "minmax", "--depth", "2", "--top", "0", "--out", out).code == 0
    run = read_trec_run(out)
    assert run["q1"] == {"d1": pytest.approx(1.0), "d3": pytest.approx(1.0), "d2": pytest.approx(0.0), "d4": pytest.approx(0.0)}


def test_bad_inputs_one_line(cli, tmp_path, two_runs):
    a, _ = two_runs
    bad = _write(tmp_path / "bad.trec", ["q1 Q0 d1 1 nine A"])
    res = cli("fuse", a, bad, "--out", tmp_path / "o.trec")
    assert res.code == 2 and "bad.trec:1" in res.stderr and "Traceback" not in res.stderr
    docs = _write(tmp_path / "docs.jsonl", [json.dumps({"query_id": "q1", "query": "x", "documents": [{"doc_id": "a", "level": 3, "text": "t"}]})])
    res = cli("fuse", a, docs, "--out", tmp_path / "o.trec")
    assert res.code == 2 and "docs.jsonl:1" in res.stderr and "without 'candidates'" in res.stderr
    score_no = _write(tmp_path / "s.jsonl", [json.dumps({"query_id": "q1", "candidates": [{"doc_id": "d1", "score": None, "rank": 0}, {"doc_id": "d1"}]})])
    res = cli("fuse", a, score_no, "--out", tmp_path / "o.trec")
    assert res.code == 2 and "s.jsonl:1" in res.stderr and "appears twice" in res.stderr
    res = cli("fuse", a, "--out", tmp_path / "o.trec")
    assert res.code == 2 and "at least two runs" in res.stderr
    res = cli("fuse", a, a, "--method", "borda", "--out", tmp_path / "o.trec")
    assert res.code == 2 and "borda" in res.stderr
    assert not (tmp_path / "o.trec").exists()
