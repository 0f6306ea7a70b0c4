"""``ws2``: the loss of the SyCL code release, a 2-Wasserstein (Frechet) distance between Gaussians.

Formula (batch of ``B`` queries; ``N`` = all passages of the global batch):

    X = softmax(S / tau)    rows: each query's similarities to all N in-batch passages   [B, N]
    Y = softmax(L / tau_y)  rows: the query's targets on its own list, 0 on other queries' passages
    fit Gaussians to the rows:  mu_X, Sigma_X = mean and covariance of the B rows of X (same for Y)
    L = ||mu_X - mu_Y||^2 + Tr(Sigma_X + Sigma_Y - 2 (Sigma_X Sigma_Y)^(1/2))

The trace of the matrix square root is computed as in the release (after Mathiasen & Hvilshoj 2020,
https://arxiv.org/abs/2009.14075): with ``C_X = (X - mu_X)^T / sqrt(B-1)``, the nonzero eigenvalues of
``Sigma_X Sigma_Y`` are those of the small ``B x B`` matrix ``(C_X^T C_Y)(C_Y^T C_X)``, so
``Tr sqrt = sum_i sqrt(lambda_i)``, in float64. We take the eigenvalues with ``eigvalsh`` (the matrix is
symmetric positive semi-definite), whose gradient is stable even when eigenvalues repeat.

Unlike :mod:`synrank.train.losses.wasserstein` this compares the *batch's* score distributions as a
whole, not each query's list with a ground cost on levels. Reference: Esfandiarpoor et al. 2025,
"Beyond Contrastive Learning: Synthetic Data Enables List-wise Training with Multiple Levels of
Relevance" (SyCL), code release loss ``ws2``.

Expected input: columns ``(query, passage_1, ..., passage_k)`` and ``label`` = ``k`` levels per row;
needs at least 2 queries per batch (a covariance of one row is zero).

Example::

    loss = WS2Loss(model, temperature=0.05)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from synrank.train.losses.base import ListwiseLoss, gather_passages, in_batch_targets, pairwise_scores


def gaussian_w2(x: Tensor, y: Tensor) -> Tensor:
    """Squared 2-Wasserstein distance between Gaussians fitted to the rows of ``x`` and ``y`` ``[B, N]``."""
    x, y = x.double(), y.double()
    rows = x.size(0)
    fact = 1.0 if rows < 2 else 1.0 / (rows - 1)
    mu_x, mu_y = x.mean(dim=0), y.mean(dim=0)
    ex, ey = x - mu_x, y - mu_y  # [B, N]
    trace_cov = (ex * ex).sum() * fact + (ey * ey).sum() * fact  # Tr(Sigma_X) + Tr(Sigma_Y)
    a = (ex @ ey.T) * fact  # [B, B] = C_X^T C_Y
    m = a @ a.T  # symmetric PSD, same nonzero eigenvalues as Sigma_X Sigma_Y
    eig = torch.linalg.eigvalsh(m).clamp(min=0.0)
    sqrt_trace = torch.sqrt(eig + 1e-15).sum()  # + eps: sqrt'(0) would be infinite
    return ((mu_x - mu_y) ** 2).sum() + trace_cov - 2.0 * sqrt_trace


def ws2_loss(
    queries: Tensor,
    passages: Tensor,
    targets: Tensor,
    *,
    similarity: str = "cosine",
    temperature: float = 0.05,
    label_temperature: float = 1.0,
    gather: bool = True,
) -> Tensor:
    b, k, d = passages.shape
    all_passages, offset = gather_passages(passages.reshape(b * k, d), gather)
    scores = pairwise_scores(queries, all_passages, similarity)
    labels = in_batch_targets(targets, all_passages.size(0), offset)
    student = torch.softmax(scores.double() / temperature, dim=1)
    target = torch.softmax(labels.double() / label_temperature, dim=1)
    return gaussian_w2(student, target).to(queries.dtype)


class WS2Loss(ListwiseLoss):
    """SyCL's released Gaussian 2-Wasserstein batch loss (see the module docstring)."""

    def __init__(
        self,
        model: Any,
        *,
        temperature: float = 0.05,
        label_temperature: float = 1.0,
        mini_batch_size: int | None = None,
        gather_across_devices: bool = True,
    ) -> None:
        super().__init__(model, mini_batch_size=mini_batch_size, gather_across_devices=gather_across_devices)
        self.temperature = temperature
        self.label_temperature = label_temperature

    def compute(self, queries: Tensor, passages: Tensor, targets: Tensor) -> Tensor:
        return ws2_loss(
            queries,
            passages,
            targets,
            similarity=self.similarity,
            temperature=self.temperature,
            label_temperature=self.label_temperature,
            gather=self.gather_across_devices,
        )

    def get_config_dict(self) -> dict[str, Any]:
        return {**super().get_config_dict(), "temperature": self.temperature, "label_temperature": self.label_temperature}
