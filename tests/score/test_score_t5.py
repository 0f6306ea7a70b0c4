"""T5 reranker teachers (monot5, rankt5) with a tiny random T5 and a sentencepiece-style (Unigram, Metaspace)
tokenizer built here: every score must equal the first-decoder-step logits read straight from transformers
(each pair alone, unpadded; and CADeT's generate()-based reading), whatever the batching; long passages lose
their end, not the template's; the CLI writes the same scores and records the scoring in the manifest."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import T5_WORDS as WORDS
from helpers import TOY_DOCS

from synrank.errors import ConfigError
from synrank.score.teachers import make_teacher
from synrank.score.teachers.base import TeacherConfig
from synrank.score.teachers.t5 import MonoT5Teacher, RankT5Teacher, check_template

QUERIES = ["lazy dog", "fox hunting at night", "qubits", "what do foxes eat"]
PASSAGES = [TOY_DOCS["d1"], TOY_DOCS["d2"], TOY_DOCS["d4"], "A fox is a small omnivorous mammal " * 6]


@pytest.fixture(scope="module")
def reference(tiny_t5):
    """First-step decoder logits for one input, alone (no padding), straight from transformers."""
    import torch
    from transformers import AutoTokenizer, T5ForConditionalGeneration

    tok = AutoTokenizer.from_pretrained(str(tiny_t5))
    model = T5ForConditionalGeneration.from_pretrained(str(tiny_t5)).eval()

    def logits(text: str) -> torch.Tensor:
        ids = tok(text, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            return model(input_ids=ids, decoder_input_ids=torch.tensor([[model.config.decoder_start_token_id]])).logits[0, 0].double()

    logits.tok = tok  # type: ignore[attr-defined]
    logits.model = model  # type: ignore[attr-defined]
    return logits


def _monot5_ref(reference, q, d, mode="log-softmax"):
    import torch

    tok = reference.tok
    t, f = tok.convert_tokens_to_ids("▁true"), tok.convert_tokens_to_ids("▁false")
    lg = reference(f"Query: {q} Document: {d} Relevant:")
    return float(torch.log_softmax(lg[[t, f]], dim=0)[0]) if mode == "log-softmax" else float(lg[t])


def _rankt5_ref(reference, q, d):
    return float(reference(f"Query: {q} Document: {d}")[reference.tok.convert_tokens_to_ids("<extra_id_10>")])


def _fp32(**kw):
    return TeacherConfig(device="cpu", dtype="fp32", **kw)


@pytest.mark.parametrize("batch", [1, 3, 64])
def test_monot5_log_softmax_equals_direct_logits_at_any_batch_size(tiny_t5, reference, batch):
    teacher = make_teacher(f"monot5:{tiny_t5}", _fp32(max_batch_size=batch))
    got = teacher.score(QUERIES, PASSAGES, ["a", "b", "c", "d"])
    want = [_monot5_ref(reference, q, d) for q, d in zip(QUERIES, PASSAGES)]
    assert got.tolist() == pytest.approx(want, abs=1e-5)
    assert (got < 0).all()  # log-probabilities
    assert len(set(np.round(got, 6))) == len(got)  # the pairs really differ: the test could tell them apart


def test_monot5_matches_cadet_generate_reading(tiny_t5, reference):
    """CADeT's reranker/run_reranking.py: generate(max_length=2, output_scores=True), batch padded,
    log_softmax over [▁true, ▁false] of the first step's scores, taking ▁true."""
    import torch

    tok, model = reference.tok, reference.model
    enc = tok([f"Query: {q} Document: {d} Relevant:" for q, d in zip(QUERIES, PASSAGES)], return_tensors="pt", padding=True)
    with torch.no_grad():
        gen = model.generate(**enc, max_length=2, return_dict_in_generate=True, output_scores=True, do_sample=False)
    ids = [tok.convert_tokens_to_ids("▁true"), tok.convert_tokens_to_ids("▁false")]
    want = torch.log_softmax(gen.scores[0][:, ids].double(), dim=1)[:, 0].tolist()
    got = MonoT5Teacher(str(tiny_t5), _fp32()).score(QUERIES, PASSAGES, ["a", "b", "c", "d"])
    assert got.tolist() == pytest.approx(want, abs=1e-5)


