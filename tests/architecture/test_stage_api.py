"""One stage API (issue 29.3): every stage is ``synrank.<stage>.run(config, *, progress=None)``, reachable
lazily from ``import synrank``; ``progress`` means one thing everywhere; the runtime settings are written once
(``RuntimeConfig``); the older names and keywords keep working."""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import synrank
from synrank.config import default_of, help_of
from synrank.runtime.config import RUNTIME_SETTINGS, RuntimeConfig

REPO = Path(__file__).resolve().parents[2]

# (package, run function, config class): every stage's one entry point.
STAGES = [
    ("generate", "run", "GenerateConfig"),
    ("search", "run", "SearchConfig"),
    ("score", "run", "ScoreConfig"),
    ("score", "run_fuse", "FuseConfig"),
    ("train", "run", "TrainConfig"),
    ("index", "run", "IndexConfig"),
    ("evaluate", "run", "EvalConfig"),
    ("compare", "run", "CompareConfig"),
    ("formats.check", "run", "CheckConfig"),
]


def _module(dotted: str):
    obj = synrank
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def test_import_synrank_and_a_config_load_no_heavy_library():
    """``import synrank`` and reading stage configs through it load neither torch, numpy nor faiss."""
    code = (
        "import sys, synrank\n"
        "assert synrank.index.IndexConfig.__name__ == 'IndexConfig'\n"
        "assert synrank.train.TrainConfig and synrank.search.SearchConfig and synrank.compare.CompareConfig\n"
        "print(sorted(m for m in ('torch', 'numpy', 'faiss') if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.parametrize(("package", "func", "config"), STAGES, ids=[f"{p}.{f}" for p, f, _ in STAGES])
def test_every_stage_has_the_one_shape(package, func, config):
    """``run(config, *, progress=None)``, reached from ``synrank.``, and its config class beside it."""
    mod = _module(package)
    params = inspect.signature(getattr(mod, func)).parameters
    first, *rest = params.values()
    assert first.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert params["progress"].kind is inspect.Parameter.KEYWORD_ONLY and params["progress"].default is None
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in rest)
    assert dataclasses.is_dataclass(getattr(mod, config))


def test_unknown_attribute_of_synrank_is_an_attribute_error():
    with pytest.raises(AttributeError):
        synrank.not_a_stage  # noqa: B018


# --- progress: one meaning ---------------------------------------------------------------------------------


