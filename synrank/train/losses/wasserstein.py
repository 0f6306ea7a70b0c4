"""Per-query optimal-transport (Wasserstein) loss between the student's and the labels' distributions.

Formula (one query; ``n`` candidate passages with targets ``y_j`` and student similarities ``s_j``):

    a = softmax(s / tau)              (student distribution over the candidates)
    b = softmax(y / tau_y)            (label distribution; tau_y = 1 gives softmax(labels))
    M_jl = |y_j - y_l|                (ground cost: how far apart two passages' relevance levels are)
    L(q) = min_{P >= 0, P 1 = a, P^T 1 = b} <P, M>      (exact OT, POT ``ot.emd2``)

averaged over the queries of the (global) batch. This is the list-wise reading of SyCL's text
(Esfandiarpoor et al. 2025): moving student mass from a level-3 passage to a level-0 one costs 3, between
two level-2 passages nothing. With ``in_batch=True`` (default, as in SyCL's training) the candidates are
the query's list plus every other passage of the global batch, labelled 0. POT's torch backend makes the
distance differentiable (its gradient with respect to ``a`` is the optimal dual potential).
``ot="sinkhorn"`` uses the entropic approximation ``ot.sinkhorn2`` with regulariser ``ot_reg`` instead.
Similarity and temperatures default to the SyCL release's (raw dot product, ``tau = 1``; see
:mod:`synrank.train.losses.ws2`).

Compare :mod:`synrank.train.losses.ws2`, the loss of the SyCL code release (a Gaussian 2-Wasserstein
distance over the whole batch, not a per-query OT problem).
"""

from __future__ import annotations

from typing import Any

import ot
import torch
from torch import Tensor

from synrank.train.loss_names import OT_METHODS, WASSERSTEIN_IN_BATCH, WASSERSTEIN_OT
from synrank.train.losses.base import ListwiseLoss, in_batch_targets, list_scores, pairwise_scores
from synrank.train.losses.ws2 import SYCL_CITATION, SYCL_SIMILARITY, SYCL_TEACHER_TEMPERATURE, SYCL_TEMPERATURE

OT_REG = 0.05  # the entropic regulariser of ot="sinkhorn"


def wasserstein_loss(
    queries: Tensor,
    passages: Tensor,
    targets: Tensor,
    *,
    similarity: str = SYCL_SIMILARITY,
    temperature: float = SYCL_TEMPERATURE,
    teacher_temperature: float = SYCL_TEACHER_TEMPERATURE,
    in_batch: bool = WASSERSTEIN_IN_BATCH,
    ot_method: str = WASSERSTEIN_OT,
    ot_reg: float = OT_REG,
) -> Tensor:
    b, k, d = passages.shape
    if in_batch:
        scores = pairwise_scores(queries, passages.reshape(b * k, d), similarity)
        labels = in_batch_targets(targets)
    else:
        scores = list_scores(queries, passages, similarity)
        labels = targets
    # OT needs both marginals to carry the same mass to ~1e-7: float64 keeps POT's check happy.
    student = torch.softmax(scores.double() / temperature, dim=1)
    target = torch.softmax(labels.double() / teacher_temperature, dim=1)
    losses = []
    for i in range(b):
        cost = (labels[i, :, None] - labels[i, None, :]).abs().double()
        if ot_method == "sinkhorn":
            losses.append(ot.sinkhorn2(student[i], target[i], cost, ot_reg))
        else:
            losses.append(ot.emd2(student[i], target[i], cost))
    return torch.stack(losses).mean().to(queries.dtype)


class WassersteinLoss(ListwiseLoss):
    hyper_parameters = ("temperature", "teacher_temperature", "in_batch", "ot", "ot_reg")

    def __init__(
        self,
        model: Any,
        *,
        similarity: str = SYCL_SIMILARITY,
        temperature: float = SYCL_TEMPERATURE,
        teacher_temperature: float = SYCL_TEACHER_TEMPERATURE,
        in_batch: bool = WASSERSTEIN_IN_BATCH,
        ot: str = WASSERSTEIN_OT,
        ot_reg: float = OT_REG,
        mini_batch_size: int | None = None,
        gather_across_devices: bool = True,
    ) -> None:
        """Exact (or Sinkhorn) OT distance per query, ground cost = |level difference| (module docstring).

        Args:
            model: the SentenceTransformer to train.
            similarity: ``dot`` (the SyCL release's) or ``cosine``.
            temperature: ``tau`` of the student distribution.
            teacher_temperature: ``tau_y`` of the label distribution.
            in_batch: add the other queries' passages, labelled 0, to each query's candidates.
            ot: ``emd`` (exact) or ``sinkhorn`` (entropic).
            ot_reg: Sinkhorn's entropic regulariser.
            mini_batch_size: gradient caching chunk size (see :class:`ListwiseLoss`).
            gather_across_devices: under DDP, one loss over the global batch.

        Requirements:
            1. graded levels per passage (the ground cost is their difference)

        Inputs:
            +--------------------------------------------+------------------------------------------+
            | Texts                                      | Labels                                   |
            +============================================+==========================================+
            | (query, passage_1, ..., passage_k)         | k levels per row                         |
            +--------------------------------------------+------------------------------------------+

        Relations:
            - :class:`~synrank.train.losses.WS2Loss` is the SyCL release's batch-level Gaussian version.
            - on one list this is 1-D OT between level distributions (``scipy.stats.wasserstein_distance``).

        Example:
            ::

                from synrank.train.losses import WassersteinLoss
                loss = WassersteinLoss(model, similarity="cosine", temperature=0.05)
                value = loss(features, torch.tensor([[3.0, 2.0, 0.0, 1.0]]))
        """
        super().__init__(model, similarity=similarity, mini_batch_size=mini_batch_size, gather_across_devices=gather_across_devices)
        if ot not in OT_METHODS:
            raise ValueError(f"unknown OT method {ot!r} (use emd or sinkhorn)")
        self.temperature = temperature
        self.teacher_temperature = teacher_temperature
        self.in_batch = in_batch
        self.ot = ot
        self.ot_reg = ot_reg

    def compute(self, queries: Tensor, passages: Tensor, targets: Tensor, doc_keys: Tensor | None) -> Tensor:
        settings = self.hyper()
        # The attribute keeps the constructor's name; the function's ``ot`` would shadow the POT module.
        return wasserstein_loss(queries, passages, targets, ot_method=settings.pop("ot"), **settings)

    def get_config_dict(self) -> dict[str, Any]:
        # Exact OT has no regulariser: recording one would suggest it shaped the run.
        return super().get_config_dict() | ({} if self.ot == "sinkhorn" else {"ot_reg": None})

    @property
    def citation(self) -> str:
        return SYCL_CITATION


__all__ = ["WassersteinLoss", "wasserstein_loss"]
