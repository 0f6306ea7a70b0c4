"""List-wise distillation: KL(teacher || student) over each query's list.

Formula (one query, list of ``k`` passages, teacher scores ``t_j``, student similarities ``s_j``):

    P_t = softmax(t / tau_t),   P_s = softmax(s / tau_s)
    L(q) = sum_j P_t(j) * (log P_t(j) - log P_s(j))

averaged over the queries of the batch. Defaults follow Tamber et al. 2025 ("Conventional Contrastive
Learning Often Falls Short", listwise distillation): student ``tau_s = 0.05`` on cosine similarity,
teacher ``tau_t = 0.3`` on min-max normalised cross-encoder scores. Graded levels can stand in for teacher
scores. Only the query's own list enters: other queries' passages have no teacher score for this query.

Expected input: columns ``(query, passage_1, ..., passage_k)`` and ``label`` = ``k`` teacher scores per row.

Example::

    loss = KLDistillationLoss(model, temperature=0.05, teacher_temperature=0.3)
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor

from synrank.train.losses.base import ListwiseLoss, list_scores


def kl_loss(
    queries: Tensor,
    passages: Tensor,
    targets: Tensor,
    *,
    similarity: str = "cosine",
    temperature: float = 0.05,
    teacher_temperature: float = 0.3,
) -> Tensor:
    student_log = F.log_softmax(list_scores(queries, passages, similarity) / temperature, dim=1)
    teacher_log = F.log_softmax(targets / teacher_temperature, dim=1)
    per_query = (teacher_log.exp() * (teacher_log - student_log)).sum(dim=1)
    return per_query.mean()


class KLDistillationLoss(ListwiseLoss):
    """KL(teacher || student) over each list (see the module docstring)."""

    def __init__(
        self,
        model: Any,
        *,
        temperature: float = 0.05,
        teacher_temperature: float = 0.3,
        mini_batch_size: int | None = None,
        gather_across_devices: bool = True,
    ) -> None:
        super().__init__(model, mini_batch_size=mini_batch_size, gather_across_devices=gather_across_devices)
        self.temperature = temperature
        self.teacher_temperature = teacher_temperature

    def compute(self, queries: Tensor, passages: Tensor, targets: Tensor) -> Tensor:
        return kl_loss(
            queries,
            passages,
            targets,
            similarity=self.similarity,
            temperature=self.temperature,
            teacher_temperature=self.teacher_temperature,
        )

    def get_config_dict(self) -> dict[str, Any]:
        return {**super().get_config_dict(), "temperature": self.temperature, "teacher_temperature": self.teacher_temperature}
