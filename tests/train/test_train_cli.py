"""`synrank train` end to end on the tiny random bi-encoder: every loss, real data, bad input, resume."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import weights, write_scored, write_synth

COMMON = ("--batch-size", "4", "--max-steps", "2", "--dtype", "fp32", "--threads", "1", "--logging-steps", "1", "--lr", "1e-3")


@pytest.mark.parametrize(
    "loss,data",
    [("wasserstein", "synth"), ("ws2", "synth"), ("infonce", "synth"), ("kl", "scored"), ("kl+infonce", "scored")],
)
def test_each_loss_trains_and_writes_a_loadable_folder(tmp_path, cli, tiny_bi_encoder, loss, data):
    from sentence_transformers import SentenceTransformer

    src = write_synth(tmp_path / "s.jsonl") if data == "synth" else write_scored(tmp_path / "s.jsonl")
    out = tmp_path / "ckpt"
    r = cli("train", src, "--model", tiny_bi_encoder, "--loss", loss, "--out", out, *COMMON)
    assert r.code == 0, r.stderr
    assert r.stdout == ""  # data only on stdout; train writes none
    model = SentenceTransformer(str(out), device="cpu")
    assert model.encode(["a protein"]).shape == (1, 32)
    before, after = weights(tiny_bi_encoder), weights(out)
    assert any(not torch.equal(before[k], after[k]) for k in before)  # the weights moved
    log = [json.loads(x) for x in (out / "training_log.jsonl").read_text().splitlines()]
    steps = [rec for rec in log if "loss" in rec]
    assert [rec["step"] for rec in steps] == [1, 2] and all(rec["steps_per_s"] is None or rec["steps_per_s"] > 0 for rec in steps)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "train" and manifest["loss"]["name"] == loss and manifest["result"]["steps"] == 2
    # similarity auto: the loss's reference setting, recorded and saved with the model for index/search
    similarity = "dot" if loss in ("ws2", "wasserstein") else "cosine"
    assert manifest["loss"]["similarity"] == similarity and str(model.similarity_fn_name) == similarity
    assert not (tmp_path / "ckpt.train-state").exists()


def test_real_data_with_search_negatives(tmp_path, cli, tiny_bi_encoder, scifact_dir):
    from synrank.formats import read_qrels

    qrels = read_qrels(scifact_dir / "qrels" / "train.tsv")
    qids = list(qrels)[:6]
    corpus_ids = [json.loads(line)["_id"] for line in open(scifact_dir / "corpus.jsonl", encoding="utf-8")][:50]
    run = tmp_path / "bm25.jsonl"
    with open(run, "w") as fh:
        for qid in qids:
            cands = [{"doc_id": d, "score": 10.0 - r, "rank": r + 1} for r, d in enumerate(corpus_ids[:10])]
            fh.write(json.dumps({"query_id": qid, "query": "x", "candidates": cands}) + "\n")
    out = tmp_path / "real"
    r = cli(
        "train", "--dataset", scifact_dir, "--split", "train", "--negatives", run, "--loss", "infonce",
        "--model", tiny_bi_encoder, "--out", out, "--group-size", "3", *COMMON,
    )
    assert r.code == 0, r.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["data"]["train_queries"] == 6  # only the queries the run covers


def _one_error_line(r):
    assert r.code == 2, (r.code, r.stderr)
    lines = [x for x in r.stderr.strip().splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("synrank: error:"), r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


def test_bad_inputs_end_in_one_line(tmp_path, cli, tiny_bi_encoder):
    good = json.loads(write_synth(tmp_path / "g.jsonl", n=1).read_text().splitlines()[0])
    cases = {}
    empty = dict(good, documents=[])
    cases["empty list"] = (empty, "empty list")
    cases["short list"] = (dict(good, documents=good["documents"][:2]), "fewer than --group-size 4")
    nan_doc = [dict(d) for d in good["documents"]]
    nan_doc[1]["level"] = float("nan")
    cases["nan"] = (dict(good, documents=nan_doc), "finite")
    for name, (rec, needle) in cases.items():
        src = tmp_path / f"{name.replace(' ', '_')}.jsonl"
        src.write_text(json.dumps(good) + "\n" + json.dumps(rec) + "\n")  # NaN is written as the JSON token NaN
        out = tmp_path / f"out-{name.replace(' ', '_')}"
        line = _one_error_line(cli("train", src, "--model", tiny_bi_encoder, "--out", out, *COMMON))
        assert f"{src}:2:" in line and needle in line, line
        assert not out.exists() and not (tmp_path / f"{out.name}.train-state").exists()
    src = write_synth(tmp_path / "levels.jsonl", n=2, levels=(1, 1, 0, 0))
    line = _one_error_line(
        cli("train", src, "--model", tiny_bi_encoder, "--loss", "infonce", "--positive-min-level", "2", "--out", tmp_path / "o", *COMMON)
    )
    assert "no positive" in line and f"{src}:1:" in line
    line = _one_error_line(cli("train", src, "--model", tiny_bi_encoder, "--loss", "listnet", "--out", tmp_path / "o2", *COMMON))
    assert "--loss: unknown value 'listnet'" in line
    line = _one_error_line(cli("train", tmp_path / "missing.jsonl", "--model", tiny_bi_encoder, "--out", tmp_path / "o3", *COMMON))
    assert "missing.jsonl" in line and "not found" in line


@pytest.mark.parametrize(
    "option,value,needle",
    [
        ("--lr", "-1", "--lr: must be a positive number"),
        ("--epochs", "0", "--epochs: must be a positive number"),
        ("--temperature", "0", "--temperature: must be a positive number"),
        ("--teacher-temperature", "nan", "--teacher-temperature: must be a positive number"),
        ("--warmup", "-0.1", "--warmup: must be zero or more"),
        ("--lr-floor", "2", "--lr-floor: is a fraction"),
        ("--fn-margin", "1.5", "--fn-margin: is a fraction"),
        ("--eval-split", "1", "--eval-split: is a fraction"),
        ("--max-steps", "0", "--max-steps: must be at least 1, or -1"),
        ("--mini-batch-size", "-1", "--mini-batch-size: must be at least 0"),
        ("--max-seq-length", "0", "--max-seq-length: must be at least 1"),
        ("--early-stopping-patience", "0", "--early-stopping-patience: must be at least 1"),
        ("--similarity", "l2", "--similarity: unknown value 'l2'"),
        ("--ot", "exact", "--ot: unknown value 'exact'"),
        ("--grad-accumulation", "0", "--grad-accumulation: must be at least 1"),
        ("--lr-schedule", "cosine", "--lr-schedule: unknown value 'cosine'"),
    ],
)
def test_bad_numbers_and_names_stop_before_any_work(tmp_path, cli, option, value, needle):
    """Each setting is checked before the model, the data or the output folders are touched."""
    src = write_synth(tmp_path / "s.jsonl", n=2)
    out = tmp_path / "ckpt"
    line = _one_error_line(cli("train", src, "--model", "no-such-model", "--out", out, option, value))
    assert needle in line, line
    assert not out.exists() and not (tmp_path / "ckpt.train-state").exists()


def test_existing_output_and_leftover_state_are_refused(tmp_path, cli, tiny_bi_encoder):
    src = write_synth(tmp_path / "s.jsonl")
    out = tmp_path / "ckpt"
    out.mkdir()
    (out / "x").write_text("keep me")
    line = _one_error_line(cli("train", src, "--model", tiny_bi_encoder, "--out", out, *COMMON))
    assert "not written by synrank" in line  # a user's folder is never replaced
    line = _one_error_line(cli("train", src, "--model", tiny_bi_encoder, "--out", out, *COMMON, "--overwrite"))
    assert "not written by synrank" in line and (out / "x").read_text() == "keep me"
    (out / "manifest.json").write_text('{"kind": "train"}')  # synrank's own earlier output: needs --overwrite
    line = _one_error_line(cli("train", src, "--model", tiny_bi_encoder, "--out", out, *COMMON))
    assert "--overwrite" in line
    line = _one_error_line(cli("train", src, "--model", tiny_bi_encoder, "--out", tmp_path, *COMMON, "--overwrite"))
    assert "contains the input" in line
    (tmp_path / "other.train-state").mkdir()
    (tmp_path / "other.train-state" / "x").write_text("no stamp")  # a state whose settings are unknown
    line = _one_error_line(cli("train", src, "--model", tiny_bi_encoder, "--out", tmp_path / "other", *COMMON))
    assert "unknown settings" in line and "--overwrite" in line


@pytest.mark.slow
def test_minilm_trained_on_real_data_is_indexable(tmp_path, cli, scifact_dir):
    """The bundled real model, trained a few steps on SciFact train (random negatives), then `synrank index`."""
    out = tmp_path / "ckpt"
    r = cli(
        "train", "--dataset", scifact_dir, "--loss", "kl+infonce", "--model", "minilm", "--out", out, "--group-size", "3",
        "--batch-size", "4", "--max-steps", "2", "--max-seq-length", "64", "--dtype", "fp32", "--threads", "2",
    )
    assert r.code == 0, r.stderr
    corpus = tmp_path / "corpus.jsonl"
    with open(scifact_dir / "corpus.jsonl", encoding="utf-8") as src, open(corpus, "w", encoding="utf-8") as dst:
        for _, line in zip(range(20), src):
            dst.write(line)
    r = cli("index", corpus, "--model", out, "--out", tmp_path / "idx")
    assert r.code == 0, r.stderr
    assert (tmp_path / "idx").is_dir()


def test_drop_unusable_skips_short_lists_and_lists_without_positive(tmp_path, cli, tiny_bi_encoder):
    """Generated lists that lost passages to rejects: --drop-unusable trains on the rest and says how many it skipped."""
    src = write_synth(tmp_path / "s.jsonl", n=8)
    records = [json.loads(line) for line in src.read_text().splitlines()]
    records[1]["documents"] = records[1]["documents"][:2]
    records[5]["documents"] = records[5]["documents"][:3]
    src.write_text("".join(json.dumps(r) + "\n" for r in records))
    r = cli("train", src, "--model", tiny_bi_encoder, "--loss", "wasserstein", "--out", tmp_path / "a", *COMMON)
    assert "fewer than --group-size 4" in _one_error_line(r)
    r = cli("train", src, "--model", tiny_bi_encoder, "--loss", "wasserstein", "--drop-unusable", "--out", tmp_path / "b", *COMMON)
    assert r.code == 0, r.stderr
    assert "--drop-unusable skipped 2 of 8 lists" in r.stderr
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["data"]["train_queries"] == 6
    records[2]["documents"] = [d for d in records[2]["documents"] if d["level"] < 2]
    records[2]["documents"] += [dict(records[2]["documents"][0], doc_id=f"extra{i}", level=0) for i in range(3)]
    src.write_text("".join(json.dumps(r) + "\n" for r in records))
    args = ("--loss", "infonce", "--positive-min-level", "2", *COMMON)
    r = cli("train", src, "--model", tiny_bi_encoder, "--out", tmp_path / "d", *args)
    assert "has no positive for infonce" in _one_error_line(r)
    r = cli("train", src, "--model", tiny_bi_encoder, "--drop-unusable", "--out", tmp_path / "e", *args)
    assert r.code == 0, r.stderr
    assert "--drop-unusable skipped 3 of 8 lists" in r.stderr
    for rec in records:
        rec["documents"] = rec["documents"][:1]
    src.write_text("".join(json.dumps(r) + "\n" for r in records))
    r = cli("train", src, "--model", tiny_bi_encoder, "--loss", "wasserstein", "--drop-unusable", "--out", tmp_path / "c", *COMMON)
    assert "no list has at least --group-size 4 passages" in _one_error_line(r)


def test_document_keys_reach_the_loss(tmp_path, tiny_bi_encoder, monkeypatch):
    """The trainer hands each passage's document key to the loss, so a passage shared by two lists is masked."""
    from synrank.train import TrainConfig, train
    from synrank.train.data import doc_key
    from synrank.train.losses import kl_infonce

    src = write_scored(tmp_path / "s.jsonl", n=4)
    records = [json.loads(line) for line in src.read_text().splitlines()]
    records[1]["candidates"][0]["doc_id"] = records[0]["candidates"][0]["doc_id"]  # one source, two queries
    src.write_text("".join(json.dumps(r) + "\n" for r in records))
    seen = []
    real = kl_infonce.infonce_loss

    def spy(queries, passages, targets, doc_keys=None, **kw):
        seen.append(doc_keys)
        return real(queries, passages, targets, doc_keys, **kw)

    monkeypatch.setattr(kl_infonce, "infonce_loss", spy)
    cfg = TrainConfig(
        out=tmp_path / "o", inputs=[str(src)], model=str(tiny_bi_encoder), loss="kl+infonce", batch_size=4, max_steps=1,
        dtype="fp32", selection="top", group_size=3,
    )
    train(cfg)
    assert seen and seen[0] is not None and seen[0].shape == (4, 3)
    shared = doc_key(records[0]["candidates"][0]["doc_id"])
    assert sorted(seen[0][:, 0].tolist()).count(shared) == 2
