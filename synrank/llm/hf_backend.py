"""transformers backend: batched ``model.generate`` with token-budget batches (the CPU default).

Prompts are rendered with the model's chat template, sorted by length and grouped so that
``batch x (prompt + max_new_tokens)`` stays under a token budget: short prompts run in big batches,
padding stays low and memory roughly constant; a batch that runs out of memory is split in halves.
Sampling is seeded per batch (transformers has one generator per call, not per row), so sampled text
depends on how requests were batched; vLLM and HTTP servers seed each request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from synrank.errors import ConfigError
from synrank.llm.base import BackendBase, ChatRequest, Completion, SamplingConfig
from synrank.llm.hf_loading import ModelSource, load_causal_lm, load_tokenizer
from synrank.runtime.batching import run_with_oom_backoff, token_budget_batches

# Used only when a tokenizer has no chat template (e.g. a base model): plain role-tagged turns.
FALLBACK_CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)


def render_prompt(tokenizer: Any, request: ChatRequest) -> str:
    """Chat template + generation prompt + response prefix, as one string."""
    template = None if getattr(tokenizer, "chat_template", None) else FALLBACK_CHAT_TEMPLATE
    text = tokenizer.apply_chat_template(
        list(request.messages), tokenize=False, add_generation_prompt=True, chat_template=template
    )
    return text + request.prefix


def batch_seed(base: int, requests: Sequence[ChatRequest]) -> int:
    """A seed for one generate call, derived from its requests' seeds (stable across runs)."""
    h = hashlib.sha256((f"{base}:" + ",".join(str(r.seed) for r in requests)).encode()).digest()
    return int.from_bytes(h[:4], "little")


class TransformersBackend(BackendBase):
    """In-process transformers model. ``batch_tokens`` caps ``batch x (prompt + max_new_tokens)``."""

    name = "transformers"
    supports_prefix = True

    def __init__(
        self,
        source: ModelSource,
        *,
        device: str = "auto",
        dtype: str = "auto",
        batch_tokens: int = 65536,
        max_batch_size: int = 64,
        trust_remote_code: bool = False,
    ) -> None:
        import torch

        from synrank.runtime.device import dtype_name, resolve_device, resolve_dtype

        self.source = source
        self.device = resolve_device(device)
        if source.is_gguf and dtype == "auto":
            self.dtype = torch.float32  # packed GGUF kernels compute in fp32
        else:
            self.dtype = resolve_dtype(dtype, self.device)
        self.batch_tokens = batch_tokens
        self.max_batch_size = max_batch_size
        if batch_tokens <= 0 or max_batch_size <= 0:
            raise ConfigError("--batch-tokens and --batch-size must be positive")
        self.tokenizer = load_tokenizer(source, trust_remote_code=trust_remote_code)
        self.model = load_causal_lm(source, device=self.device, dtype=self.dtype, trust_remote_code=trust_remote_code)
        self._dtype_name = dtype_name(self.dtype)
        self.stop_ids = self._stop_token_ids()
        self.backoffs = 0

    def _stop_token_ids(self) -> list[int]:
        ids: list[int] = []
        gen_eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        for value in (gen_eos, self.tokenizer.eos_token_id):
            if value is None:
                continue
            for v in value if isinstance(value, list) else [value]:
                if v not in ids:
                    ids.append(int(v))
        return ids

    def info(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "model": self.source.name,
            "weights": self.source.describe(),
            "device": str(self.device),
            "dtype": self._dtype_name,
            "batch_tokens": self.batch_tokens,
            "max_batch_size": self.max_batch_size,
        }

    def generate(self, requests: Sequence[ChatRequest], sampling: SamplingConfig) -> list[Completion]:
        if not requests:
            return []
        prompts = [render_prompt(self.tokenizer, r) for r in requests]
        lengths = [len(ids) for ids in self.tokenizer(prompts, add_special_tokens=False)["input_ids"]]
        budget_lengths = [n + sampling.max_new_tokens for n in lengths]
        results: list[Completion | None] = [None] * len(requests)
        for batch in token_budget_batches(budget_lengths, self.batch_tokens, self.max_batch_size):

            def run(idx: Sequence[int]) -> list[Completion]:
                return self._generate_batch([prompts[i] for i in idx], [requests[i] for i in idx], sampling)

            outs = run_with_oom_backoff(run, batch, on_backoff=self._count_backoff)
            for i, out in zip(batch, outs):
                results[i] = out
        return [r for r in results if r is not None]

    def _count_backoff(self, old: int, new: int) -> None:
        self.backoffs += 1

    def _generate_batch(self, prompts: list[str], requests: list[ChatRequest], sampling: SamplingConfig) -> list[Completion]:
        import torch

        tokenized = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        # Only ids and mask: some tokenizers add token_type_ids, which causal LMs refuse.
        enc = {k: tokenized[k].to(self.device) for k in ("input_ids", "attention_mask")}
        kwargs: dict[str, Any] = {
            "max_new_tokens": sampling.max_new_tokens,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": self.stop_ids or None,
        }
        if sampling.greedy:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p, top_k=None)
            torch.manual_seed(batch_seed(sampling.seed, requests))
        with torch.inference_mode():
            out = self.model.generate(**enc, **kwargs)
        new = out[:, enc["input_ids"].shape[1] :].tolist()
        prompt_lens = enc["attention_mask"].sum(dim=1).tolist()
        completions = []
        stops = set(self.stop_ids)
        for row, plen in zip(new, prompt_lens):
            finish = "length"
            kept = row
            for j, tok in enumerate(row):
                if tok in stops:
                    kept, finish = row[:j], "stop"
                    break
            text = self.tokenizer.decode(kept, skip_special_tokens=True)
            # Tokens the model really produced: kept ones plus the stop token when it stopped.
            n = len(kept) + (1 if finish == "stop" else 0)
            completions.append(Completion(text=text, completion_tokens=n, prompt_tokens=int(plen), finish_reason=finish))
        return completions

    def close(self) -> None:
        self.model = None
