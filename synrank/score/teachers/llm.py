"""LLM judge teacher: pointwise graded relevance as the *expected level* under the model's probabilities.

For each (query, passage) the model is prompted with the graded scale (TREC DL's 4 levels by default)
and asked for one digit. Instead of sampling an answer, we read the next-token distribution once and
renormalise it over the level labels ``"0" .. "L-1"``: ``score = sum_l l * p(l)``, a continuous
relevance in ``[0, L-1]`` that keeps the model's uncertainty (as in fine-grained LLM relevance
labelling, e.g. Zhuang et al. 2024, "Beyond Yes and No").

The probabilities come from a :class:`LevelScorer`. :class:`TransformersLevelScorer` runs a causal LM
with transformers directly (a local folder, a hub id, a ``.gguf`` file or the bundled ``smollm2``);
:class:`LlamaCppLevelScorer` runs a GGUF model with llama.cpp (``backend="llamacpp"``), several prompts at
once over its slots, from the top-50 next-token log-probabilities llama.cpp reports.
Any backend that returns log-probabilities of the next token for a prompt can implement
``LevelScorer`` (e.g. a vLLM or OpenAI-compatible backend with ``logprobs``) without touching the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from synrank.errors import ConfigError
from synrank.runtime.device import dtype_name, resolve_device, resolve_dtype
from synrank.score.teachers.base import Teacher, TeacherConfig, score_in_batches

SYSTEM = "You are a search quality rater. You judge how relevant a passage is to a search query."

TREC_DL_LEVELS = {
    3: "perfectly relevant: the passage is dedicated to the query and contains the exact answer",
    2: "highly relevant: the passage answers the query, but less directly or among other content",
    1: "related: the passage is on the topic of the query but does not answer it",
    0: "irrelevant: the passage has nothing to do with the query",
}


def level_definitions(levels: int) -> dict[int, str]:
    """Definitions of levels ``levels-1 .. 0`` (TREC DL wording for 4; a graded ladder otherwise)."""
    if not 2 <= levels <= 10:
        raise ConfigError("--llm-levels must be between 2 and 10 (labels are single digits)")
    if levels == 4:
        return dict(TREC_DL_LEVELS)
    top = levels - 1
    defs = {top: "perfectly relevant: the passage answers the query exactly", 0: "irrelevant: the passage has nothing to do with the query"}
    for lvl in range(1, top):
        defs[lvl] = f"partially relevant (level {lvl} of {top}: higher means closer to answering the query)"
    return dict(sorted(defs.items(), reverse=True))


def judge_messages(query: str, passage: str, levels: int) -> list[dict[str, str]]:
    scale = "\n".join(f"{lvl} = {text}" for lvl, text in level_definitions(levels).items())
    user = (
        f"Rate how relevant the passage is to the query on this scale:\n{scale}\n\n"
        f"Query: {query}\nPassage: {passage}\n\n"
        f"Answer with a single digit from 0 to {levels - 1} and nothing else."
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


class LevelScorer(Protocol):
    """Next-token probabilities over level labels for chat prompts; rows sum to 1."""

    def level_probabilities(
        self, prompts: Sequence[list[dict[str, str]]], labels: Sequence[str], on_progress: Callable[[int], None] | None = None
    ) -> np.ndarray: ...

    def info(self) -> dict[str, Any]: ...


class TransformersLevelScorer:
    """A causal LM run with transformers: one forward pass per prompt batch, left-padded, token budgeted."""

    def __init__(self, model: str, config: TeacherConfig | None = None, *, passage_tokens: int = 384) -> None:
        import torch

        # The same loading code as the generate backends: alias, .gguf file, folder or hub id.
        from synrank.llm.hf_loading import load_causal_lm, load_tokenizer, resolve_model_source

        self.model_name = model
        self.config = config or TeacherConfig()
        self.device = resolve_device(self.config.device)
        self.dtype = resolve_dtype(self.config.dtype, self.device)
        self.passage_tokens = passage_tokens
        source = resolve_model_source(model)
        if source.is_gguf and (self.config.dtype or "auto") == "auto":
            # transformers keeps GGUF weights packed and computes in fp32; asking for bf16 only adds casts.
            self.dtype = torch.float32
        trust = self.config.trust_remote_code
        self.tokenizer = load_tokenizer(source, trust_remote_code=trust)  # left padding: last position = next token
        self.model = load_causal_lm(source, device=self.device, dtype=self.dtype, trust_remote_code=trust)
        self._torch = torch

    def label_ids(self, labels: Sequence[str]) -> list[int]:
        ids = []
        for label in labels:
            toks = self.tokenizer.encode(label, add_special_tokens=False)
            if len(toks) != 1:
                raise ConfigError(f"the LLM's tokenizer splits the level label {label!r} into {len(toks)} tokens; a judge needs one")
            ids.append(toks[0])
        return ids

    def truncate(self, passage: str) -> str:
        ids = self.tokenizer.encode(passage, add_special_tokens=False)
        return passage if len(ids) <= self.passage_tokens else self.tokenizer.decode(ids[: self.passage_tokens])

    def render(self, messages: list[dict[str, str]]) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return "\n\n".join(m["content"] for m in messages) + "\n\nRelevance:"

    def _forward(self, texts: Sequence[str], label_ids: list[int]) -> list[np.ndarray]:
        torch = self._torch
        enc = self.tokenizer(list(texts), return_tensors="pt", padding=True, add_special_tokens=False)
        enc = {k: v.to(self.device) for k, v in enc.items()}
        # Left padding shifts every shorter prompt; give positions from the attention mask so a padded
        # prompt scores exactly as it would alone (as generate() does internally).
        mask = enc["attention_mask"]
        enc["position_ids"] = (mask.long().cumsum(-1) - 1).clamp(min=0)
        enc.pop("token_type_ids", None)
        with torch.inference_mode():
            try:  # only the last position's logits are needed: skip the LM head elsewhere (~20% of the work for small LMs)
                out = self.model(**enc, logits_to_keep=1)
            except TypeError:  # models without the argument
                out = self.model(**enc)
            logits = out.logits[:, -1, :].float()
        probs = torch.softmax(logits[:, label_ids], dim=-1)
        return list(probs.cpu().numpy())

    def level_probabilities(
        self, prompts: Sequence[list[dict[str, str]]], labels: Sequence[str], on_progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        ids = self.label_ids(labels)
        texts = [self.render(p) for p in prompts]
        lengths = [len(x) for x in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]
        return score_in_batches(
            texts, lengths, lambda items: self._forward(items, ids), self.config, on_progress, columns=len(labels), dtype=np.float64
        )

    def info(self) -> dict[str, Any]:
        return {"backend": "transformers", "dtype": dtype_name(self.dtype), "device": str(self.device), "passage_tokens": self.passage_tokens}


class LlamaCppLevelScorer:
    """A GGUF model served by llama.cpp (synrank's llamacpp backend): one request per prompt asking for the
    first answer token's top-``top_k`` log-probabilities, spread over the engine's slots. Level labels
    outside the top ``top_k`` get probability 0 (they are far below the labels that are in it); a prompt
    with no label at all in its top ``top_k`` gets the uniform distribution and is counted in ``info``.
    Passages are cut to about ``passage_tokens`` tokens by characters (4 per token), as the engine's
    tokenizer is not exposed."""

    def __init__(
        self, model: str, *, passage_tokens: int = 384, threads: int = 0, slots: int = 4, ctx_size: int = 0, top_k: int = 50
    ) -> None:
        from synrank.llm.factory import BackendOptions, create_backend

        self.backend: Any = create_backend("llamacpp", BackendOptions(model=model, threads=threads, slots=slots, ctx_size=ctx_size))
        self.passage_tokens = passage_tokens
        self.top_k = top_k
        self.no_label = 0

    def truncate(self, passage: str) -> str:
        limit = 4 * self.passage_tokens
        return passage if len(passage) <= limit else passage[:limit].rsplit(" ", 1)[0]

    def level_probabilities(
        self, prompts: Sequence[list[dict[str, str]]], labels: Sequence[str], on_progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        out = np.zeros((len(prompts), len(labels)), dtype=np.float64)
        step = 4 * self.backend.slots
        for start in range(0, len(prompts), step):
            batch = prompts[start : start + step]
            for i, top in enumerate(self.backend.next_token_logprobs(batch, self.top_k), start=start):
                logp = np.array([top.get(label, -np.inf) for label in labels])
                if np.isneginf(logp).all():
                    self.no_label += 1
                    out[i] = 1.0 / len(labels)
                    continue
                p = np.exp(logp - logp.max())
                out[i] = p / p.sum()
            if on_progress is not None:
                on_progress(len(batch))
        return out

    def info(self) -> dict[str, Any]:
        return {**self.backend.info(), "passage_tokens": self.passage_tokens, "top_k": self.top_k, "prompts_without_a_label": self.no_label}

    def close(self) -> None:
        self.backend.close()


JUDGE_BACKENDS = ("transformers", "llamacpp", "auto")


class LLMJudgeTeacher(Teacher):
    kind = "llm"

    def __init__(
        self,
        model: str,
        config: TeacherConfig | None = None,
        *,
        levels: int = 4,
        scorer: LevelScorer | None = None,
        backend: str = "transformers",
        threads: int = 0,
        slots: int = 4,
    ) -> None:
        """``backend``: transformers (any causal LM), llamacpp (GGUF models), or auto (llamacpp for a GGUF
        model when the engine is installed and no GPU is visible, else transformers)."""
        super().__init__(model)
        level_definitions(levels)  # validate early
        self.levels = levels
        if backend not in JUDGE_BACKENDS:
            raise ConfigError(f"unknown LLM judge backend {backend!r} (use one of {', '.join(JUDGE_BACKENDS)})")
        if scorer is None and backend == "auto":
            from synrank.llm.factory import resolve_backend_name

            backend = "llamacpp" if resolve_backend_name("auto", model) == "llamacpp" else "transformers"
        if scorer is None and backend == "llamacpp":
            scorer = LlamaCppLevelScorer(model, threads=threads, slots=slots)
        self.scorer: Any = scorer or TransformersLevelScorer(model, config)

    def score(
        self, queries: Sequence[str], texts: Sequence[str], doc_ids: Sequence[str], on_progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        if not queries:
            return np.zeros(0, dtype=np.float32)
        trunc = getattr(self.scorer, "truncate", lambda t: t)
        prompts = [judge_messages(q, trunc(t), self.levels) for q, t in zip(queries, texts)]
        probs = self.scorer.level_probabilities(prompts, [str(i) for i in range(self.levels)], on_progress)
        return (probs @ np.arange(self.levels, dtype=np.float64)).astype(np.float32)

    def info(self) -> dict[str, Any]:
        return {**super().info(), "levels": self.levels, "score": "expected level sum_l l * p(l)", **self.scorer.info()}