def test_reporter_meanings(capsys):
    from synrank.runtime.progress import reporter

    assert not reporter(None).bars and not reporter(False).bars
    reporter(None).say("nothing")
    assert capsys.readouterr().err == ""

    got: list[str] = []
    r = reporter(got.append)
    r.say("one")
    assert got == ["one"] and not r.bars

    loud = reporter(True)
    assert loud.bars
    loud.say("server http://bob:secret@example.org/v1 answered")
    err = capsys.readouterr().err
    assert "answered" in err and "secret" not in err

    with pytest.raises(TypeError):
        reporter("yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        reporter(got.append, info=got.append)


def _tiny_beir(root: Path) -> Path:
    (root / "qrels").mkdir(parents=True)
    docs = {"d1": "cats purr and sleep", "d2": "dogs bark at night", "d3": "the stock market fell", "d4": "rain in spain"}
    with open(root / "corpus.jsonl", "w") as fh:
        for did, text in docs.items():
            fh.write(json.dumps({"_id": did, "title": "", "text": text}) + "\n")
    with open(root / "queries.jsonl", "w") as fh:
        for qid, text in {"q1": "a purring cat", "q2": "barking dog"}.items():
            fh.write(json.dumps({"_id": qid, "text": text}) + "\n")
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n")
    return root


def test_check_run_sends_a_message_per_file_and_the_old_name_still_works(tmp_path):
    from synrank.formats.check import CheckConfig, check_inputs

    data = _tiny_beir(tmp_path / "tiny")
    got: list[str] = []
    result = synrank.formats.check.run(CheckConfig(dataset=str(data), split="test"), progress=got.append)
    assert got == [
        f"reading the corpus {data / 'corpus.jsonl'}",
        f"reading the queries {data / 'queries.jsonl'}",
        f"reading the qrels {data / 'qrels' / 'test.tsv'}",
    ]
    assert [(f.kind, f.count) for f in result.files] == [("documents", 4), ("queries", 2), ("judgments", 2)]
    assert check_inputs(CheckConfig(dataset=str(data))).lines() == result.lines()


def test_fuse_reports_each_run_read(tmp_path):
    from synrank.score import FuseConfig

    a, b = tmp_path / "a.trec", tmp_path / "b.trec"
    a.write_text("q1 Q0 d1 1 2.0 a\nq1 Q0 d2 2 1.0 a\nq2 Q0 d2 1 3.0 a\n")
    b.write_text("q1 Q0 d2 1 5.0 b\n")
    got: list[str] = []
    res = synrank.score.run_fuse(FuseConfig(runs=[str(a), str(b)], out=tmp_path / "f.trec"), progress=got.append)
    assert got == [f"read {a}: 2 queries", f"read {b}: 1 queries"]
    # RRF (k=60) by hand: q1: d2 = 1/62 + 1/61, d1 = 1/61.
    assert [d for d, _ in res.fused["q1"]] == ["d2", "d1"]


# --- runtime settings written once ----------------------------------------------------------------------------

# The fields whose help says more than RuntimeConfig's, on purpose (see their comments).
OWN_HELP = {("GenerateConfig", "threads")}


@pytest.mark.parametrize(("package", "func", "config"), [s for s in STAGES if s[2] in
                         ("GenerateConfig", "SearchConfig", "ScoreConfig", "TrainConfig", "IndexConfig", "EvalConfig")],
                         ids=lambda v: v if isinstance(v, str) else None)
def test_stage_runtime_settings_come_from_runtime_config(package, func, config):
    cls = getattr(_module(package), config)
    names = {f.name for f in dataclasses.fields(cls)}
    assert {"device", "dtype", "threads", "trust_remote_code"} <= names
    for name in RUNTIME_SETTINGS:
        if name not in names:
            continue
        assert default_of(cls, name) == default_of(RuntimeConfig, name), name
        if (config, name) not in OWN_HELP:
            assert help_of(cls, name) == help_of(RuntimeConfig, name), name


def test_cfg_runtime_gathers_the_flat_fields(tmp_path):
    from synrank.index import IndexConfig
    from synrank.search import SearchConfig

    cfg = IndexConfig(corpus="c.jsonl", out=tmp_path / "i", device="cpu", dtype="fp32", threads=3, seed=7)
    assert cfg.runtime == RuntimeConfig(device="cpu", dtype="fp32", threads=3, seed=7, trust_remote_code=False)
    # search has no seed: the runtime's default fills in.
    assert SearchConfig(source="idx", queries="q.tsv", threads=2).runtime == RuntimeConfig(threads=2)


def test_threads_are_shared_out_among_local_processes():
    from synrank.runtime.seeding import threads_for

    cores = len(os.sched_getaffinity(0))
    assert threads_for(0) == cores
    assert threads_for(0, processes=2) == max(1, cores // 2)
    assert threads_for(0, processes=10 * cores) == 1
    assert threads_for(3, processes=2) == 3


def test_train_run_shares_threads_under_torchrun(tmp_path, monkeypatch):
    """The library's train (not only the CLI) gives each of torchrun's local processes its share of the cores."""
    import torch

    from synrank.errors import InputError
    from synrank.train import TrainConfig

    cores = len(os.sched_getaffinity(0))
    if cores < 2:
        pytest.skip("needs two cores to tell a share from all of them")
    bad = tmp_path / "lists.jsonl"
    bad.write_text("not json\n")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    before = torch.get_num_threads()
    torch.set_num_threads(cores)
    try:
        with pytest.raises(InputError):
            synrank.train.run(TrainConfig(inputs=[str(bad)], out=tmp_path / "m"))
        assert torch.get_num_threads() == cores // 2
    finally:
        torch.set_num_threads(before)


# --- index.run against an independent computation -------------------------------------------------------------


def test_index_run_equals_direct_inner_products_and_build_still_works(tmp_path, tiny_bi_encoder):
    """Search results of the index ``synrank.index.run`` writes equal inner products of the model's own
    sentence-transformers embeddings computed here; the progress callable gets the stage's messages; the
    older ``build(..., info=)`` writes the same index."""
    import faiss
    import numpy as np
    from sentence_transformers import SentenceTransformer

    data = _tiny_beir(tmp_path / "tiny")
    got: list[str] = []
    cfg = synrank.index.IndexConfig(corpus=str(data), out=tmp_path / "idx", model=str(tiny_bi_encoder), dtype="fp32", device="cpu")
    result = synrank.index.run(cfg, progress=got.append)
    assert result.documents == 4
    assert len(got) == 1 and got[0].startswith("encoding 4 documents with ")

    st = SentenceTransformer(str(tiny_bi_encoder), device="cpu")
    texts = ["cats purr and sleep", "dogs bark at night", "the stock market fell", "rain in spain"]
    doc_emb = st.encode(texts, normalize_embeddings=True, convert_to_numpy=True).astype(np.float32)
    q_emb = st.encode(["a purring cat", "barking dog"], normalize_embeddings=True, convert_to_numpy=True).astype(np.float32)
    expected = q_emb @ doc_emb.T

    index = faiss.read_index(str(tmp_path / "idx" / "index.faiss"))
    docids = (tmp_path / "idx" / "docids.txt").read_text().split()
    scores, rows = index.search(q_emb, 4)
    for qi in range(2):
        by_id = {docids[r]: s for r, s in zip(rows[qi], scores[qi])}
        for di, did in enumerate(["d1", "d2", "d3", "d4"]):
            assert by_id[did] == pytest.approx(float(expected[qi, di]), abs=1e-5)

    old: list[str] = []
    again = synrank.index.build(dataclasses.replace(cfg, out=tmp_path / "idx2"), info=old.append)
    assert old == [got[0].replace(str(tmp_path / "idx"), str(tmp_path / "idx2"))]
    assert np.allclose(faiss.read_index(str(again.out / "index.faiss")).reconstruct_n(0, 4), index.reconstruct_n(0, 4), atol=1e-6)
