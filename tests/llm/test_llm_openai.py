"""The OpenAI-compatible backend over real HTTP on 127.0.0.1: against a real `transformers serve` process
serving a tiny local model, and against a small scripted HTTP server (stdlib) for back-off on 429/5xx,
the Authorization header and keeping the key out of every output."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synrank.errors import ConfigError
from synrank.llm.base import ChatRequest, SamplingConfig
from helpers import read_jsonl

KEY = "sk-test-0123456789abcdef"
WORDS = "red green blue cyan magenta yellow black white orange purple brown pink grey olive navy teal".split()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def transformers_server(tiny_llama):
    """`transformers serve` on 127.0.0.1 with the tiny model preloaded; stopped after the module."""
    pytest.importorskip("fastapi", reason="transformers serve needs the serving extras (pip install -e '.[dev]')")
    exe = shutil.which("transformers", path=str(Path(sys.executable).parent)) or shutil.which("transformers")
    if exe is None:
        pytest.skip("the transformers CLI is not installed")
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.Popen(
        [exe, "serve", str(tiny_llama), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        import httpx

        deadline = time.time() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"transformers serve exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                if time.time() > deadline:
                    pytest.fail("transformers serve did not start within 120 s")
                time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_generate_against_transformers_serve(cli, transformers_server, tiny_llama, queries_tsv, text_docs_template, tmp_path, monkeypatch):
    monkeypatch.setenv("SYNRANK_TEST_KEY", KEY)  # transformers serve ignores it; it must still never leak
    out = tmp_path / "synth.jsonl"
    r = cli("generate", "--backend", "openai", "--base-url", transformers_server, "--model", str(tiny_llama),
            "--api-key-env", "SYNRANK_TEST_KEY", "--template", text_docs_template, "--levels", "2", "--limit", "2",
            "--max-new-tokens", "8", "--min-words", "1", "--concurrency", "2", queries_tsv, "--out", out)
    assert r.code == 0, r.stderr
    records = read_jsonl(out)
    rejects = read_jsonl(tmp_path / "synth.jsonl.rejects.jsonl") if (tmp_path / "synth.jsonl.rejects.jsonl").exists() else []
    assert len(records) + len({j["unit"] for j in rejects if j["unit"] not in {r_["query_id"] for r_ in records}}) == 2
    assert sum(len(rec["documents"]) for rec in records) >= 1
    assert all(rec["meta"]["backend"] == "openai" for rec in records)
    manifest_text = (tmp_path / "synth.jsonl.manifest.json").read_text()
    manifest = json.loads(manifest_text)
    assert manifest["backend"]["base_url"] == transformers_server and manifest["backend"]["api_key_set"] is True
    assert manifest["stats"]["completion_tokens"] > 0  # usage reported by the server
    assert KEY not in manifest_text and KEY not in r.stderr and KEY not in out.read_text()


def test_backend_reads_server_answers(transformers_server, tiny_llama):
    from synrank.llm.openai_backend import OpenAIBackend

    b = OpenAIBackend(str(tiny_llama), base_url=transformers_server, concurrency=3)
    reqs = [ChatRequest(({"role": "user", "content": f"hello {i}"},), seed=i) for i in range(4)]
    outs = b.generate(reqs, SamplingConfig(temperature=0.0, max_new_tokens=5))
    b.close()
    assert len(outs) == 4
    for o in outs:
        assert o.completion_tokens == 5 and o.finish_reason == "length" and o.text.strip()


def test_retries_on_429_and_5xx_then_succeeds(scripted_server, monkeypatch):
    from synrank.llm.openai_backend import OpenAIBackend

    base, handler = scripted_server
    handler.script = [(429, {"retry-after": "0"}, {"error": "slow down"}), (503, {}, {"error": "busy"})]
    monkeypatch.setenv("THE_KEY", KEY)
    b = OpenAIBackend("served-model", base_url=base, api_key_env="THE_KEY", concurrency=1, backoff_base=0.01)
    out = b.generate([ChatRequest(({"role": "user", "content": "q1"},), seed=9)], SamplingConfig(temperature=0.5, top_p=0.8, max_new_tokens=33))
    assert json.loads(out[0].text)["passage"].startswith("answer to q1: ") and out[0].completion_tokens == 6 and out[0].prompt_tokens == 11
    assert b.retries == 2 and len(handler.seen) == 3
    req = handler.seen[-1]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == f"Bearer {KEY}"
    assert req["body"] == {
        "model": "served-model",
        "messages": [{"role": "user", "content": "q1"}],
        "max_tokens": 33,
        "temperature": 0.5,
        "top_p": 0.8,
        "n": 1,
        "stream": False,
        "seed": 9,
    }
    assert KEY not in json.dumps(b.info())


def test_client_errors_are_not_retried_and_never_show_the_key(scripted_server, monkeypatch):
    from synrank.llm.openai_backend import OpenAIBackend

    base, handler = scripted_server
    handler.script = [(401, {}, {"error": f"invalid key {KEY}"})]
    monkeypatch.setenv("THE_KEY", KEY)
    b = OpenAIBackend("m", base_url=base, api_key_env="THE_KEY", backoff_base=0.01)
    with pytest.raises(ConfigError) as err:
        b.generate([ChatRequest(({"role": "user", "content": "q"},))], SamplingConfig())
    assert "HTTP 401" in err.value.message and KEY not in err.value.message and "***" in err.value.message
    assert len(handler.seen) == 1


def test_persistent_5xx_gives_up_with_one_line(scripted_server):
    from synrank.llm.openai_backend import OpenAIBackend

    base, handler = scripted_server
    handler.script = [(500, {}, {"error": "boom"})] * 3
    b = OpenAIBackend("m", base_url=base, max_attempts=3, backoff_base=0.01)
    with pytest.raises(ConfigError, match="failing after 3 attempts .HTTP 500"):
        b.generate([ChatRequest(({"role": "user", "content": "q"},))], SamplingConfig())


def test_cli_parses_server_json_and_keeps_order(cli, scripted_server, queries_tsv, tmp_path):
    base, handler = scripted_server
    out = tmp_path / "s.jsonl"
    r = cli("generate", "--backend", "openai", "--base-url", base, "--model", "m", "--levels", "2", "--limit", "3",
            "--concurrency", "4", queries_tsv, "--out", out)
    assert r.code == 0, r.stderr
    records = read_jsonl(out)
    assert [rec["query_id"] for rec in records] == [line.split("\t")[0] for line in queries_tsv.read_text().splitlines()[:3]]
    for rec in records:
        assert len(rec["documents"]) == 2
        for d in rec["documents"]:
            assert d["text"].startswith(f"answer to Query: {rec['query']}: ")
    # No prefill over HTTP: the last message is the user's.
    assert all(s["body"]["messages"][-1]["role"] == "user" for s in handler.seen)


def _continuation(text: str) -> dict:
    return {"choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}], "usage": {}}


def test_prefill_sends_the_prefix_and_parses_the_continuation(cli, scripted_server, queries_tsv, tmp_path):
    """--prefill on a server that refuses response_format: the template's response prefix goes as a final
    assistant turn (continue_final_message for vLLM); the server answers only the continuation, and the engine
    joins the two before parsing. A server that echoes the prefix back is handled too."""
    base, handler = scripted_server
    one, two = " ".join(WORDS[:12]), " ".join(reversed(WORDS[-12:]))  # unlike enough to pass the dedup check
    handler.script = [
        (400, {}, {"error": "response_format is not supported"}),  # refused once: never asked again
        (200, {}, _continuation(one)),  # the server stopped at '"}' and dropped it, as OpenAI-style servers do
        (200, {}, _continuation(f'{{"passage": "{two}"}}')),  # echoes the prefix
    ]
    out = tmp_path / "p.jsonl"
    r = cli("generate", "--backend", "openai", "--base-url", base, "--model", "m", "--levels", "2", "--limit", "1",
            "--concurrency", "1", "--prefill", queries_tsv, "--out", out)
    assert r.code == 0, r.stderr
    texts = sorted(d["text"] for d in read_jsonl(out)[0]["documents"])
    assert texts == sorted([one, two])
    assert "response_format" in handler.seen[0]["body"] and len(handler.seen) == 3
    for s in handler.seen[1:]:
        assert "response_format" not in s["body"]
        last = s["body"]["messages"][-1]
        assert last["role"] == "assistant" and last["content"] == '{"passage": "'
        assert s["body"]["continue_final_message"] is True and s["body"]["add_generation_prompt"] is False
        assert s["body"]["stop"] == ['"}']  # the answer is complete at the closing quote: no decoding past it


def test_stop_strings_only_for_a_prefilled_json_string():
    from synrank.generate.templates import load_packaged, parse_template

    assert load_packaged("docs").stop_strings() == ('"}',)
    assert load_packaged("queries-title").stop_strings() == ('"}',)
    text = parse_template("# task: docs\n# output: text\n### user\nWrite about {{query}}\n", source="t", name="t")
    assert text.stop_strings() == ()
    json_no_prefix = parse_template("# task: docs\n# output: json:passage\n### user\nWrite\n", source="t", name="t")
    assert json_no_prefix.stop_strings() == ()
