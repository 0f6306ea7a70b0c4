"""The vllm backend's calls against vLLM's offline API, checked on a fake ``vllm`` package.

vLLM needs a GPU; what we can check here is the contract: ``LLM(model, tensor_parallel_size, dtype,
seed, ...)``, ``SamplingParams(n, temperature, top_p, max_tokens, seed)`` per request, ``LLM.chat`` with
``add_generation_prompt``/``continue_final_message`` for response prefixes, and data parallelism as
separate engine processes each seeing its own GPUs (``LLM(data_parallel_size=N)`` is refused by vLLM
for single-process offline use, and by the fake).
"""

from __future__ import annotations

import json

import pytest

from synrank.errors import ConfigError
from synrank.llm.base import ChatRequest, SamplingConfig
from helpers import read_jsonl


def _calls(log):
    return [json.loads(line) for line in log.read_text().splitlines()]


def _requests(n, prefix='{"passage": "'):
    return [
        ChatRequest(({"role": "system", "content": "sys"}, {"role": "user", "content": f"Query: q{i}\nwrite\nend"}), prefix=prefix if i % 2 == 0 else "", seed=100 + i)
        for i in range(n)
    ]


def test_llm_construction_sampling_and_chat_calls(fake_vllm):
    from synrank.llm.vllm_backend import VLLMBackend

    b = VLLMBackend("/models/llama", tensor_parallel_size=2, dtype="bf16", seed=5, engine_args={"max_model_len": 4096})
    reqs = _requests(4)
    outs = b.generate(reqs, SamplingConfig(temperature=0.8, top_p=0.9, max_new_tokens=77, seed=5))
    calls = _calls(fake_vllm)
    init = calls[0]
    assert init["event"] == "init" and init["model"] == "/models/llama"
    assert init["kwargs"] == {
        "tensor_parallel_size": 2,
        "dtype": "bfloat16",
        "seed": 5,
        "trust_remote_code": False,
        "gpu_memory_utilization": 0.9,
        "max_model_len": 4096,
    }
    chats = [c for c in calls if c["event"] == "chat"]
    # Requests without a prefix and with one go in separate calls (the flags are per call).
    plain = next(c for c in chats if not c["continue_final_message"])
    prefixed = next(c for c in chats if c["continue_final_message"])
    assert plain["add_generation_prompt"] is True and prefixed["add_generation_prompt"] is False
    assert sorted(plain["seeds"] + prefixed["seeds"]) == [100, 101, 102, 103]  # one SamplingParams per request
    assert plain["temperature"] == 0.8 and plain["top_p"] == 0.9 and plain["max_tokens"] == 77 and plain["use_tqdm"] is False
    # Output order follows the input order, whatever the grouping.
    for i, out in enumerate(outs):
        assert f"Query: q{i} " in out.text
        assert f"seed {100 + i}" in out.text
        assert out.finish_reason == "stop" and out.completion_tokens > 0 and out.prompt_tokens == 7
    b.close()


def test_greedy_sampling_is_sent_as_temperature_zero(fake_vllm):
    from synrank.llm.vllm_backend import VLLMBackend

    b = VLLMBackend("m")
    b.generate(_requests(1, prefix=""), SamplingConfig(temperature=0.0, top_p=0.5, max_new_tokens=8))
    chat = [c for c in _calls(fake_vllm) if c["event"] == "chat"][0]
    assert chat["temperature"] == 0.0 and chat["top_p"] == 1.0


def test_data_parallel_workers_get_their_own_gpus(fake_vllm, monkeypatch):
    from synrank.llm.vllm_backend import VLLMBackend

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    b = VLLMBackend("m", tensor_parallel_size=2, data_parallel_size=2, seed=1)
    try:
        reqs = _requests(5)
        outs = b.generate(reqs, SamplingConfig(max_new_tokens=9))
    finally:
        b.close()
    calls = _calls(fake_vllm)
    inits = [c for c in calls if c["event"] == "init"]
    assert sorted(c["cuda_visible_devices"] for c in inits) == ["0,1", "2,3"]
    assert all(c["kwargs"]["tensor_parallel_size"] == 2 and "data_parallel_size" not in c["kwargs"] for c in inits)
    assert len({c["pid"] for c in inits}) == 2  # two engine processes
    served = sorted(s for c in calls if c["event"] == "chat" for s in c["seeds"])
    assert served == [100, 101, 102, 103, 104]  # every request once, split between replicas
    assert [f"seed {100 + i}" in o.text for i, o in enumerate(outs)] == [True] * 5


def test_data_parallel_needs_enough_gpus(fake_vllm, monkeypatch):
    from synrank.llm.vllm_backend import VLLMBackend

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    with pytest.raises(ConfigError, match="needs 4 GPUs, 2 visible"):
        VLLMBackend("m", tensor_parallel_size=2, data_parallel_size=2)


def test_generate_cli_with_vllm_backend(fake_vllm, queries_tsv, tmp_path, cli):
    out = tmp_path / "synth.jsonl"
    r = cli("generate", "--backend", "vllm", "--model", "org/model", "--tensor-parallel-size", "2", "--levels", "3",
            "--docs-per-level", "2", "--limit", "3", str(queries_tsv), "--out", out)
    assert r.code == 0, r.stderr
    records = read_jsonl(out)
    assert len(records) == 3
    for rec in records:
        assert [d["level"] for d in rec["documents"]] == [2, 2, 1, 1, 0, 0]
        assert rec["meta"]["backend"] == "vllm" and rec["meta"]["model"] == "org/model"
    init = [c for c in _calls(fake_vllm) if c["event"] == "init"][0]
    assert init["model"] == "org/model" and init["kwargs"]["tensor_parallel_size"] == 2
    manifest = json.loads((tmp_path / "synth.jsonl.manifest.json").read_text())
    assert manifest["backend"]["tensor_parallel_size"] == 2


def test_missing_vllm_is_one_clear_error(monkeypatch, queries_tsv, cli):
    import sys

    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm -> ImportError
    r = cli("generate", "--backend", "vllm", "--model", "m", str(queries_tsv))
    assert r.code == 2
    assert r.stderr.strip().splitlines() == ["synrank: error: the vllm backend needs vLLM (pip install 'synrank[vllm]' on a machine with a GPU)"]
