"""`synrank index` and `synrank eval` end to end through the CLI, on real data slices."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from synrank.errors import ConfigError
from synrank.formats import read_trec_run

SUBCOMMANDS = ["generate", "search", "score", "train", "index", "eval", "compare", "models"]


@pytest.fixture(scope="module")
def scifact_slice(tmp_path_factory, scifact_dir):
    """The first 300 scifact documents plus every document judged for the first 40 test queries with a qrel in it."""
    out = tmp_path_factory.mktemp("scifact-slice")
    lines = (scifact_dir / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    qrels = [line.split("\t") for line in (scifact_dir / "qrels" / "test.tsv").read_text().splitlines()[1:]]
    keep = {json.loads(line)["_id"] for line in lines[:300]}
    judged_here = [(q, d) for q, d, _ in qrels if d in keep]
    (out / "corpus.jsonl").write_text("\n".join(lines[:300]) + "\n", encoding="utf-8")
    (out / "qrels").mkdir()
    (out / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, d in judged_here))
    (out / "queries.jsonl").write_text((scifact_dir / "queries.jsonl").read_text())
    return out


def test_help_lists_every_subcommand_and_defaults(cli):
    r = cli("--help")
    assert r.code == 0
    for name in SUBCOMMANDS:
        assert name in r.stdout
    r = cli("index", "--help")
    assert r.code == 0 and "--factory" in r.stdout and "Flat" in r.stdout and "default" in r.stdout.lower()
    r = cli("eval", "--help")
    assert "nDCG@10,R@100,RR@10,AP" in r.stdout.replace("\n", "").replace(" ", "").replace("│", "") or "nDCG@10" in r.stdout


def test_models_lists_aliases(cli, minilm_path):
    r = cli("models", "--json")
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert rows["minilm"]["installed"] == "yes" and rows["minilm"]["where"] == str(minilm_path)
    assert "smollm2" in rows


def test_index_and_eval_tiny_model(cli, tmp_path, scifact_slice, tiny_bi_encoder):
    idx = tmp_path / "idx"
    r = cli("index", scifact_slice, "--model", tiny_bi_encoder, "--out", idx, "--chunk-size", "128")
    assert r.code == 0, r.stderr
    manifest = json.loads((idx / "manifest.json").read_text())
    assert manifest["documents"] == 300 and manifest["dimension"] == 32
    assert manifest["model"]["pooling"] == "mean" and manifest["model"]["normalized"] is True
    assert manifest["similarity"] == "cosine" and "faiss-cpu" in manifest["versions"]
    assert (idx / "docids.txt").read_text().count("\n") == 300
    res, run = tmp_path / "results.json", tmp_path / "run.trec"
    r = cli("eval", idx, "--dataset", scifact_slice, "--out", res, "--run-out", run, "--k", "50")
    assert r.code == 0, r.stderr
    out = json.loads(res.read_text())
    assert set(out["aggregate"]) == {"nDCG@10", "R@100", "RR@10", "AP"}
    assert set(out["per_query"]) == set(read_trec_run(run))
    assert out["manifest"]["index"]["manifest"]["documents"] == 300
    assert "nDCG@10" in r.stderr  # the Rich table


def test_index_minilm_slice_is_good(cli, tmp_path, scifact_slice):
    """Real model, real judgments: on a 300-doc slice the relevant documents are easy to find."""
    idx = tmp_path / "idx"
    assert cli("index", scifact_slice, "--model", "minilm", "--out", idx).code == 0
    r = cli("eval", idx, "--dataset", scifact_slice, "--out", tmp_path / "r.json")
    assert r.code == 0, r.stderr
    agg = json.loads((tmp_path / "r.json").read_text())["aggregate"]
    assert agg["nDCG@10"] > 0.75 and agg["R@100"] > 0.95


def test_index_reads_stdin_tsv_and_resumes(tmp_path, tiny_bi_encoder):
    corpus = "".join(f"d{i}\tdocument number {i} about topic {i % 7}\n" for i in range(50))
    idx = tmp_path / "idx"
    cmd = [sys.executable, "-m", "synrank", "index", "-", "--model", str(tiny_bi_encoder), "--out", str(idx), "--chunk-size", "20"]
    p = subprocess.run(cmd, input=corpus, text=True, capture_output=True)
    assert p.returncode == 0, p.stderr
    assert (idx / "docids.txt").read_text().split() == [f"d{i}" for i in range(50)]


def test_index_resume_reuses_finished_chunks(tmp_path, tiny_bi_encoder, monkeypatch):
    from synrank.index import store
    from synrank.index.encoder import Encoder
    from synrank.formats import iter_corpus

    corpus = tmp_path / "c.tsv"
    corpus.write_text("".join(f"d{i}\ttext {i}\n" for i in range(30)))
    enc = Encoder(str(tiny_bi_encoder))
    out = tmp_path / "idx"
    calls = {"n": 0}
    real = enc.encode

    def dying(texts, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(texts, **kw)

    monkeypatch.setattr(enc, "encode", dying)
    with pytest.raises(KeyboardInterrupt):
        store.build_index(enc, iter_corpus(corpus), out, store.BuildConfig(chunk_size=10), {"kind": "index"})
    assert not out.exists() and store.partial_dir(out).exists()
    monkeypatch.setattr(enc, "encode", real)
    # Other settings over the interrupted build: refused, naming them, and its chunks are kept.
    with pytest.raises(ConfigError, match=r"different settings \(doc_prefix\).*--overwrite"):
        store.build_index(enc, iter_corpus(corpus), out, store.BuildConfig(chunk_size=10, doc_prefix="p: "), {"kind": "index"})
    assert len(list(store.partial_dir(out).glob("chunk-*.npy"))) == 2
    stats = store.build_index(enc, iter_corpus(corpus), out, store.BuildConfig(chunk_size=10), {"kind": "index"})
    assert stats.chunks_reused == 2 and stats.chunks_encoded == 1 and stats.documents == 30
    assert not store.partial_dir(out).exists()
    idx = store.DenseIndex.load(out)
    assert idx.index.ntotal == 30


def test_hnsw_and_ivf_factories(cli, tmp_path, scifact_slice, tiny_bi_encoder):
    for factory, extra in (("HNSW16", ["--ef-search", "64"]), ("IVF8,Flat", ["--nprobe", "8"])):
        idx = tmp_path / factory.replace(",", "_")
        r = cli("index", scifact_slice, "--model", tiny_bi_encoder, "--out", idx, "--factory", factory)
        assert r.code == 0, r.stderr
        r = cli("eval", idx, "--dataset", scifact_slice, "--k", "20", *extra)
        assert r.code == 0, r.stderr
        assert 0.0 <= json.loads(r.stdout)["aggregate"]["nDCG@10"] <= 1.0


def test_eval_ir_datasets_id(cli, tmp_path, tiny_bi_encoder):
    """An ir_datasets id resolves through ir_datasets' registry (a local dataset registered here: no network)."""
    import ir_datasets
    from ir_datasets.datasets.base import Dataset
    from ir_datasets.formats import TrecQrels, TsvDocs, TsvQueries
    from ir_datasets.util import LocalDownload

    (tmp_path / "q.tsv").write_text("1\tcells and energy\n2\tplanets\n")
    (tmp_path / "qrels").write_text("1 0 d1 2\n2 0 d2 1\n")
    (tmp_path / "docs.tsv").write_text("d1\tmitochondria produce energy for cells\nd2\tjupiter is a planet\nd3\tunrelated\n")
    name = "synrank-test/toy"
    if name not in ir_datasets.registry:
        ir_datasets.registry.register(
            name,
            Dataset(
                TsvQueries(LocalDownload(tmp_path / "q.tsv")),
                TrecQrels(LocalDownload(tmp_path / "qrels"), {0: "no", 1: "yes", 2: "very"}),
                TsvDocs(LocalDownload(tmp_path / "docs.tsv")),
            ),
        )
    idx = tmp_path / "idx"
    assert cli("index", name, "--model", tiny_bi_encoder, "--out", idx).code == 0
    r = cli("eval", idx, "--dataset", name, "--out", tmp_path / "r.json")
    assert r.code == 0, r.stderr
    assert json.loads((tmp_path / "r.json").read_text())["num_queries"] == 2


