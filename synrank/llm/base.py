"""The one interface every text-generation backend implements.

A request is a chat (system/user messages) plus an optional *response prefix*: text the assistant turn
starts with (e.g. ``{"passage": "``). Backends that control the prompt string (transformers, vLLM)
append it after the chat template so even tiny models answer in the asked structure; the completion
they return never includes the prefix. HTTP backends cannot prefill portably and send the chat only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class ChatRequest:
    """One prompt: chat messages (``{"role", "content"}``), a response prefix, a per-request seed, and
    ``stop`` strings that end the answer. A backend that honours ``stop`` cuts generation at the first one and
    returns the text *including* it, so parsing is the same whether or not the backend supports stops.
    ``json_schema`` is the JSON schema the answer must follow (e.g. ``{"query": string}``); a backend that
    can constrain decoding to it (llama.cpp grammar, vLLM structured outputs, an OpenAI ``response_format``)
    does, the others ignore it and rely on ``prefix`` and parsing."""

    messages: tuple[dict[str, str], ...]
    prefix: str = ""
    seed: int = 0
    stop: tuple[str, ...] = ()
    json_schema: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class SamplingConfig:
    """Sampling options shared by all requests of one call. ``temperature == 0`` means greedy decoding."""

    temperature: float = 0.7
    top_p: float = 0.95
    max_new_tokens: int = 256
    seed: int = 42

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_new_tokens": self.max_new_tokens,
            "seed": self.seed,
        }


@dataclass
class Completion:
    """What the model wrote after the prompt (and after the prefix, which is not repeated here)."""

    text: str
    completion_tokens: int = 0
    prompt_tokens: int = 0
    finish_reason: str = "stop"  # "stop" | "length"
    extra: dict[str, Any] = field(default_factory=dict)


def schema_answer_after_prefix(text: str, prefix: str) -> str:
    """A schema-constrained answer is a whole JSON object, laid out as the engine likes (``{\n  "query" : ...``).
    Re-serialise it compactly (``{"query": "..."}``), then drop the part the request's ``prefix`` would have
    prefilled, so ``prefix + completion`` is the answer on every backend. Text that is not JSON (an
    answer cut off by the token limit) is returned unchanged for the parser to judge."""
    try:
        obj = json.loads(text)
    except ValueError:
        obj = None
    if isinstance(obj, dict):
        text = json.dumps(obj, ensure_ascii=False)
    return text[len(prefix) :] if prefix and text.startswith(prefix) else text


@runtime_checkable
class LLMBackend(Protocol):
    """A loaded model that turns chat requests into completions, one per request, in order."""

    name: str
    supports_prefix: bool

    def generate(self, requests: Sequence[ChatRequest], sampling: SamplingConfig) -> list[Completion]: ...

    def info(self) -> dict[str, Any]: ...

    def close(self) -> None: ...

    def __enter__(self) -> LLMBackend: ...

    def __exit__(self, *exc: object) -> None: ...


class BackendBase:
    """What every backend shares: use it as a context manager (``with create_backend(...) as backend:``)
    so the model, worker processes, threads or HTTP connections are released on success, error and Ctrl-C.
    ``close`` must be safe to call twice."""

    def close(self) -> None:  # pragma: no cover - overridden
        pass

    def __enter__(self):  # noqa: ANN204 - returns the concrete backend type
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
