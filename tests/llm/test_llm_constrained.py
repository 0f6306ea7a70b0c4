"""Constrained JSON answers (ChatRequest.json_schema) on the openai and vllm backends.

openai: against a real OpenAI-compatible server that honours ``response_format`` (llama.cpp's own HTTP
server, the one xllamacpp embeds, with the bundled SmolLM2), and against a scripted server that refuses
it (HTTP 400): the backend falls back to the prefix path once and never asks again. vllm: the schema
reaches ``SamplingParams`` as structured outputs in whichever form the installed vLLM has.
"""

from __future__ import annotations

import json

import pytest

from synrank.llm.base import ChatRequest, SamplingConfig

SCHEMA = {"type": "object", "properties": {"query": {"type": "string", "minLength": 3, "maxLength": 80}}, "required": ["query"]}
PREFIX = '{"query": "'


def _req(i: int, schema=SCHEMA) -> ChatRequest:
    chat = ({"role": "user", "content": f"Passage: study {i} on statins and heart failure.\nWrite one question it answers."},)
    return ChatRequest(chat, prefix=PREFIX, seed=i, stop=('"}',), json_schema=schema)


def test_openai_sends_response_format_to_a_real_llamacpp_server(smollm2_gguf):
    xlc = pytest.importorskip("xllamacpp", reason="the llama.cpp engine is not installed (make setup)")
    from synrank.llm.openai_backend import OpenAIBackend

    params = xlc.CommonParams()
    params.model.path = str(smollm2_gguf)
    params.n_ctx, params.n_parallel, params.verbosity = 1024, 2, -1
    server = xlc.Server(params)  # its HTTP endpoint on an OS-chosen loopback port
    b = OpenAIBackend("smollm2", base_url=server.listening_address + "/v1", concurrency=2, prefill=True)
    with b:
        outs = b.generate([_req(i) for i in range(4)], SamplingConfig(temperature=0.7, max_new_tokens=48))
    assert not b.schema_refused
    for out in outs:
        # The constrained answer is a whole JSON object; the prefix it opens with is not repeated (the
        # engine puts it back before parsing, as for a prefilled answer).
        whole = PREFIX + out.text
        assert isinstance(json.loads(whole)["query"], str), whole
    del server


def test_openai_falls_back_once_when_the_server_refuses_response_format(scripted_server):
    from synrank.llm.openai_backend import OpenAIBackend

    base, handler = scripted_server
    handler.script = [(400, {}, {"error": {"message": "'response_format' of type 'json_schema' is not supported"}})]
    b = OpenAIBackend("m", base_url=base, concurrency=1, prefill=True)
    outs = b.generate([_req(i) for i in range(3)], SamplingConfig(max_new_tokens=20))
    assert len(outs) == 3 and b.schema_refused
    bodies = [s["body"] for s in handler.seen]
    assert len(bodies) == 4  # one refusal, then each request once, never with response_format again
    assert bodies[0]["response_format"]["json_schema"]["schema"] == SCHEMA
    assert bodies[0]["messages"][-1]["role"] == "user" and "stop" not in bodies[0]  # schema answers are whole
    for body in bodies[1:]:
        assert "response_format" not in body
        assert body["messages"][-1] == {"role": "assistant", "content": PREFIX} and body["stop"] == ['"}']  # today's --prefill path
    assert b.info()["response_format"] == "refused by the server"


def test_openai_other_400s_are_still_errors(scripted_server):
    from synrank.errors import ConfigError
    from synrank.llm.openai_backend import OpenAIBackend

    base, handler = scripted_server
    handler.script = [(400, {}, {"error": "context length exceeded"})]
    b = OpenAIBackend("m", base_url=base, concurrency=1)
    with pytest.raises(ConfigError, match="HTTP 400"):
        b.generate([_req(0)], SamplingConfig(max_new_tokens=20))
    assert not b.schema_refused and len(handler.seen) == 1


def test_openai_without_schema_sends_no_response_format(scripted_server):
    from synrank.llm.openai_backend import OpenAIBackend

    base, handler = scripted_server
    b = OpenAIBackend("m", base_url=base, concurrency=1)
    b.generate([_req(0, schema=None)], SamplingConfig(max_new_tokens=20))
    assert "response_format" not in handler.seen[0]["body"]


@pytest.mark.parametrize("api", ["StructuredOutputsParams", "GuidedDecodingParams"])
def test_vllm_structured_outputs_in_either_api(fake_vllm, api):
    """vLLM >= 0.11 has StructuredOutputsParams (SamplingParams(structured_outputs=...)); 0.6-0.10 had
    GuidedDecodingParams (guided_decoding=...). The fake package gets one of them in vllm.sampling_params."""
    import importlib
    import sys

    pkg_dir = fake_vllm.parent / "fakepkgs" / "vllm"
    (pkg_dir / "sampling_params.py").write_text(
        f"class {api}:\n    def __init__(self, json=None, **kw):\n        self.json = json\n", encoding="utf-8"
    )
    sys.modules.pop("vllm.sampling_params", None)
    importlib.invalidate_caches()
    from synrank.llm.vllm_backend import VLLMBackend

    b = VLLMBackend("m")
    reqs = [_req(0), _req(1, schema=None)]
    outs = b.generate(reqs, SamplingConfig(max_new_tokens=30))
    chats = [json.loads(x) for x in fake_vllm.read_text().splitlines() if '"chat"' in x]
    plain = next(c for c in chats if not c["continue_final_message"])
    prefixed = next(c for c in chats if c["continue_final_message"])
    assert plain["constraints"] == [{api: SCHEMA}]  # the schema request is answered whole, constrained
    assert prefixed["constraints"] == [None]  # no schema: the prefix is continued as before
    assert len(outs) == 2
    sys.modules.pop("vllm.sampling_params", None)