BAD = [
    ("corpus.jsonl", '{"_id": "a", "text": "x"}\n{"_id": "b", "text": }\n', "corpus.jsonl:2: bad JSON"),
    ("corpus.jsonl", '{"_id": "a", "text": "x"}\n{"_id": "a", "text": "y"}\n', "corpus.jsonl:2: duplicate document id 'a'"),
    ("corpus.jsonl", '{"_id": "a", "title": "x"}\n', "corpus.jsonl:1: missing document text field"),
    ("corpus.tsv", "a\tx\nb\ty\tz\n", "corpus.tsv:2: expected 2 tab-separated columns, found 3"),
    ("corpus.jsonl", "", "corpus.jsonl: no documents found"),
]


@pytest.mark.parametrize("name,text,message", BAD)
def test_index_bad_input_one_line_exit_2_no_output(cli, tmp_path, tiny_bi_encoder, name, text, message):
    corpus = tmp_path / name
    corpus.write_text(text)
    out = tmp_path / "idx"
    r = cli("index", corpus, "--model", tiny_bi_encoder, "--out", out)
    assert r.code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_eval_bad_inputs(cli, tmp_path, scifact_slice, tiny_bi_encoder):
    idx = tmp_path / "idx"
    assert cli("index", scifact_slice, "--model", tiny_bi_encoder, "--out", idx).code == 0
    cases = [
        (["--dataset", scifact_slice, "--split", "dev"], "split 'dev' not found (available: test)"),
        (["--dataset", "nosuch/dataset-id"], "unknown dataset 'nosuch/dataset-id'"),
        (["--queries", tmp_path / "missing.tsv", "--qrels", scifact_slice / "qrels" / "test.tsv"], "missing.tsv: file not found"),
        (["--dataset", scifact_slice, "--metrics", "MRR"], "unknown metric 'MRR'"),
    ]
    for args, message in cases:
        r = cli("eval", idx, *args, "--out", tmp_path / "res.json")
        assert r.code == 2, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and message in r.stderr, r.stderr
    assert not (tmp_path / "res.json").exists()
    r = cli("eval", tmp_path / "nope", "--dataset", scifact_slice)
    assert r.code == 2 and "index folder not found" in r.stderr


def test_unbuilt_or_unknown_model_fails_cleanly(cli, tmp_path, scifact_slice):
    r = cli("index", scifact_slice, "--model", "./no-such-model", "--out", tmp_path / "i")
    assert r.code == 2 and "model folder './no-such-model' does not exist" in r.stderr
    assert not (tmp_path / "i").exists()


@pytest.mark.slow
def test_scifact_full_matches_published_minilm(cli, tmp_path, scifact_dir):
    """all-MiniLM-L6-v2, Flat, title + text: the published MTEB figures (nDCG@10 64.51, R@100 92.5)."""
    idx = tmp_path / "idx"
    assert cli("index", scifact_dir, "--model", "minilm", "--out", idx).code == 0
    r = cli("eval", idx, "--dataset", scifact_dir, "--split", "test", "--out", tmp_path / "r.json", "--run-out", tmp_path / "run.trec")
    assert r.code == 0, r.stderr
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["num_queries"] == 300
    assert res["aggregate"]["nDCG@10"] == pytest.approx(0.6451, abs=0.002)
    assert res["aggregate"]["R@100"] == pytest.approx(0.925, abs=0.005)