def test_monot5_raw_logit_and_rankt5(tiny_t5, reference):
    ids = ["a", "b", "c", "d"]
    raw = MonoT5Teacher(str(tiny_t5), _fp32(max_batch_size=2), score="logit").score(QUERIES, PASSAGES, ids)
    assert raw.tolist() == pytest.approx([_monot5_ref(reference, q, d, "logit") for q, d in zip(QUERIES, PASSAGES)], abs=1e-5)
    rank = make_teacher(f"rankt5:{tiny_t5}", _fp32(max_batch_size=2)).score(QUERIES, PASSAGES, ids)
    assert rank.tolist() == pytest.approx([_rankt5_ref(reference, q, d) for q, d in zip(QUERIES, PASSAGES)], abs=1e-5)
    assert not np.allclose(rank, raw)


def test_tokens_and_templates_are_settings(tiny_t5, reference):
    import torch

    tok = reference.tok
    yes, dog = tok.convert_tokens_to_ids("▁yes"), tok.convert_tokens_to_ids("▁dog")
    # words of one token, an id, and another template
    teacher = MonoT5Teacher(str(tiny_t5), _fp32(), tokens=f"yes,{dog}", template="{passage} Query: {query}")
    got = teacher.score(QUERIES[:2], PASSAGES[:2], ["a", "b"])
    for g, q, d in zip(got, QUERIES, PASSAGES):
        lg = reference(f"{d} Query: {q}")
        assert g == pytest.approx(float(torch.log_softmax(lg[[yes, dog]], dim=0)[0]), abs=1e-5)
    assert teacher.info()["tokens"] == {"yes": yes, str(dog): dog}
    assert "log-softmax of 'yes'" in teacher.info()["score"]
    with pytest.raises(ConfigError, match="not one token"):
        MonoT5Teacher(str(tiny_t5), _fp32(), tokens="quickly,false")
    with pytest.raises(ConfigError, match="not one token"):
        RankT5Teacher(str(tiny_t5), _fp32(), token="<extra_id_99>")
    with pytest.raises(ConfigError, match="outside"):
        RankT5Teacher(str(tiny_t5), _fp32(), token="100000")
    with pytest.raises(ConfigError, match="exactly once"):
        check_template("Query: {query}")
    with pytest.raises(ConfigError, match="unknown placeholder"):
        check_template("Query: {query} Document: {document}")


def test_long_passage_loses_its_end_not_the_template(tiny_t5, reference):
    """With --max-length 20, 'Query: lazy dog Document: ... Relevant:' has 9 tokens of its own
    (▁Query : ▁lazy ▁dog ▁Document : | ▁Relevant : </s>), so 11 one-token words of the passage stay."""
    passage = " ".join(WORDS[:30])
    teacher = MonoT5Teacher(str(tiny_t5), _fp32(max_length=20))
    got = teacher.score(["lazy dog", "lazy dog"], [passage, "the dog"], ["x", "y"])
    kept = " ".join(WORDS[:11])
    pieces = reference.tok.convert_ids_to_tokens(reference.tok(f"Query: lazy dog Document: {kept} Relevant:")["input_ids"])
    assert pieces == ["▁Query", ":", "▁lazy", "▁dog", "▁Document", ":", *("▁" + w for w in WORDS[:11]), "▁Relevant", ":", "</s>"]
    assert got[0] == pytest.approx(_monot5_ref(reference, "lazy dog", kept), abs=1e-5)
    assert got[1] == pytest.approx(_monot5_ref(reference, "lazy dog", "the dog"), abs=1e-5)  # short pairs untouched


