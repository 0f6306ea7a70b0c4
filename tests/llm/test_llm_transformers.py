"""The transformers backend on a tiny random Llama: batching does not change greedy output, token
counts and finish reasons are right, prefixes are applied, sampling is reproducible."""

from __future__ import annotations

import pytest

from synrank.errors import ConfigError
from synrank.llm.base import ChatRequest, SamplingConfig


@pytest.fixture(scope="module")
def backend(tiny_llama):
    from synrank.llm.hf_backend import TransformersBackend
    from synrank.llm.hf_loading import resolve_model_source

    return TransformersBackend(resolve_model_source(str(tiny_llama)), device="cpu", dtype="fp32", max_batch_size=8)


def _reqs(n, prefix=""):
    return [ChatRequest(({"role": "user", "content": "tell me " + "more " * i},), prefix=prefix, seed=i) for i in range(n)]


def test_batched_greedy_equals_one_by_one_reference(backend):
    """Reference: plain ``model.generate`` on each prompt alone, decoded independently."""
    import torch

    from synrank.llm.hf_backend import render_prompt

    reqs = _reqs(5)
    greedy = SamplingConfig(temperature=0.0, max_new_tokens=10)
    batched = backend.generate(reqs, greedy)
    tok, model = backend.tokenizer, backend.model
    for req, got in zip(reqs, batched):
        ids = tok(render_prompt(tok, req), return_tensors="pt", add_special_tokens=False)["input_ids"]
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=10, do_sample=False, pad_token_id=tok.pad_token_id)
        new = out[0, ids.shape[1] :].tolist()
        if tok.sep_token_id in new:
            new = new[: new.index(tok.sep_token_id)]
        assert got.text == tok.decode(new, skip_special_tokens=True)
        assert got.prompt_tokens == ids.shape[1]
        assert got.completion_tokens == (10 if got.finish_reason == "length" else len(new) + 1)


def test_token_budget_splits_batches_without_changing_results(backend):
    reqs = _reqs(6)
    greedy = SamplingConfig(temperature=0.0, max_new_tokens=6)
    one_batch = backend.generate(reqs, greedy)
    old = backend.batch_tokens
    backend.batch_tokens = 40  # forces several small batches
    try:
        split = backend.generate(reqs, greedy)
    finally:
        backend.batch_tokens = old
    assert [c.text for c in split] == [c.text for c in one_batch]


def test_prefix_is_appended_after_the_generation_prompt(backend):
    from synrank.llm.hf_backend import render_prompt

    req = _reqs(1, prefix='{"passage": "')[0]
    text = render_prompt(backend.tokenizer, req)
    assert text.endswith('[assistant] {"passage": "')


def test_sampling_is_seeded(backend):
    reqs = _reqs(3)
    s = SamplingConfig(temperature=1.0, top_p=1.0, max_new_tokens=8, seed=3)
    a = backend.generate(reqs, s)
    b = backend.generate(reqs, s)
    c = backend.generate(reqs, SamplingConfig(temperature=1.0, top_p=1.0, max_new_tokens=8, seed=4))
    assert [x.text for x in a] == [x.text for x in b]
    assert [x.text for x in a] != [x.text for x in c]


def test_model_sources(tmp_path):
    from synrank.llm.hf_loading import resolve_model_source

    src = resolve_model_source("smollm2")
    assert src.is_gguf and src.gguf_file.endswith(".gguf")
    with pytest.raises(ConfigError, match="not a text generator"):
        resolve_model_source("minilm")
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_model_source("./no/such/model")
    f = tmp_path / "weights.bin"
    f.write_bytes(b"x")
    with pytest.raises(ConfigError, match="not a .gguf file"):
        resolve_model_source(str(f))
