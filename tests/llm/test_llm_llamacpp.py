"""The llamacpp backend with the real engine (xllamacpp) and the bundled SmolLM2 GGUF.

What is checked against an independent reference: schema-constrained answers are JSON that Python's own
``json`` module reads and that satisfies the schema (an ``enum`` the tiny model would never hit by chance);
the same prompts without the schema do not (so the test fails if the schema is not sent). ``kill -9`` of a
real ``synrank generate --backend llamacpp`` leaves no process behind (the engine lives inside synrank)
and the re-run resumes without duplicates. The Qwen 0.5B alias writes usable queries for SciFact abstracts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synrank.errors import ConfigError
from synrank.llm.base import ChatRequest, SamplingConfig
from helpers import read_jsonl, start_until_lines

xllamacpp = pytest.importorskip("xllamacpp", reason="the llama.cpp engine is not installed (make setup)")

QUERY_SCHEMA = {
    "type": "object",
    "properties": {"query": {"type": "string", "minLength": 3, "maxLength": 100}},
    "required": ["query"],
    "additionalProperties": False,
}
TOPICS = ["protein folding", "insulin resistance", "malaria vaccines", "gut microbiome", "CRISPR off-target effects", "statins"]


def _chat(topic: str) -> tuple[dict[str, str], ...]:
    return (
        {"role": "system", "content": "You write search queries."},
        {"role": "user", "content": f"Passage: a study about {topic}.\nWrite one question this passage answers."},
    )


@pytest.fixture(scope="module")
def smol_backend(smollm2_gguf):
    from synrank.llm.llamacpp_backend import LlamaCppBackend

    with LlamaCppBackend(smollm2_gguf, threads=2, slots=3, ctx_size=3 * 1024, seed=1) as backend:
        yield backend


def test_schema_constrained_answers_are_valid_json(smol_backend):
    sampling = SamplingConfig(temperature=0.8, top_p=0.95, max_new_tokens=64)  # maxLength 100 closes the JSON in time
    constrained = [ChatRequest(_chat(t), seed=i, json_schema=QUERY_SCHEMA) for i, t in enumerate(TOPICS)]
    outs = smol_backend.generate(constrained, sampling)
    assert len(outs) == len(TOPICS)
    for out in outs:
        obj = json.loads(out.text)  # the whole answer is the JSON object (no prefix was prefilled)
        assert set(obj) == {"query"} and len(obj["query"]) >= 3, out.text
        assert out.completion_tokens > 0 and out.prompt_tokens > 10
    # The reference: the same prompts, unconstrained, are not JSON for this tiny model.
    plain = [ChatRequest(_chat(t), seed=i) for i, t in enumerate(TOPICS)]
    free = smol_backend.generate(plain, sampling)
    assert sum(_is_json_object(o.text) for o in free) < len(TOPICS)


def test_schema_enum_is_enforced(smol_backend):
    schema = {"type": "object", "properties": {"label": {"enum": ["zebra-quartz", "mango-violet"]}}, "required": ["label"]}
    reqs = [ChatRequest(_chat(t), seed=i, json_schema=schema) for i, t in enumerate(TOPICS[:4])]
    for out in smol_backend.generate(reqs, SamplingConfig(temperature=0.5, max_new_tokens=48)):
        assert json.loads(out.text)["label"] in {"zebra-quartz", "mango-violet"}


def test_prefix_is_continued_and_stop_string_kept(smol_backend):
    """Without a schema the prefix is prefilled: the completion starts after it and ends with the stop
    string that cut it (ChatRequest.stop), so prefix + completion parses like on the other backends."""
    from synrank.generate.parsing import parse_answer

    prefix = '{"query": "'
    reqs = [ChatRequest(_chat(t), prefix=prefix, seed=i, stop=('"}',)) for i, t in enumerate(TOPICS)]
    outs = smol_backend.generate(reqs, SamplingConfig(temperature=0.0, max_new_tokens=48))
    parsed = 0
    for out in outs:
        assert not out.text.startswith(prefix)
        if out.finish_reason == "stop" and out.text.endswith('"}'):
            assert parse_answer("json:query", prefix + out.text)
            parsed += 1
    assert parsed >= len(TOPICS) // 2


def test_prompt_cache_reuses_a_shared_prefix(smol_backend):
    """Two prompts sharing a long system message: on one slot, the second one reuses the cached tokens."""
    from synrank.llm.llamacpp_backend import LlamaCppBackend

    system = "You write search queries for a test collection. " * 20
    reqs = [ChatRequest(({"role": "system", "content": system}, {"role": "user", "content": f"Topic: {t}"}), seed=1) for t in TOPICS[:2]]
    cached = {}
    for cache_prompt in (True, False):
        with LlamaCppBackend(smol_backend.model_path, threads=2, slots=1, ctx_size=1024, cache_prompt=cache_prompt) as one_slot:
            first = one_slot.generate(reqs[:1], SamplingConfig(temperature=0.0, max_new_tokens=4))[0]
            second = one_slot.generate(reqs[1:], SamplingConfig(temperature=0.0, max_new_tokens=4))[0]
        assert first.extra["cached_tokens"] == 0
        cached[cache_prompt] = (second.extra["cached_tokens"], second.prompt_tokens)
    # The system message (~190 of ~200 prompt tokens) is not computed again; without the cache, all of it is.
    assert 0.85 * cached[True][1] <= cached[True][0] < cached[True][1]
    assert cached[False][0] == 0


def test_cache_ram_keeps_an_evicted_prompt_for_later(smol_backend):
    """llama.cpp's host prompt cache (--cache-ram): on one slot, A then B evicts A's tokens from the slot; A again
    is restored from host memory when the cache is on, and computed again when it is off (0)."""
    from synrank.llm.llamacpp_backend import LlamaCppBackend

    def req(topic):
        system = f"You write search queries about {topic} for a test collection. " * 12
        return [ChatRequest(({"role": "system", "content": system}, {"role": "user", "content": "One query."}), seed=1)]

    cached = {}
    for cache_ram in (64, 0):
        with LlamaCppBackend(smol_backend.model_path, threads=2, slots=1, ctx_size=1024, cache_ram=cache_ram) as one_slot:
            assert one_slot.info()["cache_ram_mib"] == cache_ram
            for topic in (TOPICS[0], TOPICS[1]):
                one_slot.generate(req(topic), SamplingConfig(temperature=0.0, max_new_tokens=2))
            again = one_slot.generate(req(TOPICS[0]), SamplingConfig(temperature=0.0, max_new_tokens=2))[0]
        cached[cache_ram] = again.extra["cached_tokens"] / again.prompt_tokens
    assert cached[64] > 0.9 and cached[0] < 0.2, cached
    with pytest.raises(ConfigError, match="-1 .no limit., 0 .off."):
        LlamaCppBackend(smol_backend.model_path, cache_ram=-2)


def test_closed_backend_refuses_work(smollm2_gguf):
    from synrank.llm.factory import BackendOptions, create_backend

    with create_backend("llamacpp", BackendOptions(model=str(smollm2_gguf), slots=1, ctx_size=512)) as backend:
        assert backend.info()["backend"] == "llamacpp" and backend.info()["slots"] == 1
    with pytest.raises(ConfigError, match="closed"):
        backend.generate([ChatRequest(_chat("x"))], SamplingConfig(max_new_tokens=2))
    backend.close()  # twice is fine


def test_a_backend_closed_without_any_request_shuts_down(smollm2_gguf):
    """Open-then-close with no request in between must return. Without the start-up handshake,
    xllamacpp's ~Server can join a loop that never saw the stop flag and hang forever holding the GIL
    (here this loop hung by the third server every time it was tried), so it runs in a child
    process with a timeout: a hang fails this test instead of stalling the suite."""
    script = (
        "from synrank.llm.llamacpp_backend import LlamaCppBackend\n"
        "for _ in range(12):\n"
        f"    LlamaCppBackend({str(smollm2_gguf)!r}, threads=2, slots=1, ctx_size=512).close()\n"
        "print('closed')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    try:
        res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail("closing a llamacpp backend that never served a request hung")
    assert res.returncode == 0 and res.stdout.strip() == "closed", res.stderr[-2000:]


def test_missing_or_corrupt_gguf_is_one_line(tmp_path, smollm2_gguf):
    from synrank.llm.llamacpp_backend import LlamaCppBackend

    with pytest.raises(ConfigError, match="does not exist"):
        LlamaCppBackend(tmp_path / "nope.gguf")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(ConfigError, match="not a GGUF model file"):
        LlamaCppBackend(junk)
    truncated = tmp_path / "truncated.gguf"
    with open(smollm2_gguf, "rb") as fh:
        truncated.write_bytes(fh.read(2_000_000))  # a valid header, most tensors missing
    with pytest.raises(ConfigError, match="truncated or corrupt"):
        LlamaCppBackend(truncated, ctx_size=512, slots=1)


def test_missing_engine_is_one_line_exit_2(cli, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # `import xllamacpp` now raises ImportError
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"_id": "d1", "title": "", "text": "a passage about statins"}\n', encoding="utf-8")
    res = cli("generate", "--task", "queries", "--types", "question", "--backend", "llamacpp", "--model", "smollm2", corpus, "--out", tmp_path / "o.jsonl")
    assert res.code == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip() and not ln.startswith("note:")]
    assert lines == ["synrank: error: the llamacpp backend needs the llama.cpp engine: pip install 'xllamacpp==2026.10.11549' (or pip install 'synrank[llamacpp]', or make setup)"]


def test_auto_picks_llamacpp_for_gguf_on_cpu(monkeypatch, smollm2_gguf, minilm_path):
    import synrank.llm.llamacpp_backend as lb
    import synrank.llm.vllm_backend as vb
    from synrank.llm.factory import resolve_backend_name

    monkeypatch.setattr(vb, "vllm_available", lambda: False)
    assert resolve_backend_name("auto", "smollm2") == "llamacpp"
    assert resolve_backend_name("auto", str(smollm2_gguf)) == "llamacpp"
    assert resolve_backend_name("auto", "qwen2.5-coder-1.5b") == "llamacpp"  # even before it is pulled
    assert resolve_backend_name("auto", str(minilm_path)) == "transformers"  # a folder, not a GGUF
    assert resolve_backend_name("auto", "Qwen/Qwen2.5-7B-Instruct") == "transformers"
    assert resolve_backend_name("transformers", "smollm2") == "transformers"  # explicit choice wins
    monkeypatch.setattr(lb, "llamacpp_available", lambda: False)
    assert resolve_backend_name("auto", "smollm2") == "transformers"  # engine not installed: the old route
    import torch

    monkeypatch.setattr(vb, "vllm_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_backend_name("auto", "smollm2") == "vllm"


def test_generate_cli_llamacpp_end_to_end(cli, tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(
        "".join(json.dumps({"_id": f"d{i}", "title": "", "text": f"A randomised trial of {t} in 300 adults."}) + "\n" for i, t in enumerate(TOPICS[:3])),
        encoding="utf-8",
    )
    out = tmp_path / "q.jsonl"
    res = cli("generate", "--task", "queries", "--types", "question", "--backend", "llamacpp", "--model", "smollm2",
              "--slots", "2", "--ctx-size", "2048", "--cache-ram", "16", "--threads", "2", "--max-retries", "3", corpus, "--out", out)
    assert res.code == 0, res.stderr
    records = read_jsonl(out)
    rejects = read_jsonl(Path(str(out) + ".rejects.jsonl")) if Path(str(out) + ".rejects.jsonl").exists() else []
    assert len(records) + len(rejects) == 3 and len(records) >= 1
    manifest = json.loads(Path(str(out) + ".manifest.json").read_text())
    assert manifest["backend"]["backend"] == "llamacpp" and manifest["backend"]["slots"] == 2 and manifest["backend"]["ctx_size"] == 2048
    assert manifest["backend"]["cache_ram_mib"] == 16


@pytest.mark.slow  # two synrank processes (~40 s)
def test_kill_9_leaves_no_engine_and_resume_has_no_duplicates(scifact_dir, tmp_path):
    """The engine is in synrank's own process: killing synrank kills it; nothing is left to clean up. Records
    appear as their prompts finish (the default chunk holds all 16 prompts), so the kill loses only those in flight."""
    import psutil

    docs = (scifact_dir / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[:16]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(docs) + "\n", encoding="utf-8")
    out = tmp_path / "killed.jsonl"
    cmd = [sys.executable, "-m", "synrank", "generate", "--task", "queries", "--types", "question", "--backend", "llamacpp",
           "--model", "smollm2", "--slots", "2", "--max-new-tokens", "40", "--threads", "2", str(corpus), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = start_until_lines(cmd, out, timeout=120, env=env)
    ps = psutil.Process(proc.pid)
    assert ps.children(recursive=True) == []  # no llama-server child to orphan
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not psutil.pid_exists(proc.pid) or psutil.Process(proc.pid).status() == psutil.STATUS_ZOMBIE
    leftovers = [p for p in psutil.process_iter(["cmdline"]) if str(out) in " ".join(p.info["cmdline"] or [])]
    assert leftovers == []
    kept = [ln for ln in out.read_bytes()[: out.read_bytes().rfind(b"\n") + 1].decode().splitlines() if ln.strip()]
    assert 3 <= len(kept) < 16

    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "resuming" in again.stderr
    records = read_jsonl(out)
    rejects_path = Path(str(out) + ".rejects.jsonl")
    rejected = {r["slot"] for r in read_jsonl(rejects_path)} if rejects_path.exists() else set()
    ids = [r["query_id"] for r in records]
    assert len(ids) == len(set(ids))  # no duplicates
    expected = {json.loads(d)["_id"] + "-question-0" for d in docs}
    assert set(ids) | rejected == expected and not set(ids) & rejected
    assert out.read_text(encoding="utf-8").splitlines()[: len(kept)] == kept  # the killed run's records are untouched


@pytest.mark.slow
def test_qwen_05b_writes_queries_for_scifact_abstracts(cli, scifact_dir, tmp_path):
    from synrank.models import ALIASES

    if ALIASES["qwen2.5-coder-0.5b"].location() is None:
        pytest.skip("qwen2.5-coder-0.5b is not pulled (synrank models pull qwen2.5-coder-0.5b)")
    docs = [json.loads(x) for x in (scifact_dir / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[:3]]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    out = tmp_path / "q.jsonl"
    res = cli("generate", "--task", "queries", "--types", "question", "--backend", "llamacpp", "--model", "qwen2.5-coder-0.5b",
              "--threads", "2", corpus, "--out", out)
    assert res.code == 0, res.stderr
    records = {r["source_doc_id"]: r["text"] for r in read_jsonl(out)}
    assert set(records) == {d["_id"] for d in docs}  # every abstract got its query, none rejected
    # About its abstract: BM25 over the whole SciFact corpus (issue 11's quality proxy) finds the source in
    # its top 20 (SmolLM2 manages this for about a third of its queries, Qwen 0.5B for all in the benchmark).
    import bm25s
    import Stemmer

    corpus_docs = [json.loads(x) for x in (scifact_dir / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    stemmer = Stemmer.Stemmer("english")
    bm25 = bm25s.BM25()
    bm25.index(bm25s.tokenize([f"{d['title']} {d['text']}" for d in corpus_docs], stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    for d in docs:
        query = records[d["_id"]]
        assert len(query.split()) >= 3 and query.endswith("?"), query
        hits, _ = bm25.retrieve(bm25s.tokenize([query], stopwords="en", stemmer=stemmer, show_progress=False), k=20, show_progress=False)
        assert d["_id"] in {corpus_docs[j]["_id"] for j in hits[0]}, query


def test_deterministic_mode_gives_byte_identical_records(cli, scifact_dir, tmp_path):
    """--deterministic: one prompt at a time on one slot, so the same command and seed write the same bytes."""
    docs = (scifact_dir / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[:4]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(docs) + "\n", encoding="utf-8")
    outs = []
    for k in (1, 2):
        out = tmp_path / f"run{k}.jsonl"
        res = cli("generate", "--task", "queries", "--types", "question,title", "--backend", "llamacpp", "--model", "smollm2",
                  "--deterministic", "--max-new-tokens", "40", "--threads", "2", corpus, "--out", out)
        assert res.code == 0, res.stderr
        outs.append(out)
        manifest = json.loads(Path(str(out) + ".manifest.json").read_text())
        assert manifest["backend"]["slots"] == 1
        stats = manifest["stats"]
        assert 0 < stats["cached_prompt_tokens"] < stats["prompt_tokens"]  # the shared system prompt, at least
    assert outs[0].read_bytes() == outs[1].read_bytes() and outs[0].stat().st_size > 0
    rej = [Path(str(o) + ".rejects.jsonl") for o in outs]
    assert [r.read_bytes() if r.exists() else b"" for r in rej][0] == [r.read_bytes() if r.exists() else b"" for r in rej][1]


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def test_interrupt_cancels_requests_not_yet_started():
    """Ctrl-C in the middle of a chunk: requests still queued are dropped, so stopping waits only for the
    answers in progress (one per worker), not for the rest of the chunk."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from synrank.llm.llamacpp_backend import LlamaCppBackend

    backend = LlamaCppBackend.__new__(LlamaCppBackend)  # the pool logic only; no engine
    backend._pool = ThreadPoolExecutor(max_workers=2)
    started = []
    lock = threading.Lock()

    def work(i):
        with lock:
            started.append(i)
        if i == 0:
            raise KeyboardInterrupt
        time.sleep(0.05)
        return i

    with pytest.raises(KeyboardInterrupt):
        backend._run([(work, (i,)) for i in range(40)])
    backend._pool.shutdown(wait=True)
    assert len(started) < 10  # without the cancellation all 40 would run