@pytest.fixture
def data(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": d, "title": "", "text": t}) + "\n" for d, t in TOY_DOCS.items()))
    cands = tmp_path / "cands.jsonl"
    recs = [
        {"query_id": "q1", "query": "lazy dog", "candidates": [{"doc_id": d, "score": 5 - i} for i, d in enumerate(["d1", "d5", "d3", "d2"])]},
        {"query_id": "q2", "query": "fox hunting at night", "candidates": [{"doc_id": d, "score": 5 - i} for i, d in enumerate(["d2", "d1", "d4"])]},
    ]
    cands.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return tmp_path, corpus, cands, recs


def test_cli_writes_monot5_scores_and_records_the_scoring(cli, data, tiny_t5, reference):
    tmp, corpus, cands, recs = data
    out = tmp / "lists.jsonl"
    r = cli("score", cands, "--corpus", corpus, "--teacher", f"monot5:{tiny_t5}", "--dtype", "fp32", "--max-batch-size", "2", "--out", out)
    assert r.code == 0, r.stderr
    lists = [json.loads(x) for x in out.read_text().splitlines()]
    for rec, src in zip(lists, recs):
        assert {c["doc_id"] for c in rec["candidates"]} == {c["doc_id"] for c in src["candidates"]}
        want = [_monot5_ref(reference, src["query"], TOY_DOCS[c["doc_id"]]) for c in rec["candidates"]]
        assert [c["score"] for c in rec["candidates"]] == pytest.approx(want, abs=1e-5)
    manifest = json.loads((tmp / "lists.jsonl.manifest.json").read_text())
    model = manifest["model"][0]
    assert model["kind"] == "monot5" and model["score"].startswith("log-softmax of '▁true'") and model["template"].endswith("Relevant:")
    assert manifest["config"]["monot5"][0] == "log-softmax"
    # another scoring mode is not served from the saved scores
    r = cli("score", cands, "--corpus", corpus, "--teacher", f"monot5:{tiny_t5}", "--dtype", "fp32", "--monot5-score", "logit", "--out", out)
    assert r.code == 0 and "discarding" in r.stderr, r.stderr
    lists = [json.loads(x) for x in out.read_text().splitlines()]
    for rec, src in zip(lists, recs):
        want = [_monot5_ref(reference, src["query"], TOY_DOCS[c["doc_id"]], "logit") for c in rec["candidates"]]
        assert [c["score"] for c in rec["candidates"]] == pytest.approx(want, abs=1e-5)


def test_cli_fuses_monot5_rankt5_and_bm25(cli, data, tiny_t5, reference):
    tmp, corpus, cands, recs = data
    specs = [f"monot5:{tiny_t5}", f"rankt5:{tiny_t5}", "bm25"]
    r = cli("score", cands, "--corpus", corpus, *[x for s in specs for x in ("--teacher", s)], "--dtype", "fp32")
    assert r.code == 0, r.stderr
    for line, src in zip(r.stdout.splitlines(), recs):
        for c in json.loads(line)["candidates"]:
            assert set(c["teachers"]) == set(specs)
            doc = TOY_DOCS[c["doc_id"]]
            assert c["teachers"][specs[0]] == pytest.approx(_monot5_ref(reference, src["query"], doc), abs=1e-5)
            assert c["teachers"][specs[1]] == pytest.approx(_rankt5_ref(reference, src["query"], doc), abs=1e-5)


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("empty_folder", "cannot load monot5 model"),
        ("missing_folder", "does not exist"),
        ("not_seq2seq", "cannot load rankt5 model"),
        ("bad_template", "--monot5-template"),
        ("bad_tokens", "--monot5-tokens"),
        ("bad_token", "--rankt5-token"),
    ],
)
def test_bad_t5_input_is_one_line(cli, data, tiny_t5, tiny_bi_encoder, case, needle):
    tmp, corpus, cands, recs = data
    (tmp / "empty").mkdir()
    teacher, extra = {
        "empty_folder": (f"monot5:{tmp / 'empty'}", []),
        "missing_folder": (f"monot5:{tmp / 'nope'}", []),
        "not_seq2seq": (f"rankt5:{tiny_bi_encoder}", []),
        "bad_template": (f"monot5:{tiny_t5}", ["--monot5-template", "Query: {query}"]),
        "bad_tokens": (f"monot5:{tiny_t5}", ["--monot5-tokens", "true"]),
        "bad_token": (f"rankt5:{tiny_t5}", ["--rankt5-token", "quickly"]),
    }[case]
    out = tmp / "o.jsonl"
    r = cli("score", cands, "--corpus", corpus, "--teacher", teacher, *extra, "--dtype", "fp32", "--out", out)
    assert r.code == 2, (r.code, r.stderr)
    errors = [x for x in r.stderr.splitlines() if x.startswith("synrank: error:")]
    assert len(errors) == 1 and needle in errors[0], r.stderr
    assert "Traceback" not in r.stderr and r.stderr.strip().splitlines()[-1] == errors[0]
    assert not out.exists()
