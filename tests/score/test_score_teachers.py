"""Teachers on their own: the LLM judge (tiny random Llama: batched, left-padded scores must equal each
prompt run alone; the bundled SmolLM2 in a slow test) and the bi-encoder teacher with the bundled
MiniLM on real SciFact (a judged-relevant abstract must outscore a random one for most claims)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from synrank.errors import ConfigError
from synrank.score.teachers import make_teacher, parse_teacher_spec
from synrank.score.teachers.base import TeacherConfig
from synrank.score.teachers.llm import LLMJudgeTeacher, judge_messages, level_definitions


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory, minilm_path):
    """A tiny random Llama with MiniLM's WordPiece tokenizer (digits 0-9 are single tokens; no chat template)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny-llama")
    tok = AutoTokenizer.from_pretrained(str(minilm_path))
    cfg = LlamaConfig(vocab_size=tok.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024)
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def _alone(scorer, prompt_text, label_ids):
    """Expected level for one prompt, unpadded, computed straight from the model's logits."""
    import torch

    ids = scorer.tokenizer(prompt_text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = scorer.model(input_ids=ids).logits[0, -1].double()
    p = torch.softmax(logits[label_ids], dim=-1).numpy()
    return float(p @ np.arange(len(label_ids))), p


def test_llm_judge_expected_level_is_padding_invariant(tiny_llama):
    teacher = LLMJudgeTeacher(str(tiny_llama), TeacherConfig(device="cpu", dtype="fp32", max_tokens=100_000))
    queries = ["what do foxes eat", "qubits", "how long do dogs live in cities and in the countryside"]
    texts = ["Foxes are omnivores.", "A quantum computer uses qubits, which can be in superposition of states " * 3, "Dogs live 10 to 13 years."]
    got = teacher.score(queries, texts, ["a", "b", "c"])
    assert got.shape == (3,)
    scorer = teacher.scorer
    label_ids = scorer.label_ids([str(i) for i in range(4)])
    for q, t, g in zip(queries, texts, got):
        want, p = _alone(scorer, scorer.render(judge_messages(q, t, 4)), label_ids)
        assert p.sum() == pytest.approx(1.0)
        assert g == pytest.approx(want, abs=1e-4)  # the batch was left-padded: positions must not shift
    assert ((got >= 0) & (got <= 3)).all()


def test_level_definitions_and_specs():
    assert list(level_definitions(4)) == [3, 2, 1, 0] and "exact answer" in level_definitions(4)[3]
    assert list(level_definitions(3)) == [2, 1, 0]
    with pytest.raises(ConfigError):
        level_definitions(11)
    assert parse_teacher_spec("cross-encoder:BAAI/bge-reranker-v2-m3") == ("cross-encoder", "BAAI/bge-reranker-v2-m3")
    assert parse_teacher_spec("llm:/models/x.gguf") == ("llm", "/models/x.gguf")
    assert parse_teacher_spec("bm25") == ("bm25", "")
    with pytest.raises(ConfigError):
        parse_teacher_spec("colbert:x")
    with pytest.raises(ConfigError, match="not a text generator"):
        make_teacher("llm:minilm")


@pytest.mark.slow
def test_bi_encoder_teacher_minilm_on_real_scifact(scifact_dir, minilm_path):
    """all-MiniLM-L6-v2 scores the judged-relevant abstract above a random abstract for >= 90% of 40 test claims."""
    from synrank.formats import doc_text, read_corpus, read_qrels, read_queries

    qrels = read_qrels(scifact_dir / "qrels" / "test.tsv")
    queries = read_queries(scifact_dir)
    corpus = read_corpus(scifact_dir)
    ids = sorted(corpus)
    rng = random.Random(0)
    qs, ts, ds, kinds = [], [], [], []
    for qid in sorted(qrels)[:40]:
        rel = next(d for d, r in qrels[qid].items() if r > 0)
        neg = rng.choice([d for d in ids if d not in qrels[qid]])
        for d, kind in ((rel, 1), (neg, 0)):
            qs.append(queries[qid])
            ts.append(doc_text(corpus[d]))
            ds.append(d)
            kinds.append(kind)
    teacher = make_teacher("bi-encoder:minilm", TeacherConfig(device="cpu"))
    s = teacher.score(qs, ts, ds)
    wins = np.mean(s[0::2] > s[1::2])
    assert wins >= 0.9, wins


@pytest.mark.slow
def test_llm_judge_smollm2_real(smollm2_gguf):
    """The bundled SmolLM2 (GGUF, via transformers) judges real pairs: scores are expected levels in [0, 3],
    deterministic, and equal to the probabilities read from the model for each prompt alone."""
    teacher = make_teacher("llm:smollm2", TeacherConfig(device="cpu", dtype="fp32"), llm_backend="transformers")
    queries = ["what is the capital of france", "what is the capital of france", "symptoms of flu"]
    texts = [
        "Paris is the capital and largest city of France.",
        "Bananas are rich in potassium and grow in tropical climates.",
        "Influenza causes fever, cough, sore throat, muscle aches and fatigue.",
    ]
    got = teacher.score(queries, texts, ["a", "b", "c"])
    assert ((got >= 0) & (got <= 3)).all()
    assert np.array_equal(got, teacher.score(queries, texts, ["a", "b", "c"]))
    scorer = teacher.scorer
    label_ids = scorer.label_ids(["0", "1", "2", "3"])
    want, _ = _alone(scorer, scorer.render(judge_messages(queries[1], texts[1], 4)), label_ids)
    assert got[1] == pytest.approx(want, abs=1e-3)
    assert teacher.info()["backend"] == "transformers"
