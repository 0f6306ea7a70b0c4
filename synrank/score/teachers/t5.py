"""T5 rerankers as teachers: monoT5 (``monot5:MODEL``) and RankT5 (``rankt5:MODEL``).

Both read the decoder's logits at its first step (one decoder token, the start token; no ``generate()``):

- **monoT5** (Nogueira et al. 2020, e.g. ``castorini/monot5-base-msmarco``) was trained to answer
  ``Query: {query} Document: {passage} Relevant:`` with ``true`` or ``false``. Its score is the
  log-probability of ``▁true`` renormalised over {``▁true``, ``▁false``}, as pygaggle's ``MonoT5`` and the
  CADeT reference's ``reranker/run_reranking.py`` compute it; ``score="logit"`` keeps the raw ``▁true``
  logit (rerankers' ``T5Ranker(return_logits=True)``). Other monoT5 checkpoints answer with other words
  (mT5 ``▁yes``/``▁no``, ptT5 ``▁sim``/``▁não``): the token pair is a setting.
- **RankT5** (Zhuang et al. 2022, e.g. ``Soyoung97/RankT5-base``) was trained with a ranking loss on the
  logit of one otherwise unused token, ``<extra_id_10>``, for input ``Query: {query} Document: {passage}``.
  That logit is the score (the CADeT reference's ``rankt5_score``, which its normalisation then min-maxes
  between percentiles). It is not a vocabulary distribution, so no softmax applies.

Two kinds rather than one with a mode: the families differ in prompt, answer token and score, and a
user knows which family a checkpoint belongs to, while its name or folder may not say so (the CADeT
reference guesses it from the name). As kinds, a monoT5 and a RankT5 teacher can also be fused in one run.

Inputs longer than the length limit lose the end of the **passage**, not of the whole input, so the
template's tail (monoT5's ``Relevant:``) is always read; pygaggle and the CADeT reference cut the whole
string, which for a long passage removes the cue the model answers. Inputs that fit are tokenised exactly
as the references do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from synrank.errors import ConfigError
from synrank.models import resolve_model_name
from synrank.runtime.device import dtype_name, resolve_device, resolve_dtype
from synrank.score.teachers.base import Teacher, TeacherConfig, score_in_batches

MONOT5_TEMPLATE = "Query: {query} Document: {passage} Relevant:"
MONOT5_TOKENS = "▁true,▁false"
MONOT5_SCORES = ("log-softmax", "logit")
RANKT5_TEMPLATE = "Query: {query} Document: {passage}"
RANKT5_TOKEN = "<extra_id_10>"
# T5 has relative positions, so no hard limit; tokenizers saved without one report ~1e30. 512 is what
# monoT5 and RankT5 were trained with and what pygaggle and the CADeT reference use.
FALLBACK_MAX_LENGTH = 512

_PLACEHOLDER = re.compile(r"\{([A-Za-z_]\w*)\}")


def check_template(template: str, setting: str | None = None) -> str:
    """A template has ``{query}`` and ``{passage}`` once each and no other placeholder."""
    names = _PLACEHOLDER.findall(template)
    unknown = sorted(set(names) - {"query", "passage"})
    if unknown:
        raise ConfigError(f"unknown placeholder {{{unknown[0]}}} in template {template!r} (use {{query}} and {{passage}})", setting=setting)
    for name in ("query", "passage"):
        if names.count(name) != 1:
            raise ConfigError(f"template {template!r} needs {{{name}}} exactly once", setting=setting)
    return template


def split_token_pair(tokens: str, setting: str | None = None) -> tuple[str, str]:
    """``"TRUE,FALSE"`` -> ("TRUE", "FALSE")."""
    parts = [p.strip() for p in tokens.split(",")]
    if len(parts) != 2 or not all(parts):
        raise ConfigError(f"expected two tokens, relevant first: TRUE,FALSE (got {tokens!r})", setting=setting)
    return parts[0], parts[1]


class T5Teacher(Teacher):
    """Scores a pair from the decoder's first-step logits of a T5-style seq2seq model.

    ``tokens`` are the tokens read: one (the score is its logit) or two, relevant first (``score``
    ``"log-softmax"``: log p(first) over the pair; ``"logit"``: the first one's logit). A token is a
    vocabulary piece (``▁true``), a word the tokenizer turns into one token (``true``), or an id.
    """

    kind = "t5"

    def __init__(
        self,
        model: str,
        config: TeacherConfig | None = None,
        *,
        template: str,
        tokens: Sequence[str],
        score: str = "logit",
    ) -> None:
        super().__init__(model)
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self.config = config or TeacherConfig()
        self.template = check_template(template, f"{self.kind}_template")
        if score not in MONOT5_SCORES:
            raise ConfigError(f"unknown score {score!r} ({', '.join(MONOT5_SCORES)})", setting="monot5_score")
        if score == "log-softmax" and len(tokens) != 2:
            raise ConfigError("a log-softmax score needs two tokens: relevant, not relevant", setting="monot5_tokens")
        self.score_mode = score
        self.device = resolve_device(self.config.device)
        self.dtype = resolve_dtype(self.config.dtype, self.device)
        self.path = resolve_model_name(model)
        trust = self.config.trust_remote_code
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.path, trust_remote_code=trust)
            self.model = AutoModelForSeq2SeqLM.from_pretrained(self.path, dtype=self.dtype, trust_remote_code=trust)
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if "trust_remote_code" in first:
                raise ConfigError(f"model {model!r} needs its own code; pass --trust-remote-code if you trust it") from None
            raise ConfigError(f"cannot load {self.kind} model {model!r}: {first}") from None
        self.start_id = self.model.config.decoder_start_token_id
        if not getattr(self.model.config, "is_encoder_decoder", False) or self.start_id is None:
            raise ConfigError(f"{model!r} is not an encoder-decoder model with a decoder start token (a T5 reranker is)")
        self.model.to(self.device)
        self.model.eval()
        self.token_names = list(tokens)
        self.token_ids = [self._token_id(t) for t in tokens]
        limit = getattr(self.tokenizer, "model_max_length", None) or 0
        self.max_length = self.config.max_length or (int(limit) if 0 < limit < 1_000_000 else FALLBACK_MAX_LENGTH)
        self._torch = torch

    def _token_id(self, token: str) -> int:
        tok = self.tokenizer
        setting = "rankt5_token" if self.kind == "rankt5" else "monot5_tokens"
        width = self.model.get_output_embeddings().weight.shape[0]
        if token.isdigit():
            idx = int(token)
        else:
            ids = tok.encode(token, add_special_tokens=False)
            vocab = tok.get_vocab()
            if len(ids) == 1 and ids[0] != tok.unk_token_id:
                # The word as the model writes it: "true" is "▁true" (a word start), not the piece "true"
                # that only continues a word, though both are in T5's vocabulary.
                idx = ids[0]
            elif token in vocab:
                idx = vocab[token]
            else:
                pieces = tok.convert_ids_to_tokens(ids)
                raise ConfigError(f"{token!r} is not one token of {self.model_name!r}'s vocabulary (it becomes {pieces})", setting=setting)
        if not 0 <= idx < width:
            raise ConfigError(f"token id {idx} is outside {self.model_name!r}'s {width} output logits", setting=setting)
        return idx

    def _render(self, query: str, passage: str) -> tuple[str, int, int]:
        """The input text and the character span of the passage in it."""
        head, tail = self.template.split("{passage}")
        values = {"query": query}
        head = _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), head)
        tail = _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), tail)
        return head + passage + tail, len(head), len(head) + len(passage)

    def fit(self, query: str, passage: str) -> tuple[str, int]:
        """The input for one pair, its passage shortened from the end until the whole fits ``max_length``
        tokens; and its length in tokens."""
        tok = self.tokenizer
        text, start, end = self._render(query, passage)
        ids = tok(text, truncation=False, verbose=False)["input_ids"]
        over = len(ids) - self.max_length
        if over <= 0:
            return text, len(ids)
        if not getattr(tok, "is_fast", False):  # no character offsets: the whole input is cut instead
            return text, self.max_length
        keep = None
        for _ in range(8):  # each pass cuts by what is still over; boundaries rarely move by more than a token
            enc = tok(text, truncation=False, return_offsets_mapping=True, verbose=False)
            inside = [e for s, e in enc["offset_mapping"] if e > start and s < end]
            keep = len(inside) - over if keep is None else min(keep - 1, len(inside) - over)
            cut = min(inside[keep - 1], end) - start if keep > 0 and inside else 0
            passage = passage[:cut].rstrip()
            text, start, end = self._render(query, passage)
            over = len(tok(text, truncation=False, verbose=False)["input_ids"]) - self.max_length
            if over <= 0 or not passage:
                break
        return text, min(len(tok(text, truncation=False, verbose=False)["input_ids"]), self.max_length)

    def _forward(self, texts: Sequence[str]) -> list[float]:
        torch = self._torch
        enc = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        start = torch.full((len(texts), 1), self.start_id, dtype=torch.long, device=self.device)
        with torch.inference_mode():
            out = self.model(
                input_ids=enc["input_ids"].to(self.device),
                attention_mask=enc["attention_mask"].to(self.device),
                decoder_input_ids=start,
                use_cache=False,
            )
            picked = out.logits[:, 0, self.token_ids].float()
        if self.score_mode == "log-softmax":
            scores = torch.log_softmax(picked, dim=-1)[:, 0]
        else:
            scores = picked[:, 0]
        return scores.cpu().tolist()

    def score(
        self, queries: Sequence[str], texts: Sequence[str], doc_ids: Sequence[str], on_progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        if not queries:
            return np.zeros(0, dtype=np.float32)
        inputs = [self._render(q, t)[0] for q, t in zip(queries, texts)]
        lengths = [len(ids) for ids in self.tokenizer(inputs, truncation=False, verbose=False)["input_ids"]]
        for i, n in enumerate(lengths):
            if n > self.max_length:
                inputs[i], lengths[i] = self.fit(queries[i], texts[i])
        return score_in_batches(inputs, lengths, self._forward, self.config, on_progress)

    def describe_score(self) -> str:
        names = [f"{n!r} (id {i})" for n, i in zip(self.token_names, self.token_ids)]
        if self.score_mode == "log-softmax":
            return f"log-softmax of {names[0]} over {{{', '.join(names)}}} at the first decoder step"
        return f"raw logit of {names[0]} at the first decoder step"

    def info(self) -> dict[str, Any]:
        return {
            **super().info(),
            "path": self.path,
            "score": self.describe_score(),
            "template": self.template,
            "tokens": dict(zip(self.token_names, self.token_ids)),
            "max_length": self.max_length,
            "dtype": dtype_name(self.dtype),
            "device": str(self.device),
        }


class MonoT5Teacher(T5Teacher):
    kind = "monot5"

    def __init__(
        self,
        model: str,
        config: TeacherConfig | None = None,
        *,
        template: str = MONOT5_TEMPLATE,
        tokens: str | Sequence[str] = MONOT5_TOKENS,
        score: str = "log-softmax",
    ) -> None:
        pair = split_token_pair(tokens, "monot5_tokens") if isinstance(tokens, str) else tuple(tokens)
        super().__init__(model, config, template=template, tokens=pair if score == "log-softmax" else pair[:1], score=score)


class RankT5Teacher(T5Teacher):
    kind = "rankt5"

    def __init__(self, model: str, config: TeacherConfig | None = None, *, template: str = RANKT5_TEMPLATE, token: str = RANKT5_TOKEN) -> None:
        super().__init__(model, config, template=template, tokens=[token], score="logit")
