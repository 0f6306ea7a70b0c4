"""llama.cpp backend: GGUF models on the CPU through llama.cpp's own server, embedded in this process.

The engine is `xllamacpp <https://github.com/xorbitsai/xllamacpp>`_, a prebuilt manylinux wheel that
links llama.cpp's C++ server (``server.cpp``: slots, continuous batching, prompt cache, JSON-schema
grammars) into a Python extension. Why in-process rather than a ``llama-server`` child:

- synrank owns the engine's life without any process management: there is no child to start,
  health-check or stop. Success, errors, Ctrl-C, SIGTERM and even ``kill -9`` of synrank end the engine
  with the process, so no orphaned server can outlive a run.
- The embedded server binds an OS-chosen loopback port (port 0) that synrank never uses (requests go
  through :meth:`xllamacpp.Server.handle_chat_completions`, a direct call), so "port already taken"
  cannot happen.

Requests are OpenAI chat payloads. ``handle_chat_completions`` is thread-safe and blocks its caller;
``slots`` parallel sequences are decoded together, and a thread pool keeps every slot busy (the next
request is queued before a slot frees up). ``cache_prompt`` lets a slot reuse the KV cache of the
longest common prefix with its previous prompt (the system message and instructions shared by a task).

A request's ``json_schema`` becomes llama.cpp's ``response_format`` (compiled to a grammar), so the
answer is valid JSON of that shape; such a request is sent without its response prefix (a grammar
constrains the whole answer, which must then start with the ``{`` the prefix would have opened).
Requests without a schema get their prefix as a final assistant message that llama.cpp continues.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from synrank.errors import ConfigError
from synrank.llm.base import BackendBase, ChatRequest, Completion, SamplingConfig, schema_answer_after_prefix
from synrank.llm.engine_build import ENGINE_VERSION

INSTALL_HINT = f"pip install 'xllamacpp=={ENGINE_VERSION}' (or pip install 'synrank[llamacpp]', or make setup)"
# llama.cpp's host-memory prompt cache (MiB), off: synrank pins each prompt to the slot whose KV cache holds its
# prefix, so the host copies are never read (same reuse with or without them), while llama.cpp's default of 8192
# grew a 1.5B judge to 8.8 GB and cost 6 % of the speed (docs/benchmarks.md, "llama.cpp's host prompt cache").
CACHE_RAM_MIB = 0
CTX_PER_SLOT = 2048  # query/passage prompts are ~300-600 tokens plus <= 256 generated; room for few-shot examples


def llamacpp_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("xllamacpp") is not None


def import_engine() -> Any:
    """The xllamacpp module, or one line naming the install command."""
    from synrank.llm.engine_build import check_native_engine

    check_native_engine()  # before the import: a build for another CPU would die of SIGILL, not say why
    try:
        import xllamacpp
    except ImportError:
        raise ConfigError(f"the llamacpp backend needs the llama.cpp engine: {INSTALL_HINT}") from None
    return xllamacpp


def check_gguf(path: str | Path) -> Path:
    """A readable file that starts with the GGUF magic; anything else is one clear line (llama.cpp itself
    only says "failed to init server")."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"GGUF model {str(p)!r} does not exist")
    with p.open("rb") as fh:
        magic = fh.read(4)
    if magic != b"GGUF":
        raise ConfigError(f"{p} is not a GGUF model file (it does not start with the GGUF magic bytes)")
    return p


