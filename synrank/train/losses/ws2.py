"""``ws2``: the loss of the SyCL code release, a 2-Wasserstein (Frechet) distance between Gaussians.

Formula (global batch of ``B`` queries; ``N`` = all its passages):

    X = softmax(S / tau)    rows: each query's similarities to all N in-batch passages   [B, N]
    Y = softmax(L / tau_y)  rows: the query's targets on its own list, 0 on other queries' passages
    fit Gaussians to the rows:  mu_X, Sigma_X = mean and covariance of the B rows of X (same for Y)
    L = ||mu_X - mu_Y||^2 + Tr(Sigma_X + Sigma_Y - 2 (Sigma_X Sigma_Y)^(1/2))

The trace of the matrix square root is computed as in the release (after Mathiasen & Hvilshoj 2020,
https://arxiv.org/abs/2009.14075): with ``C_X = (X - mu_X)^T / sqrt(B-1)``, the nonzero eigenvalues of
``Sigma_X Sigma_Y`` are those of the small ``B x B`` matrix ``(C_X^T C_Y)(C_Y^T C_X)``, so
``Tr sqrt = sum_i sqrt(lambda_i)``, in float64. We take the eigenvalues with ``eigvalsh`` (the matrix is
symmetric positive semi-definite), whose gradient is stable even when eigenvalues repeat.

**Release settings (the defaults).** SyCL's ``train.py`` (``WS2Loss``) divides trove's similarity by
trove's default ``temperature`` 1.0 (``ModelArguments.temperature``) and takes ``softmax(label)`` with no
label temperature; its commands train Contriever with ``--normalize no``, and trove's similarity is the raw
dot product (``PretrainedEncoder.similarity_fn``: ``query @ passage.T``). Hence ``similarity="dot"``,
``temperature=1.0``, ``teacher_temperature=1.0``. On a model whose embeddings have unit length (MiniLM,
e5, bge) scores lie in [-1, 1] and ``tau = 1`` makes ``X`` nearly flat; use a small ``tau`` there. Under DDP
the Gaussians are fitted to the global batch, as trove gathers queries, passages and labels.

Unlike :mod:`synrank.train.losses.wasserstein` this compares the *batch's* score distributions as a
whole, not each query's list with a ground cost on levels.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from synrank.train.losses.base import ListwiseLoss, in_batch_targets, pairwise_scores

SYCL_CITATION = """
@article{esfandiarpoor2025beyond,
    title={Beyond Contrastive Learning: Synthetic Data Enables List-wise Training with Multiple Levels
           of Relevance},
    author={Esfandiarpoor, Reza and others},
    journal={arXiv preprint arXiv:2503.23239},
    year={2025}
}
"""

# The release's settings (module docstring): trove's raw dot product, its temperature 1.0, plain softmax(label).
SYCL_SIMILARITY = "dot"
SYCL_TEMPERATURE = 1.0
SYCL_TEACHER_TEMPERATURE = 1.0


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
    similarity: str = SYCL_SIMILARITY,
    temperature: float = SYCL_TEMPERATURE,
    teacher_temperature: float = SYCL_TEACHER_TEMPERATURE,
) -> Tensor:
    b, k, d = passages.shape
    scores = pairwise_scores(queries, passages.reshape(b * k, d), similarity)
    labels = in_batch_targets(targets)
    student = torch.softmax(scores.double() / temperature, dim=1)
    target = torch.softmax(labels.double() / teacher_temperature, dim=1)
    return gaussian_w2(student, target).to(queries.dtype)


class WS2Loss(ListwiseLoss):
    hyper_parameters = ("temperature", "teacher_temperature")

    def __init__(
        self,
        model: Any,
        *,
        similarity: str = SYCL_SIMILARITY,
        temperature: float = SYCL_TEMPERATURE,
        teacher_temperature: float = SYCL_TEACHER_TEMPERATURE,
        mini_batch_size: int | None = None,
        gather_across_devices: bool = True,
    ) -> None:
        """SyCL's released Gaussian 2-Wasserstein batch loss (formula and release settings in the module docstring).

        Args:
            model: the SentenceTransformer to train.
            similarity: ``dot`` (the release) or ``cosine``.
            temperature: ``tau``, dividing the similarities (release: 1.0).
            teacher_temperature: ``tau_y``, dividing the levels (release: 1.0, plain ``softmax(labels)``).
            mini_batch_size: gradient caching chunk size (see :class:`ListwiseLoss`).
            gather_across_devices: under DDP, fit the Gaussians to the global batch.

        Requirements:
            1. graded levels (or scores) per passage; at least 2 queries per batch (a covariance of one row is zero)

        Inputs:
            +--------------------------------------------+------------------------------------------+
            | Texts                                      | Labels                                   |
            +============================================+==========================================+
            | (query, passage_1, ..., passage_k)         | k levels per row                         |
            +--------------------------------------------+------------------------------------------+

        Relations:
            - :class:`~synrank.train.losses.WassersteinLoss` is the per-query OT reading of the paper's text.

        Example:
            ::

                from synrank.train.losses import WS2Loss
                loss = WS2Loss(model)                       # the release: dot product, tau = 1
                loss = WS2Loss(model, similarity="cosine", temperature=0.05)
        """
        super().__init__(model, similarity=similarity, mini_batch_size=mini_batch_size, gather_across_devices=gather_across_devices)
        self.temperature = temperature
        self.teacher_temperature = teacher_temperature

    def compute(self, queries: Tensor, passages: Tensor, targets: Tensor, doc_keys: Tensor | None) -> Tensor:
        return ws2_loss(queries, passages, targets, **self.hyper())

    @property
    def citation(self) -> str:
        return SYCL_CITATION


__all__ = [
    "SYCL_CITATION",
    "SYCL_SIMILARITY",
    "SYCL_TEACHER_TEMPERATURE",
    "SYCL_TEMPERATURE",
    "WS2Loss", "gaussian_w2", "ws2_loss"]
