"""Per-query optimal-transport (Wasserstein) loss between the student's and the labels' distributions.

Formula (one query; ``n`` candidate passages with targets ``y_j`` and student similarities ``s_j``):

    a = softmax(s / tau)              (student distribution over the candidates)
    b = softmax(y / tau_y)            (label distribution; tau_y = 1 gives softmax(labels))
    M_jl = |y_j - y_l|                (ground cost: how far apart two passages' relevance levels are)
    L(q) = min_{P >= 0, P 1 = a, P^T 1 = b} <P, M>      (exact OT, POT ``ot.emd2``)

averaged over the queries. This is the list-wise reading of SyCL's text (Esfandiarpoor et al. 2025,
"Beyond Contrastive Learning: Synthetic Data Enables List-wise Training with Multiple Levels of
Relevance"): moving student mass from a level-3 passage to a level-0 one costs 3, between two level-2
passages nothing. With ``in_batch=True`` (default, as in SyCL's training) the candidates are the query's
list plus every other passage of the global batch, labelled 0. POT's torch backend makes the distance
differentiable (its gradient with respect to ``a`` is the optimal dual potential). ``ot="sinkhorn"``
uses the entropic approximation ``ot.sinkhorn2`` with regulariser ``ot_reg`` instead.

Compare :mod:`synrank.train.losses.ws2`, the loss of the SyCL code release (a Gaussian 2-Wasserstein
distance over the whole batch, not a per-query OT problem).

Expected input: columns ``(query, passage_1, ..., passage_k)`` and ``label`` = ``k`` levels (or teacher
scores) per row.

Example::

    loss = WassersteinLoss(model, temperature=0.05)
"""

from __future__ import annotations

from typing import Any

import ot
import torch
from torch import Tensor

from synrank.train.losses.base import ListwiseLoss, gather_passages, in_batch_targets, list_scores, pairwise_scores


def wasserstein_loss(
    queries: Tensor,
    passages: Tensor,
    targets: Tensor,
    *,
    similarity: str = "cosine",
    temperature: float = 0.05,
    label_temperature: float = 1.0,
    in_batch: bool = True,
    method: str = "emd",
    reg: float = 0.05,
    gather: bool = True,
) -> Tensor:
    b, k, d = passages.shape
    if in_batch:
        all_passages, offset = gather_passages(passages.reshape(b * k, d), gather)
        scores = pairwise_scores(queries, all_passages, similarity)
        labels = in_batch_targets(targets, all_passages.size(0), offset)
    else:
        scores = list_scores(queries, passages, similarity)
        labels = targets
    # OT needs both marginals to carry the same mass to ~1e-7: float64 keeps POT's check happy.
    student = torch.softmax(scores.double() / temperature, dim=1)
    target = torch.softmax(labels.double() / label_temperature, dim=1)
    losses = []
    for i in range(b):
        cost = (labels[i, :, None] - labels[i, None, :]).abs().double()
        if method == "sinkhorn":
            losses.append(ot.sinkhorn2(student[i], target[i], cost, reg))
        else:
            losses.append(ot.emd2(student[i], target[i], cost))
    return torch.stack(losses).mean().to(queries.dtype)


class WassersteinLoss(ListwiseLoss):
    """Exact (or Sinkhorn) OT distance per query, ground cost = |level difference| (module docstring)."""

    def __init__(
        self,
        model: Any,
        *,
        temperature: float = 0.05,
        label_temperature: float = 1.0,
        in_batch: bool = True,
        method: str = "emd",
        reg: float = 0.05,
        mini_batch_size: int | None = None,
        gather_across_devices: bool = True,
    ) -> None:
        super().__init__(model, mini_batch_size=mini_batch_size, gather_across_devices=gather_across_devices)
        if method not in ("emd", "sinkhorn"):
            raise ValueError(f"unknown OT method {method!r} (use emd or sinkhorn)")
        self.temperature = temperature
        self.label_temperature = label_temperature
        self.in_batch = in_batch
        self.method = method
        self.reg = reg

    def compute(self, queries: Tensor, passages: Tensor, targets: Tensor) -> Tensor:
        return wasserstein_loss(
            queries,
            passages,
            targets,
            similarity=self.similarity,
            temperature=self.temperature,
            label_temperature=self.label_temperature,
            in_batch=self.in_batch,
            method=self.method,
            reg=self.reg,
            gather=self.gather_across_devices,
        )

    def get_config_dict(self) -> dict[str, Any]:
        return {
            **super().get_config_dict(),
            "temperature": self.temperature,
            "label_temperature": self.label_temperature,
            "in_batch": self.in_batch,
            "ot": self.method,
            "ot_reg": self.reg if self.method == "sinkhorn" else None,
        }
