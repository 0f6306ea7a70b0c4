"""The shared machinery of every synrank loss: embedding, optional gradient caching, in-batch gathering.

Each loss is a sentence-transformers loss module (``forward(sentence_features, labels)``) so that the
sentence-transformers trainer drives it. Inputs are always one query column followed by ``k`` passage
columns (one list of ``k`` passages per query) and a ``label`` column holding the ``k`` targets of each
list: relevance levels, or teacher scores. A subclass only implements :meth:`ListwiseLoss.compute` on
embeddings, so the same code runs with and without gradient caching.

Gradient caching (GradCache, Gao et al. 2021, https://arxiv.org/abs/2101.06983) reuses
sentence-transformers' ``CachedLossMixin``: embeddings are first computed chunk by chunk without a graph,
the loss is back-propagated to the embeddings only, and the chunks are embedded again with a graph to
push the cached embedding gradients into the model. Memory then depends on ``mini_batch_size`` instead
of the batch size, while the loss and gradients are those of the full batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from sentence_transformers.base.losses.gradcache import CachedLossMixin
from sentence_transformers.util import all_gather_with_grad
from torch import Tensor, nn


def similarity_name(model: Any) -> str:
    """``cosine`` or ``dot``: the similarity the base model was trained for (sentence-transformers config)."""
    name = getattr(model, "similarity_fn_name", None) or "cosine"
    name = str(getattr(name, "value", name)).lower()
    if name in ("cosine", "cos", "cos_sim"):
        return "cosine"
    if name in ("dot", "dot_product", "dot_score"):
        return "dot"
    raise ValueError(f"similarity {name!r} is not supported for training (use a cosine or dot-product model)")


def pairwise_scores(queries: Tensor, passages: Tensor, similarity: str) -> Tensor:
    """``[B, d] x [N, d] -> [B, N]`` similarity matrix."""
    if similarity == "cosine":
        queries = F.normalize(queries, dim=-1)
        passages = F.normalize(passages, dim=-1)
    return queries @ passages.T


def list_scores(queries: Tensor, passages: Tensor, similarity: str) -> Tensor:
    """``[B, d] x [B, k, d] -> [B, k]``: each query against its own list."""
    if similarity == "cosine":
        queries = F.normalize(queries, dim=-1)
        passages = F.normalize(passages, dim=-1)
    return torch.einsum("bd,bkd->bk", queries, passages)


def gather_passages(passages_flat: Tensor, enabled: bool) -> tuple[Tensor, int]:
    """All passages of the global batch (every process), and where this process's passages start.

    Gradients flow back to the process that owns each passage (``torch.distributed.nn.all_gather``),
    so another rank's passages are real in-batch negatives, not constants.
    """
    if enabled and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return all_gather_with_grad(passages_flat), dist.get_rank() * passages_flat.size(0)
    return passages_flat, 0


def own_columns(batch: int, k: int, offset: int, device: torch.device) -> Tensor:
    """``[B, k]`` column indices of each query's own list in the gathered passage matrix."""
    return offset + torch.arange(batch, device=device)[:, None] * k + torch.arange(k, device=device)[None, :]


def in_batch_targets(targets: Tensor, total: int, offset: int, fill: float = 0.0) -> Tensor:
    """Spread ``[B, k]`` list targets over all ``total`` in-batch passages; other queries' passages get ``fill``."""
    b, k = targets.shape
    full = torch.full((b, total), fill, dtype=targets.dtype, device=targets.device)
    return full.scatter(1, own_columns(b, k, offset, targets.device), targets)


class ListwiseLoss(CachedLossMixin, nn.Module):
    """Base class: embeds ``(query, passage_1..k)`` columns and calls :meth:`compute` on the embeddings.

    Args:
        model: the SentenceTransformer being trained.
        mini_batch_size: embed at most this many texts at once and cache gradients (GradCache); ``None``
            embeds each column in one go.
        gather_across_devices: under DDP, score every query against the passages of all processes.
    """

    def __init__(self, model: Any, *, mini_batch_size: int | None = None, gather_across_devices: bool = True) -> None:
        super().__init__()
        self.model = model
        self.similarity = similarity_name(model)
        self.mini_batch_size = int(mini_batch_size or 0)
        self.uses_gradient_cache = bool(mini_batch_size)
        self.gather_across_devices = gather_across_devices

    # -- what subclasses implement -------------------------------------------------------------------
    def compute(self, queries: Tensor, passages: Tensor, targets: Tensor) -> Tensor:
        """Loss from query embeddings ``[B, d]``, passage embeddings ``[B, k, d]`` and targets ``[B, k]``."""
        raise NotImplementedError

    # -- sentence-transformers loss interface ----------------------------------------------------------
    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        sentence_features = list(sentence_features)
        if len(sentence_features) < 2:
            raise ValueError(f"expected a query column and at least one passage column, got {len(sentence_features)}")
        if self.uses_gradient_cache:
            return self.forward_cached(sentence_features, labels)
        reps = [[self.model(features)["sentence_embedding"]] for features in sentence_features]
        return self.calculate_loss(reps, labels)

    def calculate_loss(self, reps: list[list[Tensor]], labels: Tensor | None = None, *, with_backward: bool = False) -> Tensor:
        if labels is None:
            raise ValueError("list-wise losses need a label column with one target per passage")
        queries = torch.cat(reps[0])
        passages = torch.stack([torch.cat(column) for column in reps[1:]], dim=1)
        targets = labels.to(device=queries.device, dtype=torch.float32)
        if targets.dim() == 1:
            targets = targets[:, None]
        if targets.shape != passages.shape[:2]:
            raise ValueError(f"labels have shape {tuple(targets.shape)}, expected {tuple(passages.shape[:2])}")
        loss = self.compute(queries, passages, targets)
        if with_backward:
            loss.backward()
            loss = loss.detach()
        return loss

    def get_config_dict(self) -> dict[str, Any]:
        return {"similarity": self.similarity, "mini_batch_size": self.mini_batch_size or None}