def default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class LlamaCppBackend(BackendBase):
    """A GGUF model served by an in-process llama.cpp server with ``slots`` parallel sequences."""

    name = "llamacpp"
    supports_prefix = True

    def __init__(
        self,
        model_path: str | Path,
        *,
        model_name: str | None = None,
        threads: int = 0,
        slots: int = 4,
        ctx_size: int = 0,
        cache_ram: int = CACHE_RAM_MIB,
        seed: int = 42,
        cache_prompt: bool = True,
    ) -> None:
        if threads < 0:
            raise ConfigError("must be 0 (all cores) or more", setting="threads")
        if slots < 1:
            raise ConfigError("must be at least 1", setting="slots")
        if cache_ram < -1:
            raise ConfigError(f"must be -1 (no limit), 0 (off) or a size in MiB (got {cache_ram})", setting="cache_ram")
        if ctx_size < 0:
            raise ConfigError(f"must be 0 (= slots x {CTX_PER_SLOT}) or more", setting="ctx_size")
        xlc = import_engine()
        path = check_gguf(model_path)
        self.model_path = str(path)
        self.model_name = model_name or path.name
        self.threads = threads or default_threads()
        self.slots = slots
        self.ctx_size = ctx_size or slots * CTX_PER_SLOT
        if self.ctx_size < slots * 256:
            raise ConfigError(f"{self.ctx_size} tokens over {slots} slots leaves under 256 per slot", setting="ctx_size")
        self.seed = seed
        self.cache_prompt = cache_prompt
        self.cache_ram = cache_ram
        params = xlc.CommonParams()
        params.model.path = self.model_path
        params.n_ctx = self.ctx_size  # split evenly over the slots by llama.cpp
        params.n_parallel = slots
        params.cache_ram_mib = cache_ram
        params.cpuparams.n_threads = self.threads
        params.cpuparams_batch.n_threads = self.threads
        params.sampling.seed = seed
        params.verbosity = -1  # llama.cpp's per-request log lines would drown synrank's progress on stderr
        params.endpoint_metrics = True  # for the start-up handshake below
        try:
            self._server: Any = xlc.Server(params)
        except RuntimeError as exc:
            raise ConfigError(
                f"llama.cpp cannot load {self.model_path} ({' '.join(str(exc).split())[:200]}); "
                "the file may be truncated or corrupt (re-run `synrank models pull` for an alias)"
            ) from None
        # xllamacpp's Server() returns before its thread has entered llama.cpp's task loop, and that loop
        # sets its running flag on entry: a server dropped in between (opened, then closed before any
        # request) has its stop flag overwritten and ~Server joins forever while holding the GIL. A
        # metrics request is answered by the loop itself, so once it returns, closing is safe. (Not fixed upstream as of xllamacpp 2026.10: Server::~Server vs server_queue::start_loop.)
        self._server.handle_metrics()
        self._pool: ThreadPoolExecutor | None = ThreadPoolExecutor(max_workers=2 * slots, thread_name_prefix="llamacpp")

    def info(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "model": self.model_name,
            "model_path": self.model_path,
            "engine": f"xllamacpp {_engine_version()}",
            "engine_build": _engine_build(),
            "threads": self.threads,
            "slots": self.slots,
            "ctx_size": self.ctx_size,
            "cache_prompt": self.cache_prompt,
            "cache_ram_mib": self.cache_ram,
        }

    def payload(self, request: ChatRequest, sampling: SamplingConfig) -> dict[str, Any]:
        """The OpenAI-style body llama.cpp's server receives for one request."""
        messages = [dict(m) for m in request.messages]
        body: dict[str, Any] = {
            "messages": messages,
            "max_tokens": sampling.max_new_tokens,
            "temperature": 0.0 if sampling.greedy else sampling.temperature,
            "seed": request.seed,
            "cache_prompt": self.cache_prompt,
            "stream": False,
        }
        if not sampling.greedy:
            body["top_p"] = sampling.top_p
        if request.json_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": dict(request.json_schema)},
            }
        else:
            if request.prefix:
                messages.append({"role": "assistant", "content": request.prefix})  # llama.cpp continues it
            if request.stop:
                body["stop"] = list(request.stop)
        return body

    def _one(self, request: ChatRequest, sampling: SamplingConfig, slot: int | None = None) -> Completion:
        server = self._server
        if server is None:
            raise ConfigError("the llamacpp backend was closed")
        body = self.payload(request, sampling)
        if slot is not None:
            body["id_slot"] = slot
        try:
            data = server.handle_chat_completions(body)
        except ValueError as exc:  # llama.cpp refuses the request (a schema it cannot compile, a prompt too long)
            raise ConfigError(f"llama.cpp refused a request: {' '.join(str(exc).split())[:300]}") from None
        if not isinstance(data, dict) or "choices" not in data:
            err = data.get("error") if isinstance(data, dict) else data
            msg = err.get("message") if isinstance(err, dict) else err
            raise ConfigError(f"llama.cpp refused a request: {' '.join(str(msg).split())[:300]}")
        choice = data["choices"][0]
        text = (choice.get("message") or {}).get("content") or ""
        finish = "length" if choice.get("finish_reason") == "length" else "stop"
        if request.json_schema is not None:
            text = schema_answer_after_prefix(text, request.prefix)
        elif request.prefix and text.startswith(request.prefix):
            text = text[len(request.prefix) :]  # the server returns the continued assistant message whole
        if "stop" in body and finish == "stop" and not text.endswith(tuple(request.stop)):
            # The server drops the stop string that ended the answer; give it back (see ChatRequest.stop). Its
            # chat answer does not say whether a stop string or the end-of-turn token ended it; after an
            # end-of-turn the two extra characters are harmless (the parser reads the first JSON object).
            text += request.stop[0]
        usage = data.get("usage") or {}
        timings = data.get("timings") or {}
        return Completion(
            text=text,
            completion_tokens=int(usage.get("completion_tokens") or 0),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            finish_reason=finish,
            extra={"cached_tokens": int(timings.get("cache_n") or 0), "evaluated_tokens": int(timings.get("prompt_n") or 0)},
        )

    def _top_logprobs(self, messages: Sequence[dict[str, str]], k: int) -> dict[str, float]:
        server = self._server
        if server is None:
            raise ConfigError("the llamacpp backend was closed")
        body = {"messages": [dict(m) for m in messages], "max_tokens": 1, "temperature": 0.0, "logprobs": True,
                "top_logprobs": k, "cache_prompt": self.cache_prompt, "stream": False}
        try:
            data = server.handle_chat_completions(body)
            content = data["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
        except ValueError as exc:
            raise ConfigError(f"llama.cpp refused a request: {' '.join(str(exc).split())[:300]}") from None
        except (KeyError, IndexError, TypeError):
            raise ConfigError("llama.cpp answered without log-probabilities") from None
        out: dict[str, float] = {}
        for item in content:
            out.setdefault(item["token"], float(item["logprob"]))  # raw softmax of the logits, before sampling
        return out

    def next_token_logprobs(self, chats: Sequence[Sequence[dict[str, str]]], k: int = 50) -> list[dict[str, float]]:
        """For each chat, the ``k`` most likely first tokens of the assistant's answer and their log-probabilities
        (the model's own distribution: no temperature, no sampling). Used by the LLM judge in ``score``."""
        if self._pool is None:
            raise ConfigError("the llamacpp backend was closed")
        return self._run([(self._top_logprobs, (c, k)) for c in chats])

    def _run(self, calls: list[tuple[Any, tuple[Any, ...]]]) -> list[Any]:
        """Run calls on the pool, results in order. On Ctrl-C or an error the requests not yet started are
        cancelled, so stopping waits at most for the answers in progress (one per slot), not the whole chunk."""
        pool = self._pool
        if pool is None:
            raise ConfigError("the llamacpp backend was closed")
        futures = [pool.submit(fn, *args) for fn, args in calls]
        try:
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            raise

    @property
    def lanes(self) -> int:
        """Prompts can be pinned to a slot (``submit(..., lane=k)``): one lane per slot."""
        return self.slots

    @property
    def in_flight(self) -> int:
        """Prompts to keep in the engine: one per slot plus one queued behind each, so a freed slot starts its
        next prompt at once."""
        return 2 * self.slots

    def submit(self, request: ChatRequest, sampling: SamplingConfig, lane: int | None = None) -> Future[Completion]:
        """Start one request, on slot ``lane`` if given (it then waits for that slot, whose cache holds the prefix
        its previous prompt computed); the answer arrives on the future."""
        pool = self._pool
        if pool is None:
            raise ConfigError("the llamacpp backend was closed")
        return pool.submit(self._one, request, sampling, lane)

    def generate(self, requests: Sequence[ChatRequest], sampling: SamplingConfig) -> list[Completion]:
        if not requests:
            return []
        return self._run([(self._one, (r, sampling)) for r in requests])

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        # Dropping the last reference stops the server's loop and frees the model (~Server joins its thread).
        self._server = None


def _engine_build() -> str:
    """``native <cpu key>`` for an engine compiled here by `synrank models build-engine`, else ``generic``."""
    from synrank.llm.engine_build import read_marker

    marker = read_marker()
    return f"native {marker.get('cpu_key')}" if marker else "generic"


def _engine_version() -> str:
    try:
        from importlib.metadata import version

        return version("xllamacpp")
    except Exception:  # noqa: BLE001 - informational only
        return "unknown"
