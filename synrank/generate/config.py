"""Settings of the ``generate`` stage (the one source of their defaults, help and validation) and the
result of a run. ``synrank generate`` builds a :class:`GenerateConfig` from its options and calls
:func:`synrank.generate.run`; Python users do the same without the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synrank.config import check_choices, check_positive, overwrite_setting, setting, setting_from
from synrank.errors import ConfigError
from synrank.generate.levels import MAX_LEVELS
from synrank.generate.shard import parse_shard
from synrank.llm.factory import BACKENDS
from synrank.llm.llamacpp_backend import CACHE_RAM_MIB
from synrank.runtime.config import RuntimeConfig, UsesRuntime

DEFAULT_TYPES = "title,claim,question,keywords,msmarco,natural"


@dataclass
class GenerateConfig(UsesRuntime):
    input: str | None = setting(
        None,
        help="Input: queries (TSV/JSONL/BEIR folder) for task docs, a corpus (BEIR folder/JSONL/TSV) for task queries, '-' for stdin.",
    )
    task: str = setting(
        "docs", help="docs: graded passages per query (SyCL); queries: synthetic queries per passage.", choices=("docs", "queries")
    )
    # docs task
    levels: int = setting(4, help="Relevance levels per query (levels-1 .. 0); 4 follows the TREC DL scale.")
    docs_per_level: int = setting(1, help="Passages generated per level and query.")
    level_definitions: Path | None = setting(
        None, help="File overriding what each level means: JSON {\"3\": \"...\"} or LEVEL<TAB>text lines."
    )
    # queries task
    types: str = setting(
        DEFAULT_TYPES,
        help="Query types for --task queries, comma-separated: the CADeT six (title, claim, question, keywords, msmarco, "
        "natural; preset 'cadet'), synrank's first set (question-v1, claim-v1, keywords-v1, title-v1, search; preset 'v1'), "
        "or your own with --template TYPE=FILE.",
    )
    per_doc: int = setting(1, help="Queries per type and passage (--task queries).")
    examples: list[str] | None = setting(
        None,
        help="Few-shot examples: FILE (JSONL {\"passage\", \"query\", optional \"type\"}) or TYPE=FILE (JSONL, or TSV "
        "query<TAB>passage) for one query type; repeatable. Types without examples use synrank's packaged ones.",
    )
    num_examples: int = setting(3, help="Few-shot examples shown per prompt (0 = none).")
    max_passage_tokens: int = setting(
        256,
        help="Query prompts: cut the passage to this many tokens (the generator's tokenizer when the backend has one, "
        "else about 0.75 words per token); 0 = no token cap (passages are always cut to 2048 characters).",
    )
    template: list[str] | None = setting(
        None, help="Prompt template file replacing the packaged one; for --task queries use TYPE=FILE (repeatable)."
    )
    # model and sampling
    model: str = setting(
        "qwen2.5-coder-0.5b",
        help="LLM: alias (qwen2.5-coder-0.5b, qwen2.5-coder-1.5b, smollm2; see `synrank models`), local folder, .gguf file, "
        "hub id, or the served model name (openai).",
        short="-m",
    )
    backend: str = setting(
        "auto",
        help="auto (vllm if installed and a GPU is visible, else llamacpp for a GGUF model, else transformers), transformers, vllm, openai, llamacpp.",
        choices=BACKENDS,
    )
    temperature: float | None = setting(
        None, help="Sampling temperature; 0 = greedy. Default per task: docs 0.7, queries 0.8 (CADeT)."
    )
    top_p: float | None = setting(
        None, help="Nucleus sampling probability mass. Default per task: docs 0.95, queries 1.0 (CADeT)."
    )
    max_new_tokens: int = setting(0, help="Token limit per answer; 0 = per task (docs 200, queries 64).")
    max_retries: int = setting(
        2, help="Re-asks (new seed) for an unparseable, empty or duplicate answer before rejecting it."
    )
    dedup_threshold: float = setting(
        0.9,
        help="Similarity (difflib ratio on normalised text) at which two texts of one input are duplicates; 1 = exact only.",
    )
    min_words: int = setting(-1, help="Shorter answers are rejected (and retried); -1 = per task (docs 10, queries 1).")
    # outputs and work split
    out: Path | None = setting(
        None, help="Output JSONL, appended record by record; re-running resumes. Default: stdout.",
        short="-o",
    )
    rejects: Path | None = setting(
        None, help="Where rejected answers go (raw text, reason category and reasons). Default: <out>.rejects.jsonl."
    )
    overwrite: bool = overwrite_setting()
    shard: str | None = setting(
        None, help="Process only shard I of N (I/N, I from 0), a deterministic split by input id."
    )
    limit: int = setting(0, help="Use only the first N inputs (0 = all).")
    chunk_size: int = setting(
        0, help="Prompts read and ordered together (llamacpp: so shared prompt prefixes run back to back; "
        "other backends: one batch per call); 0 = per backend."
    )
    deterministic: bool = setting(
        False,
        help="Byte-identical records for a fixed seed, run after run: one prompt at a time (llamacpp: one slot), "
        "since batching prompts together changes the engine's arithmetic. Slower.",
    )
    # backends
    batch_size: int = setting(64, help="transformers: most prompts in one generate call.")
    batch_tokens: int = setting(65536, help="transformers: token budget per call, batch x (prompt + max new tokens).")
    tensor_parallel_size: int = setting(1, help="vllm: GPUs one model is split over.")
    data_parallel_size: int = setting(1, help="vllm: model replicas (each on tensor-parallel-size GPUs) sharing the work.")
    gpu_memory_utilization: float = setting(0.9, help="vllm: fraction of GPU memory to use.")
    max_model_len: int = setting(0, help="vllm: context length; 0 = the model's.")
    base_url: str | None = setting(None, help="openai: server URL ending in /v1, e.g. http://127.0.0.1:8000/v1.")
    api_key_env: str = setting(
        "OPENAI_API_KEY", help="openai: name of the environment variable holding the API key (never logged)."
    )
    concurrency: int = setting(8, help="openai: requests in flight.")
    http_retries: int = setting(5, help="openai: attempts per request on 429/5xx/connection errors, with back-off.")
    prefill: bool = setting(
        False,
        help="openai: send the template's response prefix as an assistant turn to continue (llama.cpp server, vLLM); "
        "small models then keep to the JSON format.",
    )
    slots: int = setting(4, help="llamacpp: sequences decoded in parallel (continuous batching).")
    ctx_size: int = setting(
        0, help="llamacpp: total context in tokens over all slots; 0 = the backend's default (slots x 2048)."
    )
    cache_ram: int = setting(
        CACHE_RAM_MIB,
        help="llamacpp: host-memory prompt cache in MiB (llama.cpp's --cache-ram), where finished prompts' states are "
        "kept for later prompts that begin the same way; 0 = off, -1 = no limit.",
    )
    # Also sizes llama.cpp's own thread pool, so the help says so.
    threads: int = setting_from(
        RuntimeConfig, "threads", help="CPU threads (torch for transformers, the engine's for llamacpp); 0 = all cores available."
    )
    device: str = setting_from(RuntimeConfig, "device")
    dtype: str = setting_from(RuntimeConfig, "dtype")
    seed: int = setting_from(RuntimeConfig, "seed")
    trust_remote_code: bool = setting_from(RuntimeConfig, "trust_remote_code")
    shard_spec: tuple[int, int] = field(init=False, repr=False, default=(0, 1))

    def __post_init__(self) -> None:
        if self.task not in ("docs", "queries"):
            raise ConfigError(f"unknown task {self.task!r} (use docs or queries)", setting="task")
        check_choices(self)
        if not 2 <= self.levels <= MAX_LEVELS:
            raise ConfigError(f"must be between 2 and {MAX_LEVELS}, got {self.levels}", setting="levels")
        check_positive(self, "docs_per_level", "per_doc", "batch_size", "batch_tokens", "concurrency", "http_retries", "slots")
        check_positive(self, "max_retries", "num_examples", "limit", "max_new_tokens", "chunk_size", "max_passage_tokens",
                       "threads", "ctx_size", "max_model_len", minimum=0)
        if self.temperature is not None and not 0 <= self.temperature <= 5:
            raise ConfigError(f"must be in [0, 5] (got {self.temperature})", setting="temperature")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ConfigError(f"must be in (0, 1] (got {self.top_p})", setting="top_p")
        if not 0 <= self.dedup_threshold <= 1:
            raise ConfigError(f"must be in [0, 1] (got {self.dedup_threshold})", setting="dedup_threshold")
        types = [t.strip() for t in self.types.split(",") if t.strip()]
        if not types:
            raise ConfigError("is empty", setting="types")
        self.shard_spec = parse_shard(self.shard)
        for name in ("out", "rejects", "level_definitions"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                setattr(self, name, Path(value))


@dataclass
class GenerateResult:
    """What a run did. ``accepted``/``rejected`` count slots (passages or queries) of this run only."""

    task: str
    output_noun: str  # what was generated: "passages" (docs task) or "queries"
    backend: str
    out: Path | None  # None: records went to stdout
    rejects: Path | None
    manifest: Path | None
    inputs: int  # inputs of this shard (after limit)
    inputs_done_before: int  # inputs already complete in the output when the run started (resume)
    records_written: int
    accepted: int
    rejected: int
    retried: int
    prompts: int
    prompt_tokens: int
    completion_tokens: int
    load_seconds: float
    generate_seconds: float
    reject_reasons: dict[str, int] = field(default_factory=dict)  # category -> count (parsing.REJECT_KINDS)
    cached_prompt_tokens: int = 0  # of prompt_tokens, reused from the engine's prompt cache (llamacpp reports it)
    task_info: dict[str, Any] = field(default_factory=dict)  # e.g. how the passage cap counted tokens

    @property
    def tokens_per_second(self) -> float:
        return self.completion_tokens / self.generate_seconds if self.generate_seconds > 0 else 0.0

    def line(self, max_retries: int) -> str:
        """The run in one line, as `synrank generate` reports it."""
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.reject_reasons.items()))
        cached = (
            f"; {self.cached_prompt_tokens / self.prompt_tokens:.0%} of prompt tokens reused from the engine's cache"
            if self.prompt_tokens and self.cached_prompt_tokens else ""
        )
        return (
            f"generated {self.accepted} {self.output_noun}, rejected {self.rejected} after {max_retries} retries"
            + (f" ({reasons}; see {self.rejects})" if self.rejects and self.rejected else "")
            + f"; {self.completion_tokens} tokens in {self.generate_seconds:.1f}s ({self.tokens_per_second:.1f} tokens/s)"
            + cached
        )

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        d = asdict(self)
        d["tokens_per_second"] = round(self.tokens_per_second, 2)
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items()}
