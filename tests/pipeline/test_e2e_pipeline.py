"""The whole chain generate -> search -> score -> train -> index -> eval -> compare, through the CLI, with tiny
random models on a slice of real SciFact data. Each file's schema is checked, and every step is re-run to
check that it resumes (skips finished work, adds no duplicates) instead of starting over."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import read_jsonl

REPO = Path(__file__).resolve().parents[2]

TEXT_QUERY_TEMPLATE = """\
# description: test template, plain-text answers
# task: queries
# type: title
# output: text
### system
You write queries.
### user
Passage: {{title}} {{passage}}
Write a title.
"""


@pytest.fixture(scope="module")
def slice_dir(tmp_path_factory, scifact_dir):
    out = tmp_path_factory.mktemp("slice") / "scifact"
    p = subprocess.run(
        [sys.executable, str(REPO / "examples" / "scifact_slice.py"), str(scifact_dir), str(out), "--queries", "15", "--docs", "80"],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0, p.stderr
    return out


def lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_full_chain_resumable(cli, tmp_path, slice_dir, tiny_llama, tiny_bi_encoder):
    w = tmp_path
    tpl = w / "title.txt"
    tpl.write_text(TEXT_QUERY_TEMPLATE)
    gen = ("generate", "--task", "queries", "--types", "title", "--template", f"title={tpl}", "--per-doc", "1",
           "--limit", "6", "--model", tiny_llama, "--backend", "transformers", "--max-new-tokens", "8",
           "--device", "cpu", "--dtype", "fp32", slice_dir, "--out", w / "q.jsonl")
    r = cli(*gen)
    assert r.code == 0, r.stderr
    queries = read_jsonl(w / "q.jsonl")
    assert queries and all(set(q) >= {"query_id", "text", "type", "source_doc_id"} for q in queries)
    assert cli(*gen).code == 0 and lines(w / "q.jsonl") == [json.dumps(q, ensure_ascii=False, separators=(",", ":")) for q in queries]

    assert cli("index", slice_dir, "--model", tiny_bi_encoder, "--out", w / "idx").code == 0
    searches = {
        w / "dense.jsonl": ("search", w / "idx", w / "q.jsonl"),
        w / "bm25.jsonl": ("search", "--bm25", slice_dir, w / "q.jsonl", "--cache-dir", w / "bm25"),
    }
    for out, args in searches.items():
        r = cli(*args, "--k", "30", "--out", out)
        assert r.code == 0, r.stderr
        recs = read_jsonl(out)
        assert len(recs) == len(queries)
        for rec in recs:  # BM25 may find fewer than k documents sharing a term with a random-model query
            assert rec["source_doc_id"] and [c["rank"] for c in rec["candidates"]] == list(range(1, len(rec["candidates"]) + 1))
            assert len(rec["candidates"]) <= 30
        if out.name == "dense.jsonl":
            assert all(len(rec["candidates"]) == 30 for rec in recs)
        before = lines(out)
        assert cli(*args, "--k", "30", "--out", out).code == 0
        assert lines(out) == before

    score = ("score", w / "dense.jsonl", w / "bm25.jsonl", "--corpus", slice_dir, "--fuse", "rrf",
             "--teacher", f"bi-encoder:{tiny_bi_encoder}", "--list-size", "8", "--normalize", "pct-minmax", "--out", w / "lists.jsonl")
    r = cli(*score)
    assert r.code == 0, r.stderr
    lists = read_jsonl(w / "lists.jsonl")
    assert len(lists) == len(queries)
    for rec in lists:
        assert set(rec) >= {"query_id", "query", "candidates", "meta"} and len(rec["candidates"]) <= 8
        assert all(c["text"] and 0.0 <= c["score"] <= 1.0 for c in rec["candidates"])
    assert cli(*score).code == 0 and read_jsonl(w / "lists.jsonl") == lists

    train = ("train", w / "lists.jsonl", "--model", tiny_bi_encoder, "--loss", "kl+infonce", "--group-size", "4",
             "--batch-size", "2", "--max-steps", "2", "--out", w / "ckpt")
    r = cli(*train)
    assert r.code == 0, r.stderr
    assert (w / "ckpt" / "modules.json").exists() and lines(w / "ckpt" / "training_log.jsonl")

    assert cli("index", slice_dir, "--model", w / "ckpt", "--out", w / "idx-ckpt").code == 0
    for name, idx in (("base", w / "idx"), ("trained", w / "idx-ckpt")):
        r = cli("eval", idx, "--dataset", slice_dir, "--out", w / f"{name}.json", "--run-out", w / f"{name}.trec")
        assert r.code == 0, r.stderr
        res = json.loads((w / f"{name}.json").read_text())
        assert len(res["per_query"]) == 15 and set(res["aggregate"]) == {"nDCG@10", "R@100", "RR@10", "AP"}

    r = cli("compare", w / "base.json", w / "trained.json", "--baseline", "base", "--format", "json")
    assert r.code == 0, r.stderr
    table = json.loads(r.stdout)
    assert "trained" in json.dumps(table) and "nDCG@10" in json.dumps(table)


@pytest.mark.slow
@pytest.mark.parametrize("script", ["domain_adaptation.sh", "graded_synthetic.sh"])
def test_example_scripts_tiny(tmp_path, slice_dir, msmarco_dir, script):
    """The example scripts in their smallest size, with the bundled models, so they never rot."""
    import os

    env = {**os.environ, "SIZE": "tiny", "WORK": str(tmp_path / "work"), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    args = [str(slice_dir)] if script == "domain_adaptation.sh" else [str(msmarco_dir / "dl19-queries.tsv"), str(slice_dir)]
    p = subprocess.run(["bash", str(REPO / "examples" / script), *args], env=env, capture_output=True, text=True, timeout=1800)
    assert p.returncode == 0, p.stderr[-3000:]
    assert (tmp_path / "work" / "compare.md").read_text().count("|") > 10
    assert (tmp_path / "work" / "deltas.png").stat().st_size > 1000


@pytest.mark.slow
@pytest.mark.parametrize("script", ["domain_adaptation.sh", "graded_synthetic.sh"])
def test_example_scripts_start_from_given_data(tmp_path, slice_dir, msmarco_dir, script):
    """QUERIES= / SYNTH= (what scifact_results.sh SKIP_GENERATE=1 passes): no generation, the given file untouched."""
    import os

    docs = read_jsonl(slice_dir / "corpus.jsonl")[:6]
    if script == "domain_adaptation.sh":
        given = tmp_path / "given-queries.jsonl"
        rows = [{"query_id": f"{d['_id']}-title-0", "text": d["title"], "type": "title", "source_doc_id": d["_id"]} for d in docs]
        var, args, generated = "QUERIES", [str(slice_dir)], "queries.jsonl"
    else:
        given = tmp_path / "given-docs.jsonl"
        rows = [{"query_id": f"q{i}", "query": d["title"],
                 "documents": [{"doc_id": f"q{i}-l{lv}", "level": lv, "text": f"{d['text'][:200]} level {lv}"} for lv in (3, 2, 1)]}
                for i, d in enumerate(docs)]
        var, args, generated = "SYNTH", [str(msmarco_dir / "dl19-queries.tsv"), str(slice_dir)], "synth.jsonl"
    given.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    before = given.read_bytes()
    work = tmp_path / "work"
    env = {**os.environ, "SIZE": "tiny", "WORK": str(work), var: str(given), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    p = subprocess.run(["bash", str(REPO / "examples" / script), *args], env=env, capture_output=True, text=True, timeout=1800)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "given, not regenerated" in p.stderr and "synrank generate" not in p.stderr
    assert not (work / generated).exists() and given.read_bytes() == before
    assert (work / "compare.md").read_text().count("|") > 10


@pytest.mark.slow
@pytest.mark.parametrize("script", ["domain_adaptation.sh", "graded_synthetic.sh"])
def test_example_scripts_on_the_reference_recipes_tiny(tmp_path, slice_dir, msmarco_dir, script, tiny_t5):
    """SIZE=full's recipes (examples/recipes/*-reference.yaml) at SIZE=tiny, the bundled models standing in for the GPU
    ones (a tiny random RankT5 for the teacher): every reference setting runs (schedules, accumulation, redraw,
    evaluation before training, CADeT's stopping rule, dropout 0, pool depth 20, lists of 20)."""
    import os

    work = tmp_path / "work"
    recipe = "cadet-reference.yaml" if script == "domain_adaptation.sh" else "sycl-reference.yaml"
    env = {**os.environ, "SIZE": "tiny", "WORK": str(work), "RECIPE": str(REPO / "examples" / "recipes" / recipe),
           "BACKEND": "llamacpp", "BASE": "minilm", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    if script == "domain_adaptation.sh":
        env["TEACHERS"] = f"rankt5:{tiny_t5}"
    args = [str(slice_dir)] if script == "domain_adaptation.sh" else [str(msmarco_dir / "dl19-queries.tsv"), str(slice_dir)]
    p = subprocess.run(["bash", str(REPO / "examples" / script), *args], env=env, capture_output=True, text=True, timeout=1800)
    assert p.returncode == 0, p.stderr[-3000:]
    assert (work / "compare.md").read_text().count("|") > 10
    trained = "ckpt-kd-s42" if script == "domain_adaptation.sh" else "ckpt-ws2-s42"
    manifest = json.loads((work / trained / "manifest.json").read_text())
    assert manifest["config_file"]["path"] == str((work / "recipe.yaml").resolve())
    config = manifest["config"]
    if script == "domain_adaptation.sh":
        assert (config["lr_schedule"], config["warmup_min_steps"], config["dropout"], config["eval_at_start"]) == ("cadet", 10, 0.0, True)
        lists = json.loads((work / "lists.jsonl.manifest.json").read_text())["config"]
        assert (lists["fuse"], lists["teachers"], lists["student_input"]) == (["rrf", 60, 20, 100], [f"rankt5:{tiny_t5}"], 1)
    else:
        assert (config["lr_schedule"], config["grad_accumulation"], config["redraw"], config["weight_decay"]) == ("warmup-decay-log", 4, True, 0.0)
