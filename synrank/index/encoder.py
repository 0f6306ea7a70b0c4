"""A bi-encoder for bulk encoding: a sentence-transformers model run through the shared runtime layer.

Why not plain ``SentenceTransformer.encode``: we want (1) batches sized by a token budget rather than a
count, so long documents do not blow memory and short ones go through in large batches, (2) bf16 compute
on CPUs/GPUs that have it, with pooling and normalisation kept in fp32, and (3) out-of-memory back-off.
The model's own modules (transformer, pooling, normalisation, dense layers) are still used as-is, so
embeddings match ``encode`` up to the precision chosen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from synrank.index.settings import EncoderConfig
from synrank.models import load_sentence_transformer, resolve_model_name
from synrank.runtime.batching import run_with_oom_backoff, token_budget_batches
from synrank.runtime.device import dtype_name, resolve_device, resolve_dtype


class Encoder:
    """Encode texts into float32 embeddings with the similarity the model was trained for."""

    def __init__(self, model_name: str, config: EncoderConfig | None = None) -> None:
        import torch

        self.config = config or EncoderConfig()
        self.model_name = model_name
        self.device = resolve_device(self.config.device)
        self.dtype = resolve_dtype(self.config.dtype, self.device)
        self.model = load_sentence_transformer(
            model_name, device=str(self.device), trust_remote_code=self.config.trust_remote_code
        )
        if self.config.max_seq_length:
            self.model.max_seq_length = self.config.max_seq_length
        self.model.eval()
        # Only the transformer body runs in reduced precision; pooling, dense heads and normalisation stay fp32.
        self._body = self.model[0]
        self._head = list(self.model)[1:]
        if self.dtype != torch.float32:
            self._body.to(self.dtype)

    # -- what the index manifest records -------------------------------------------------------
    @property
    def normalized(self) -> bool:
        return any(type(m).__name__ == "Normalize" for m in self.model)

    @property
    def similarity(self) -> str:
        fn = getattr(self.model, "similarity_fn_name", None) or "cosine"
        return str(fn.value if hasattr(fn, "value") else fn)

    @property
    def dimension(self) -> int:
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(get_dim())

    def info(self) -> dict[str, Any]:
        pooling = None
        for module in self.model:
            if type(module).__name__ == "Pooling":
                cfg = module.get_config_dict()
                if isinstance(cfg.get("pooling_mode"), str):  # sentence-transformers >= 6
                    pooling = cfg["pooling_mode"]
                else:  # older releases: one boolean flag per mode
                    pooling = next((k.removeprefix("pooling_mode_").removesuffix("_tokens") for k, v in cfg.items() if k.startswith("pooling_mode_") and v), None)
        return {
            "name": self.model_name,
            "path": resolve_model_name(self.model_name),
            "pooling": pooling,
            "normalized": self.normalized,
            "similarity": self.similarity,
            "dimension": self.dimension,
            "max_seq_length": self.model.max_seq_length,
            "dtype": dtype_name(self.dtype),
            "device": str(self.device),
        }

    # -- encoding ----------------------------------------------------------------------------------
    def _token_lengths(self, texts: Sequence[str]) -> list[int]:
        tok = self.model.tokenizer
        enc = tok(list(texts), add_special_tokens=True, truncation=True, max_length=self.model.max_seq_length)
        return [len(ids) for ids in enc["input_ids"]]

    def _forward(self, texts: Sequence[str]) -> list[np.ndarray]:
        import torch

        # sentence-transformers >= 5.2 renamed tokenize() to preprocess(); support both.
        prep = getattr(self.model, "preprocess", None) or self.model.tokenize
        features = prep(list(texts))
        features = {k: v.to(self.device) if hasattr(v, "to") else v for k, v in features.items()}
        with torch.inference_mode():
            out = self._body(features)
            out["token_embeddings"] = out["token_embeddings"].float()
            for module in self._head:
                out = module(out)
            emb = out["sentence_embedding"].float().cpu().numpy()
        return list(emb)

    def encode(
        self, texts: Sequence[str], prefix: str = "", on_progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Encode ``texts`` (in order) to a ``(n, dim)`` float32 array; ``on_progress(n)`` after each batch."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if prefix:
            texts = [prefix + t for t in texts]
        lengths = self._token_lengths(texts)
        out: list[np.ndarray | None] = [None] * len(texts)
        for batch in token_budget_batches(lengths, self.config.max_tokens, self.config.max_batch_size):
            embs = run_with_oom_backoff(self._forward, [texts[i] for i in batch])
            for i, e in zip(batch, embs):
                out[i] = e
            if on_progress is not None:
                on_progress(len(batch))
        return np.stack(out).astype(np.float32, copy=False)  # type: ignore[arg-type]
