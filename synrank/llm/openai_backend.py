"""OpenAI-compatible HTTP backend: ``POST {base_url}/chat/completions`` on any server that speaks it
(vllm serve, llama.cpp server, transformers serve, hosted APIs).

- The API key is read from the environment variable named by ``api_key_env`` and sent only in the
  ``Authorization`` header: it is never stored in :meth:`info`, manifests, logs or error messages.
- Requests run ``concurrency`` at a time; 429 and 5xx answers, time-outs and refused connections are
  retried with exponential back-off (honouring ``Retry-After``) up to ``max_attempts``, then the run
  stops with one line naming the server and the last problem.
- Response prefixes are not sent by default (prefilling an assistant turn is not portable across
  servers): the prompt asks for the structure and the parser finds it in the answer. With
  ``prefill=True`` the prefix goes as a final assistant message that the server continues: llama.cpp's
  server does so by itself, vLLM's needs ``continue_final_message`` (sent too; other servers ignore it).
  Small models follow a prefilled ``{"query": "`` far more often than an instruction to answer in JSON.
- A request's ``json_schema`` goes as ``response_format: {"type": "json_schema", ...}`` (vLLM, llama.cpp's
  server, OpenAI), without the prefix (the schema constrains the whole answer). A server that refuses it
  (HTTP 400/422 naming ``response_format``/``json_schema``) is remembered: that request and all later ones
  go the plain (or ``prefill``) way, without asking again.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from synrank.errors import ConfigError
from synrank.llm.base import BackendBase, ChatRequest, Completion, SamplingConfig, schema_answer_after_prefix

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
_SCHEMA_WORDS = ("response_format", "json_schema", "response format", "json schema", "grammar", "structured")


class _SchemaRefused(Exception):
    """The server answered 400/422 about ``response_format``: fall back to the prefix path."""


class OpenAIBackend(BackendBase):
    """Client for an OpenAI-compatible chat-completions endpoint."""

    name = "openai"
    supports_prefix = False

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        max_attempts: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        timeout: float = 300.0,
        send_seed: bool = True,
        prefill: bool = False,
    ) -> None:
        import httpx

        if concurrency < 1 or max_attempts < 1:
            raise ConfigError("--concurrency and --http-retries must be at least 1")
        if not base_url.startswith(("http://", "https://")):
            from synrank.formats.manifest import redact_url

            raise ConfigError(f"--base-url must start with http:// or https:// (got {redact_url(base_url)!r})")
        self.model_name = model
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.concurrency = concurrency
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.send_seed = send_seed
        self.supports_prefix = prefill  # the engine prepends the prefix to what comes back
        self._key = os.environ.get(api_key_env, "") if api_key_env else ""
        headers = {"Content-Type": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=10.0),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )
        self.retries = 0  # back-off retries done, for the manifest
        self.schema_refused = False  # set once the server refuses response_format; never asked again

    def info(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "model": self.model_name,
            "base_url": self.base_url,
            "api_key_env": self.api_key_env,  # the variable's name, never its value
            "api_key_set": bool(self._key),
            "concurrency": self.concurrency,
            "max_attempts": self.max_attempts,
            "prefill": self.supports_prefix,
            "response_format": "refused by the server" if self.schema_refused else "json_schema when the template declares JSON",
        }

    def _scrub(self, text: str) -> str:
        """One line, without the key (a server could echo a header back in an error)."""
        text = " ".join(str(text).split())
        if self._key:
            text = text.replace(self._key, "***")
        return text[:300]

    def _payload(self, request: ChatRequest, sampling: SamplingConfig, *, schema: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model_name,
            "messages": [dict(m) for m in request.messages],
            "max_tokens": sampling.max_new_tokens,
            "temperature": max(0.0, sampling.temperature),
            "n": 1,
            "stream": False,
        }
        if schema and request.json_schema is not None and not self.schema_refused:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": dict(request.json_schema)},
            }
        else:
            if self.supports_prefix and request.prefix:
                body["messages"].append({"role": "assistant", "content": request.prefix})
                body["continue_final_message"] = True
                body["add_generation_prompt"] = False
            if request.stop and self.supports_prefix:
                body["stop"] = list(request.stop)  # only with prefill: without it the answer starts before the JSON
        if not sampling.greedy:
            body["top_p"] = sampling.top_p
        if self.send_seed:
            body["seed"] = request.seed
        return body

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        url = f"{self.base_url}/chat/completions"
        problem = ""
        for attempt in range(self.max_attempts):
            wait = min(self.backoff_max, self.backoff_base * (2**attempt)) * (0.5 + random.random() / 2)
            try:
                resp = self._client.post(url, json=body)
            except (httpx.ConnectError, httpx.TimeoutException, httpx.RemoteProtocolError, httpx.ReadError) as exc:
                problem = f"{type(exc).__name__}: {self._scrub(str(exc)) or 'no answer'}"
            else:
                if resp.status_code == 200:
                    try:
                        return resp.json()
                    except ValueError:
                        raise ConfigError(f"{url}: server answered 200 with a body that is not JSON") from None
                problem = f"HTTP {resp.status_code}: {self._scrub(resp.text)}"
                if (
                    resp.status_code in (400, 422)
                    and "response_format" in body
                    and any(w in resp.text.lower() for w in _SCHEMA_WORDS)
                ):
                    raise _SchemaRefused(problem)
                if resp.status_code not in RETRY_STATUS:
                    raise ConfigError(f"{url}: {problem}")
                retry_after = resp.headers.get("retry-after")
                if retry_after:
                    try:
                        wait = min(self.backoff_max, max(wait, float(retry_after)))
                    except ValueError:
                        pass
            if attempt + 1 < self.max_attempts:
                self.retries += 1
                time.sleep(wait)
        raise ConfigError(f"{url}: server unreachable or failing after {self.max_attempts} attempts ({problem})")

    def _one(self, request: ChatRequest, sampling: SamplingConfig) -> Completion:
        body = self._payload(request, sampling)
        try:
            data = self._post(body)
        except _SchemaRefused:
            self.schema_refused = True  # concurrent requests may also get here once; later ones never ask
            body = self._payload(request, sampling, schema=False)
            data = self._post(body)
        try:
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            raise ConfigError(f"{self.base_url}/chat/completions: answer has no choices[0].message.content") from None
        if "response_format" in body:
            text = schema_answer_after_prefix(text, request.prefix if self.supports_prefix else "")
        elif self.supports_prefix and request.prefix and text.startswith(request.prefix):
            text = text[len(request.prefix) :]  # a server that echoes the prefilled part back
        if "stop" in body and choice.get("finish_reason") == "stop":
            # OpenAI-style servers drop the matched stop string; put it back (see ChatRequest.stop).
            text = text if text.endswith(tuple(request.stop)) else text + request.stop[0]
        usage = data.get("usage") or {}
        return Completion(
            text=text,
            completion_tokens=int(usage.get("completion_tokens") or 0),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
        )

    def generate(self, requests: Sequence[ChatRequest], sampling: SamplingConfig) -> list[Completion]:
        if not requests:
            return []
        if self.concurrency == 1 or len(requests) == 1:
            return [self._one(r, sampling) for r in requests]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests))) as pool:
            return list(pool.map(lambda r: self._one(r, sampling), requests))

    def close(self) -> None:
        self._client.close()
