"""Text-generation backends behind one interface (:class:`LLMBackend`).

- ``transformers``: in-process Hugging Face model on CPU/GPU, token-budget batching (the CPU default);
  loads GGUF files (the bundled SmolLM2) by dequantising them to torch.
- ``vllm``: in-process vLLM engine (GPU), tensor parallel inside one engine, data parallel across engines.
- ``llamacpp``: GGUF models through llama.cpp's server embedded in-process (xllamacpp): slots with
  continuous batching, prompt cache, JSON-schema answers; the CPU route.
- ``openai``: any OpenAI-compatible ``/v1/chat/completions`` server (vllm serve, llama.cpp server,
  transformers serve, hosted APIs), with concurrency and retry with back-off.

Heavy libraries are imported only when a backend is created. Backends are context managers
(``with create_backend(name, opts) as backend:``) so they are always closed.
"""

from synrank.llm.base import ChatRequest, Completion, LLMBackend, SamplingConfig
from synrank.llm.factory import BACKENDS, create_backend, resolve_backend_name

__all__ = [
    "BACKENDS",
    "ChatRequest",
    "Completion",
    "LLMBackend",
    "SamplingConfig",
    "create_backend",
    "resolve_backend_name",
]
