"""`synrank score` end to end with small real models: a tiny random cross-encoder (plumbing: our scores
must equal CrossEncoder.predict on the same pairs), the tiny bi-encoder (equal to cosine of
sentence-transformers' encode), BM25, resume, filters and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import TOY_DOCS

DOCS = TOY_DOCS


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory, minilm_path):
    """A tiny random BERT with a one-logit classification head: a CrossEncoder that loads offline in a second."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny-ce")
    tok = AutoTokenizer.from_pretrained(str(minilm_path))
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37, num_labels=1)
    BertForSequenceClassification(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture
def data(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": d, "title": "", "text": t}) + "\n" for d, t in DOCS.items()))
    cands = tmp_path / "cands.jsonl"
    recs = [
        {"query_id": "q1", "query": "lazy dog", "source_doc_id": "d1", "candidates": [{"doc_id": d, "score": 5 - i, "rank": i + 1} for i, d in enumerate(["d1", "d5", "d3", "d2"])]},
        {"query_id": "q2", "query": "fox hunting at night", "source_doc_id": "d4", "candidates": [{"doc_id": d, "score": 5 - i, "rank": i + 1} for i, d in enumerate(["d2", "d1", "d4"])]},
        {"query_id": "q3", "query": "qubits", "source_doc_id": "d4", "candidates": [{"doc_id": d, "score": 5 - i, "rank": i + 1} for i, d in enumerate(["d4", "d3"])]},
    ]
    cands.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return tmp_path, corpus, cands, recs


def read(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_cross_encoder_scores_equal_predict(cli, data, tiny_cross_encoder):
    from sentence_transformers import CrossEncoder

    tmp, corpus, cands, recs = data
    out = tmp / "lists.jsonl"
    r = cli(
        "score", cands, "--corpus", corpus, "--teacher", f"cross-encoder:{tiny_cross_encoder}", "--dtype", "fp32", "--out", out,
        "--teacher-activation", "model",
    )
    assert r.code == 0, r.stderr
    lists = read(out)
    ce = CrossEncoder(str(tiny_cross_encoder), device="cpu")  # its default activation: sigmoid (one label)
    for rec, src in zip(lists, recs):
        assert {c["doc_id"] for c in rec["candidates"]} == {c["doc_id"] for c in src["candidates"]}
        expected = ce.predict([(src["query"], DOCS[c["doc_id"]]) for c in rec["candidates"]], show_progress_bar=False)
        assert [c["score"] for c in rec["candidates"]] == pytest.approx(expected.tolist(), abs=1e-5)
        assert [c["text"] for c in rec["candidates"]] == [DOCS[c["doc_id"]] for c in rec["candidates"]]
        scores = [c["score"] for c in rec["candidates"]]
        assert scores == sorted(scores, reverse=True)
        assert rec["meta"]["source_doc_id"] == src["source_doc_id"]
    manifest = json.loads((tmp / "lists.jsonl.manifest.json").read_text())
    assert manifest["summary"]["queries_out"] == 3 and manifest["model"][0]["kind"] == "cross-encoder"


def test_cross_encoder_raw_logits_by_default(cli, data, tiny_cross_encoder):
    """CADeT's reference (reranker/run_reranking.py) keeps the classifier's logit; checked against the
    transformers model run directly, and the `model` activation against sigmoid of those logits."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tmp, corpus, cands, recs = data
    tok = AutoTokenizer.from_pretrained(str(tiny_cross_encoder))
    model = AutoModelForSequenceClassification.from_pretrained(str(tiny_cross_encoder)).eval()
    r = cli("score", cands, "--corpus", corpus, "--teacher", f"cross-encoder:{tiny_cross_encoder}", "--dtype", "fp32")
    assert r.code == 0, r.stderr
    raw = [json.loads(x) for x in r.stdout.splitlines()]
    for rec, src in zip(raw, recs):
        docs = [DOCS[c["doc_id"]] for c in rec["candidates"]]
        with torch.no_grad():
            logits = model(**tok([src["query"]] * len(docs), docs, padding=True, truncation=True, return_tensors="pt")).logits[:, 0]
        assert [c["score"] for c in rec["candidates"]] == pytest.approx(logits.tolist(), abs=1e-5)
    r = cli("score", cands, "--corpus", corpus, "--teacher", f"cross-encoder:{tiny_cross_encoder}", "--dtype", "fp32", "--teacher-activation", "model")
    squeezed = [json.loads(x) for x in r.stdout.splitlines()]
    for a, b in zip(raw, squeezed):
        assert [c["score"] for c in b["candidates"]] == pytest.approx([1 / (1 + np.exp(-c["score"])) for c in a["candidates"]], abs=1e-5)


def test_bi_encoder_teacher_equals_cosine(cli, data, tiny_bi_encoder):
    from sentence_transformers import SentenceTransformer

    tmp, corpus, cands, recs = data
    r = cli("score", cands, "--corpus", corpus, "--teacher", f"bi-encoder:{tiny_bi_encoder}", "--dtype", "fp32")
    assert r.code == 0, r.stderr
    lists = [json.loads(x) for x in r.stdout.splitlines()]
    model = SentenceTransformer(str(tiny_bi_encoder), device="cpu")
    for rec, src in zip(lists, recs):
        q = model.encode([src["query"]], normalize_embeddings=True)[0]
        d = model.encode([DOCS[c["doc_id"]] for c in rec["candidates"]], normalize_embeddings=True)
        assert [c["score"] for c in rec["candidates"]] == pytest.approx((d @ q).tolist(), abs=1e-4)


def test_bm25_teacher_agrees_with_bm25_search(cli, data):
    tmp, corpus, cands, recs = data
    r = cli("score", cands, "--corpus", corpus, "--teacher", "bm25")
    assert r.code == 0, r.stderr
    lists = [json.loads(x) for x in r.stdout.splitlines()]
    (tmp / "q.tsv").write_text("".join(f"{x['query_id']}\t{x['query']}\n" for x in recs))
    s = cli("search", "--bm25", corpus, tmp / "q.tsv", "--k", "5", "--no-cache")
    searched = {json.loads(x)["query_id"]: {c["doc_id"]: c["score"] for c in json.loads(x)["candidates"]} for x in s.stdout.splitlines()}
    for rec in lists:
        for c in rec["candidates"]:
            assert c["score"] == pytest.approx(searched[rec["query_id"]].get(c["doc_id"], 0.0), abs=1e-5)


def test_filters_summary_and_list_size(cli, data):
    tmp, corpus, cands, recs = data
    out = tmp / "f.jsonl"
    r = cli(
        "score", cands, "--corpus", corpus, "--teacher", "bm25",
        "--require-source-in-top", "2", "--require-source-top1", "--list-size", "2", "--normalize", "pct-minmax", "--out", out,
    )
    assert r.code == 0, r.stderr
    # q2's source d4 is at rank 3 -> removed by the first filter; q1 and q3 have their source first by BM25
    assert [x["query_id"] for x in read(out)] == ["q1", "q3"]
    assert "source_not_in_top_2: 1" in r.stderr and "source_not_teacher_top1: 0" in r.stderr
    lists = read(out)
    assert all(len(x["candidates"]) == 2 for x in lists)
    assert all(0.0 <= c["score"] <= 1.0 and "raw_score" in c for x in lists for c in x["candidates"])
    summary = json.loads((tmp / "f.jsonl.manifest.json").read_text())["summary"]
    assert summary["removed"] == {"source_not_in_top_2": 1, "fewer_than_2_passages": 0, "source_not_teacher_top1": 0}


def test_two_teachers_and_fused_inputs(cli, data, tiny_cross_encoder):
    tmp, corpus, cands, recs = data
    other = tmp / "other.jsonl"
    other.write_text(json.dumps({"query_id": "q1", "query": "lazy dog", "candidates": [{"doc_id": "d4", "score": 1.0}]}) + "\n")
    r = cli(
        "score", cands, other, "--corpus", corpus, "--teacher", "bm25", "--teacher", f"cross-encoder:{tiny_cross_encoder}",
        "--teacher-combine", "mean", "--dtype", "fp32", "--student-input", "0",
    )
    assert r.code == 0, r.stderr
    lists = [json.loads(x) for x in r.stdout.splitlines()]
    q1 = lists[0]
    assert {c["doc_id"] for c in q1["candidates"]} == {"d1", "d5", "d3", "d2", "d4"}
    for c in q1["candidates"]:
        assert set(c["teachers"]) == {"bm25", f"cross-encoder:{tiny_cross_encoder}"}
    # mean of per-query min-max of each teacher, checked by hand
    names = list(q1["candidates"][0]["teachers"])
    raw = np.array([[c["teachers"][n] for c in q1["candidates"]] for n in names])
    mm = (raw - raw.min(1, keepdims=True)) / (raw.max(1, keepdims=True) - raw.min(1, keepdims=True))
    assert [c["score"] for c in q1["candidates"]] == pytest.approx(mm.mean(0).tolist(), abs=1e-6)


def test_student_input_keeps_its_own_candidates(cli, data):
    """CADeT's reference (reranker/outputs/split_by_retriever.py) trains each retriever's student on that
    retriever's candidates only; --student-input 0 keeps the fused list (earlier synrank)."""
    tmp, corpus, cands, recs = data
    other = tmp / "other.jsonl"
    other.write_text(
        json.dumps({"query_id": "q1", "query": "lazy dog", "candidates": [{"doc_id": "d4", "score": 1.0}]}) + "\n"
        + json.dumps({"query_id": "q9", "query": "cats", "candidates": [{"doc_id": "d5", "score": 1.0}]}) + "\n"
    )
    r = cli("score", cands, other, "--corpus", corpus, "--teacher", "bm25")
    assert r.code == 0, r.stderr
    lists = {x["query_id"]: x for x in map(json.loads, r.stdout.splitlines())}
    assert set(lists) == {"q1", "q2", "q3"} and "not_in_input_1: 1" in r.stderr
    for src in recs:
        assert {c["doc_id"] for c in lists[src["query_id"]]["candidates"]} == {c["doc_id"] for c in src["candidates"]}
    r = cli("score", other, cands, "--corpus", corpus, "--teacher", "bm25", "--student-input", "2")
    assert {json.loads(x)["query_id"] for x in r.stdout.splitlines()} == {"q1", "q2", "q3"}
    r = cli("score", cands, other, "--corpus", corpus, "--teacher", "bm25", "--student-input", "0")
    lists = {x["query_id"]: x for x in map(json.loads, r.stdout.splitlines())}
    assert set(lists) == {"q1", "q2", "q3", "q9"} and "d4" in {c["doc_id"] for c in lists["q1"]["candidates"]}
    r = cli("score", cands, other, "--corpus", corpus, "--student-input", "3")
    assert r.code == 2 and "--student-input:" in r.stderr


def test_source_in_top_per_input_before_fusion(cli, data):
    """CADeT's reference (query_generation/retriever_filtering_step.py) tests the source passage in each
    retriever's own run and fuses only the runs that pass."""
    tmp, corpus, cands, recs = data
    # second input: q2's source d4 is first there (it is third in the first input)
    other = tmp / "other.jsonl"
    other.write_text(
        json.dumps({"query_id": "q2", "query": "fox hunting at night", "source_doc_id": "d4", "candidates": [{"doc_id": "d4", "rank": 1}, {"doc_id": "d3", "rank": 2}]}) + "\n"
        + json.dumps({"query_id": "q1", "query": "lazy dog", "source_doc_id": "d1", "candidates": [{"doc_id": "d4", "rank": 1}, {"doc_id": "d3", "rank": 2}, {"doc_id": "d1", "rank": 3}]}) + "\n"
    )
    base = ["score", cands, other, "--corpus", corpus, "--teacher", "bm25", "--require-source-in-top", "2", "--student-input", "0"]
    r = cli(*base)
    assert r.code == 0, r.stderr
    lists = {x["query_id"]: {c["doc_id"] for c in x["candidates"]} for x in map(json.loads, r.stdout.splitlines())}
    # q1 passes in input 1 only -> input 2's d4 stays out of its pool; q2 passes in input 2 only; q3 in input 1
    assert lists == {"q1": {"d1", "d5", "d3", "d2"}, "q2": {"d4", "d3"}, "q3": {"d4", "d3"}}
    assert "source_not_in_top_2: 0" in r.stderr
    # earlier synrank: the fused RRF rank; q2's d4 is 3rd in input 1 and 1st in input 2 -> fused 1st
    r = cli(*base, "--source-in-top-scope", "fused")
    fused = {x["query_id"]: {c["doc_id"] for c in x["candidates"]} for x in map(json.loads, r.stdout.splitlines())}
    assert fused["q2"] == {"d2", "d1", "d4", "d3"} and "d4" in fused["q1"]
    # the student's own run only (default --student-input 1): q2 fails in input 1
    r = cli(*base[:-2])
    assert {json.loads(x)["query_id"] for x in r.stdout.splitlines()} == {"q1", "q3"} and "source_not_in_top_2: 1" in r.stderr


def test_generate_docs_input(cli, tmp_path):
    synth = tmp_path / "synth.jsonl"
    recs = [
        {"query_id": "1", "query": "what do foxes eat", "documents": [
            {"doc_id": "1-3-0", "level": 3, "text": "Foxes eat rodents, birds and fruit: foxes are omnivores."},
            {"doc_id": "1-1-0", "level": 1, "text": "Foxes live in forests and cities."},
            {"doc_id": "1-0-0", "level": 0, "text": "The stock market fell on Tuesday."}], "meta": {"backend": "transformers"}},
    ]
    synth.write_text("".join(json.dumps(r) + "\n" for r in recs))
    r = cli("score", synth, "--teacher", "bm25")
    assert r.code == 0, r.stderr
    (rec,) = [json.loads(x) for x in r.stdout.splitlines()]
    assert [(c["doc_id"], c["label"]) for c in rec["candidates"]][0] == ("1-3-0", 3)
    assert {c["doc_id"]: c["label"] for c in rec["candidates"]} == {"1-3-0": 3, "1-1-0": 1, "1-0-0": 0}
    assert rec["meta"]["backend"] == "transformers" and rec["meta"]["teacher"] == "bm25"


def test_resume_and_refilter_without_rescoring(cli, data):
    tmp, corpus, cands, recs = data
    out = tmp / "lists.jsonl"
    r = cli("score", cands, "--corpus", corpus, "--teacher", "bm25", "--chunk", "1", "--out", out)
    assert r.code == 0, r.stderr
    full = out.read_text()
    scored = tmp / "lists.jsonl.scored.jsonl"
    lines = scored.read_text().splitlines()
    assert len(lines) == 3
    scored.write_text(lines[0] + "\n" + lines[1][:25])  # killed while writing the second list
    out.unlink()
    r = cli("score", cands, "--corpus", corpus, "--teacher", "bm25", "--chunk", "1", "--out", out)
    assert r.code == 0 and "resuming: 1 of 3" in r.stderr
    assert out.read_text() == full
    # other filter options reuse every score
    r = cli("score", cands, "--corpus", corpus, "--teacher", "bm25", "--chunk", "1", "--list-size", "1", "--out", out)
    assert r.code == 0 and "resuming: 3 of 3" in r.stderr
    assert all(len(x["candidates"]) == 1 for x in read(out))
    # another teacher invalidates them
    r = cli("score", cands, "--corpus", corpus, "--teacher", "bm25", "--teacher-combine", "rrf", "--out", out)
    assert r.code == 0 and "discarding" in r.stderr


@pytest.mark.parametrize(
    "case,needle",
    [
        ("unknown_doc", "cands.jsonl:1: document 'nope' (query 'q1') is not in the corpus"),
        ("no_corpus", "corpus not found"),
        ("no_text", "--corpus: candidates carry no passage text"),
        ("unknown_teacher", "unknown teacher kind 'reranker'"),
        ("no_model", "needs a model"),
        ("malformed", "cands.jsonl:2: bad JSON"),
        ("trec_no_queries", "--queries: "),
        ("missing_input", "missing.jsonl: file not found"),
        ("bad_fuse", "--fuse: unknown value 'borda'"),
        ("no_source_ids", "need a source_doc_id"),
    ],
)
def test_bad_input_one_line(cli, data, case, needle):
    tmp, corpus, cands, recs = data
    args = [cands, "--corpus", corpus, "--teacher", "bm25"]
    if case == "unknown_doc":
        recs[0]["candidates"][1]["doc_id"] = "nope"
        cands.write_text("".join(json.dumps(r) + "\n" for r in recs))
    elif case == "no_corpus":
        args = [cands, "--corpus", tmp / "nothere", "--teacher", "bm25"]
    elif case == "no_text":
        args = [cands, "--teacher", "bm25"]
    elif case == "unknown_teacher":
        args = [cands, "--corpus", corpus, "--teacher", "reranker:x"]
    elif case == "no_model":
        args = [cands, "--corpus", corpus, "--teacher", "cross-encoder"]
    elif case == "malformed":
        cands.write_text(json.dumps(recs[0]) + "\n{\"query_id\": \n")
    elif case == "trec_no_queries":
        run = tmp / "r.trec"
        run.write_text("q1 Q0 d1 1 2.0 x\n")
        args = [run, "--corpus", corpus, "--teacher", "bm25"]
    elif case == "missing_input":
        args = [tmp / "missing.jsonl", "--corpus", corpus]
    elif case == "bad_fuse":
        args += ["--fuse", "borda"]
    elif case == "no_source_ids":
        for rec in recs:
            rec.pop("source_doc_id")
        cands.write_text("".join(json.dumps(r) + "\n" for r in recs))
        args += ["--require-source-top1"]
    out = tmp / "o.jsonl"
    r = cli("score", *args, "--out", out)
    assert r.code == 2, (r.code, r.stderr)
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("synrank: error:") and needle in err[0], r.stderr
    assert not out.exists()  # nothing half-written
