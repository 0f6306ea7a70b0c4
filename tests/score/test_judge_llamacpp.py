"""The LLM judge on llama.cpp: its label distributions match the transformers judge's on the same GGUF
(the transformers scorer is the reference: same weights, dequantised, exact softmax over the labels)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("xllamacpp", reason="the llama.cpp engine is not installed (make setup)")

PAIRS = [
    ("do statins lower LDL cholesterol", "Statins inhibit HMG-CoA reductase and lower LDL cholesterol by 30 to 50 percent in most adults."),
    ("do statins lower LDL cholesterol", "The Eiffel Tower was completed in 1889 for the World's Fair in Paris."),
    ("malaria vaccine efficacy in children", "RTS,S reduced clinical malaria episodes by about 40 percent in young African children over four years."),
    ("malaria vaccine efficacy in children", "Bananas are rich in potassium and are a popular breakfast fruit."),
    ("what causes type 2 diabetes", "Insulin resistance in muscle and liver, together with failing beta cells, leads to type 2 diabetes."),
    ("what causes type 2 diabetes", "Jazz developed in New Orleans in the early twentieth century."),
]


@pytest.mark.slow  # loads SmolLM2 twice (transformers and llama.cpp), ~20 s
def test_llamacpp_judge_matches_transformers_judge(smollm2_gguf):
    from synrank.score.teachers.base import TeacherConfig
    from synrank.score.teachers.llm import LLMJudgeTeacher, judge_messages

    ref = LLMJudgeTeacher("smollm2", TeacherConfig(device="cpu"), backend="transformers")
    fast = LLMJudgeTeacher("smollm2", backend="llamacpp", threads=2, slots=2)
    prompts = [judge_messages(q, p, 4) for q, p in PAIRS]
    labels = ["0", "1", "2", "3"]
    p_ref = ref.scorer.level_probabilities(prompts, labels)
    p_fast = fast.scorer.level_probabilities(prompts, labels)
    np.testing.assert_allclose(p_fast.sum(1), 1.0, atol=1e-9)
    np.testing.assert_allclose(p_fast, p_ref, atol=0.08)  # Q4_1 kernels vs dequantised fp32: small differences
    s_ref = ref.score([q for q, _ in PAIRS], [p for _, p in PAIRS], [str(i) for i in range(6)])
    s_fast = fast.score([q for q, _ in PAIRS], [p for _, p in PAIRS], [str(i) for i in range(6)])
    np.testing.assert_allclose(s_fast, s_ref, atol=0.2)
    assert fast.info()["backend"] == "llamacpp" and fast.info()["prompts_without_a_label"] == 0
    fast.scorer.close()


def test_unknown_judge_backend_is_refused():
    from synrank.errors import ConfigError
    from synrank.score.teachers.llm import LLMJudgeTeacher

    with pytest.raises(ConfigError, match="unknown LLM judge backend"):
        LLMJudgeTeacher("smollm2", backend="vllm")


@pytest.mark.slow  # SmolLM2 on both backends, ~25 s
def test_score_command_judges_on_llamacpp_for_a_gguf_model_unless_told_otherwise(cli, tmp_path, smollm2_gguf):
    """`--teacher llm:MODEL` follows generate's backend rule: auto runs a GGUF alias on llama.cpp (and says so in the
    manifest); `--llm-backend transformers` runs the same weights dequantised, the reference the scores must agree
    with (within the quantised kernels' difference)."""
    import json

    queries = {"q0": PAIRS[0][0], "q1": PAIRS[2][0]}
    passages = {f"d{i}": p for i, (_q, p) in enumerate(PAIRS)}
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": d, "title": "", "text": t}) + "\n" for d, t in passages.items()))
    cands = tmp_path / "cands.jsonl"
    recs = [{"query_id": q, "query": text, "candidates": [{"doc_id": d, "score": 1.0} for d in ("d0", "d1", "d2", "d3")]}
            for q, text in queries.items()]
    cands.write_text("".join(json.dumps(r) + "\n" for r in recs))
    scores, backends = {}, {}
    for name, flags in (("auto", []), ("transformers", ["--llm-backend", "transformers", "--dtype", "fp32"])):
        out = tmp_path / f"{name}.jsonl"
        r = cli("score", cands, "--corpus", corpus, "--teacher", "llm:smollm2", "--threads", "2", "-o", out, *flags)
        assert r.code == 0, r.stderr
        lists = [json.loads(x) for x in out.read_text().splitlines()]
        scores[name] = np.array([[c["score"] for c in sorted(ql["candidates"], key=lambda c: c["doc_id"])] for ql in lists])
        backends[name] = json.loads(out.with_name(out.name + ".manifest.json").read_text())["model"][0]["backend"]
    assert backends == {"auto": "llamacpp", "transformers": "transformers"}
    np.testing.assert_allclose(scores["auto"], scores["transformers"], atol=0.2)
