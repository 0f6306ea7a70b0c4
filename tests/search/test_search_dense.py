"""Dense `search` over a `synrank index` folder, checked against brute-force cosine search with
sentence-transformers' own encode (an independent path to the same numbers)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import TOY_DOCS

DOCS = TOY_DOCS


def _write_corpus(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": d, "text": t}) + "\n" for d, t in DOCS.items()))
    return folder


@pytest.fixture
def dense_index(cli, tmp_path, tiny_bi_encoder):
    corpus = _write_corpus(tmp_path / "c")
    idx = tmp_path / "idx"
    r = cli("index", corpus, "--out", idx, "--model", tiny_bi_encoder, "--dtype", "fp32")
    assert r.code == 0, r.stderr
    return idx


def test_dense_search_matches_brute_force(cli, tmp_path, dense_index, tiny_bi_encoder):
    from sentence_transformers import SentenceTransformer

    q = tmp_path / "q.jsonl"
    queries = {"q1": "lazy dog", "q2": "quantum qubits", "q3": "fox at night"}
    q.write_text("".join(json.dumps({"query_id": k, "text": v, "source_doc_id": "d1"}) + "\n" for k, v in queries.items()))
    out = tmp_path / "dense.jsonl"
    r = cli("search", dense_index, q, "--k", "3", "--dtype", "fp32", "--out", out)
    assert r.code == 0, r.stderr
    recs = [json.loads(x) for x in out.read_text().splitlines()]

    model = SentenceTransformer(str(tiny_bi_encoder), device="cpu")
    d_emb = model.encode(list(DOCS.values()), normalize_embeddings=True)
    q_emb = model.encode(list(queries.values()), normalize_embeddings=True)
    sims = q_emb @ d_emb.T
    ids = list(DOCS)
    for rec, row in zip(recs, sims):
        order = np.argsort(-row)[:3]
        assert [c["doc_id"] for c in rec["candidates"]] == [ids[i] for i in order]
        assert [c["score"] for c in rec["candidates"]] == pytest.approx(row[order].tolist(), abs=1e-4)
        assert rec["source_doc_id"] == "d1"
    manifest = json.loads((tmp_path / "dense.jsonl.manifest.json").read_text())
    assert manifest["model"]["kind"] == "dense"


def test_dense_search_trec_output(cli, tmp_path, dense_index):
    q = tmp_path / "q.tsv"
    q.write_text("q1\tlazy dog\nq2\tfox\n")
    out = tmp_path / "dense.run"
    r = cli("search", dense_index, q, "--k", "5", "--out", out)
    assert r.code == 0, r.stderr
    from synrank.formats import read_trec_run

    run = read_trec_run(out)
    assert set(run) == {"q1", "q2"} and all(len(v) == 5 for v in run.values())


@pytest.mark.slow
def test_dense_search_minilm_real_scifact_slice(cli, tmp_path, scifact_dir, minilm_path):
    """`synrank index` + `synrank search` with the bundled all-MiniLM-L6-v2 on a 150-document SciFact slice:
    a judged-relevant abstract is in the top 10 for at least 85% of 30 test claims."""
    from synrank.formats import iter_corpus, read_qrels, read_queries

    qrels = read_qrels(scifact_dir / "qrels" / "test.tsv")
    queries = read_queries(scifact_dir)
    qids = sorted(qrels)[:30]
    judged = {d for q in qids for d in qrels[q]}
    docs = [d for d in iter_corpus(scifact_dir) if d.doc_id in judged]
    docs += [d for d in iter_corpus(scifact_dir) if d.doc_id not in judged][: 150 - len(docs)]
    corpus = tmp_path / "slice.jsonl"
    corpus.write_text("".join(json.dumps({"_id": d.doc_id, "title": d.title, "text": d.text}) + "\n" for d in docs))
    qfile = tmp_path / "q.tsv"
    qfile.write_text("".join(f"{q}\t{queries[q]}\n" for q in qids))
    idx = tmp_path / "idx"
    assert cli("index", corpus, "--out", idx, "--model", "minilm").code == 0
    out = tmp_path / "dense.jsonl"
    r = cli("search", idx, qfile, "--k", "10", "--out", out)
    assert r.code == 0, r.stderr
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    hit = [any(c["doc_id"] in qrels[rec["query_id"]] for c in rec["candidates"]) for rec in recs]
    assert len(recs) == 30 and np.mean(hit) >= 0.85, np.mean(hit)
