"""InfoNCE with one positive per query, the query's own list and all in-batch passages as negatives.

Formula (one query ``q`` with positive ``p+``, candidate set ``C`` = every passage of the global batch):

    L(q) = -log( exp(s(q, p+) / tau) / sum_{p in C, not masked} exp(s(q, p) / tau) )

``s`` is the base model's similarity (cosine for normalised models). The positive is the passage with the
highest target of the query's list (highest relevance level, or the teacher's top-1). Passages of the
same list that are positives too are removed from the denominator: those with a target >= ``positive_min_level``
when set (binary baseline on graded data), else those tied with the top target; and, with ``fn_margin``,
likely false negatives whose teacher score exceeds ``fn_margin x`` the list's top score (the CADeT
recipe, ``fn_margin=0.6``, for min-max normalised teacher scores). Under DDP the passages of every
process are gathered, with gradients, as in-batch negatives.

References: van den Oord et al. 2018 (CPC, https://arxiv.org/abs/1807.03748); Karpukhin et al. 2020 (DPR);
Tamber et al. 2025, "Conventional Contrastive Learning Often Falls Short" (false-negative masking).

Expected input: columns ``(query, passage_1, ..., passage_k)`` and ``label`` = ``k`` targets per row.

Example::

    loss = InfoNCELoss(model, temperature=0.05)
    loss(features, torch.tensor([[3.0, 1.0, 0.0, 0.0]]))
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from synrank.train.losses.base import ListwiseLoss, gather_passages, own_columns, pairwise_scores


def infonce_loss(
    queries: Tensor,
    passages: Tensor,
    targets: Tensor,
    *,
    similarity: str = "cosine",
    temperature: float = 0.05,
    positive_min_level: float | None = None,
    fn_margin: float | None = None,
    gather: bool = True,
) -> Tensor:
    """InfoNCE over ``[B, d]`` queries and ``[B, k, d]`` lists with ``[B, k]`` targets (mean over queries)."""
    b, k, d = passages.shape
    all_passages, offset = gather_passages(passages.reshape(b * k, d), gather)
    logits = pairwise_scores(queries, all_passages, similarity) / temperature
    cols = own_columns(b, k, offset, logits.device)
    top, pos_idx = targets.max(dim=1)
    pos_cols = cols.gather(1, pos_idx[:, None]).squeeze(1)

    threshold = top if positive_min_level is None else torch.full_like(top, float(positive_min_level))
    masked = targets >= threshold[:, None]  # other positives of the same list are not negatives
    if fn_margin is not None and fn_margin > 0:
        masked |= targets > fn_margin * top[:, None]
    masked.scatter_(1, pos_idx[:, None], False)  # never mask the positive itself
    mask = torch.zeros_like(logits, dtype=torch.bool).scatter(1, cols, masked)
    logits = logits.masked_fill(mask, float("-inf"))
    return F.cross_entropy(logits, pos_cols)


class InfoNCELoss(ListwiseLoss):
    """One-positive contrastive loss with list and in-batch negatives (see the module docstring)."""

    def __init__(
        self,
        model: Any,
        *,
        temperature: float = 0.05,
        positive_min_level: float | None = None,
        fn_margin: float | None = None,
        mini_batch_size: int | None = None,
        gather_across_devices: bool = True,
    ) -> None:
        super().__init__(model, mini_batch_size=mini_batch_size, gather_across_devices=gather_across_devices)
        self.temperature = temperature
        self.positive_min_level = positive_min_level
        self.fn_margin = fn_margin

    def compute(self, queries: Tensor, passages: Tensor, targets: Tensor) -> Tensor:
        return infonce_loss(
            queries,
            passages,
            targets,
            similarity=self.similarity,
            temperature=self.temperature,
            positive_min_level=self.positive_min_level,
            fn_margin=self.fn_margin,
            gather=self.gather_across_devices,
        )

    def get_config_dict(self) -> dict[str, Any]:
        return {
            **super().get_config_dict(),
            "temperature": self.temperature,
            "positive_min_level": self.positive_min_level,
            "fn_margin": self.fn_margin,
        }


__all__ = ["InfoNCELoss", "infonce_loss"]
