"""Choose and build a backend from CLI-level options."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from synrank.errors import ConfigError
from synrank.llm.base import LLMBackend
from synrank.llm.llamacpp_backend import CACHE_RAM_MIB

BACKENDS = ("auto", "transformers", "vllm", "openai", "llamacpp")


@dataclass
class BackendOptions:
    """Everything any backend may need; each backend reads its own fields."""

    model: str = "smollm2"
    device: str = "auto"
    dtype: str = "auto"
    seed: int = 42
    trust_remote_code: bool = False
    # transformers
    batch_tokens: int = 65536
    batch_size: int = 64
    # vllm
    tensor_parallel_size: int = 1
    data_parallel_size: int = 1
    gpu_memory_utilization: float = 0.9
    engine_args: dict[str, Any] = field(default_factory=dict)
    # openai
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 8
    http_attempts: int = 5
    prefill: bool = False
    # llama.cpp (and any engine with its own thread pool and parallel sequences)
    threads: int = 0  # 0 = all available cores
    slots: int = 4  # parallel sequences decoded together (continuous batching)
    ctx_size: int = 0  # total context over all slots; 0 = slots x the longest prompt + answer the engine needs
    cache_ram: int = CACHE_RAM_MIB  # llama.cpp's host prompt cache in MiB; 0 = off, -1 = no limit


def resolve_backend_name(name: str, model: str | None = None) -> str:
    """``auto`` is vllm when it is installed and a GPU is visible; otherwise llamacpp for a GGUF model (an alias
    such as qwen2.5-coder-0.5b or a ``.gguf`` file) when the llama.cpp engine is installed; else transformers."""
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r} (use one of {', '.join(BACKENDS)})")
    if name != "auto":
        return name
    from synrank.llm.vllm_backend import vllm_available

    if vllm_available():
        import torch

        if torch.cuda.is_available():
            return "vllm"
    if model is not None and is_gguf_model(model):
        from synrank.llm.llamacpp_backend import llamacpp_available

        if llamacpp_available():
            return "llamacpp"
    return "transformers"


def is_gguf_model(model: str) -> bool:
    """Whether ``--model`` names a GGUF file (alias or path), without loading anything."""
    from synrank.llm.hf_loading import resolve_model_source

    try:
        return resolve_model_source(model).is_gguf
    except ConfigError:  # not installed / missing: the backend that loads it says so in one line
        from synrank.models import ALIASES

        return (model in ALIASES and ALIASES[model].kind == "llm") or model.lower().endswith(".gguf")


def create_backend(name: str, opts: BackendOptions) -> LLMBackend:
    """The backend ``name`` (or ``auto``) for ``opts``; use it as a context manager so it is always closed."""
    name = resolve_backend_name(name, opts.model)
    if name == "llamacpp":
        from synrank.llm.hf_loading import resolve_model_source
        from synrank.llm.llamacpp_backend import LlamaCppBackend, import_engine

        import_engine()  # a missing engine is reported before anything else
        source = resolve_model_source(opts.model)
        if not source.is_gguf:
            raise ConfigError(
                f"the llamacpp backend runs GGUF models (an alias such as qwen2.5-coder-0.5b or a .gguf file); "
                f"{opts.model!r} is not one"
            )
        return LlamaCppBackend(
            f"{source.location}/{source.gguf_file}",
            model_name=opts.model,
            threads=opts.threads,
            slots=opts.slots,
            ctx_size=opts.ctx_size,
            cache_ram=opts.cache_ram,
            seed=opts.seed,
        )
    if name == "openai":
        if not opts.base_url:
            raise ConfigError("the openai backend needs --base-url (e.g. http://127.0.0.1:8000/v1)")
        from synrank.llm.openai_backend import OpenAIBackend

        return OpenAIBackend(
            opts.model,
            base_url=opts.base_url,
            api_key_env=opts.api_key_env,
            concurrency=opts.concurrency,
            max_attempts=opts.http_attempts,
            prefill=opts.prefill,
        )
    if name == "vllm":
        from synrank.llm.hf_loading import resolve_model_source
        from synrank.llm.vllm_backend import VLLMBackend

        source = resolve_model_source(opts.model)
        model = f"{source.location}/{source.gguf_file}" if source.gguf_file else source.location
        return VLLMBackend(
            model,
            tensor_parallel_size=opts.tensor_parallel_size,
            data_parallel_size=opts.data_parallel_size,
            dtype=opts.dtype,
            seed=opts.seed,
            trust_remote_code=opts.trust_remote_code,
            gpu_memory_utilization=opts.gpu_memory_utilization,
            engine_args=opts.engine_args,
        )
    from synrank.llm.hf_backend import TransformersBackend
    from synrank.llm.hf_loading import resolve_model_source

    if opts.tensor_parallel_size != 1 or opts.data_parallel_size != 1:
        raise ConfigError("--tensor-parallel-size/--data-parallel-size need --backend vllm")
    return TransformersBackend(
        resolve_model_source(opts.model),
        device=opts.device,
        dtype=opts.dtype,
        batch_tokens=opts.batch_tokens,
        max_batch_size=opts.batch_size,
        trust_remote_code=opts.trust_remote_code,
    )
