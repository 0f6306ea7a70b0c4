"""``kl+infonce``: list-wise distillation plus a small contrastive term, as in the distillation paper.

Formula:

    L = KL(teacher || student)  [tau_s = 0.05, tau_t = 0.3]
        + w * InfoNCE           [tau = 0.01, positive = teacher top-1,
                                 negatives = the list + all in-batch passages,
                                 negatives with teacher score > 0.6 x top score masked]

with ``w = 0.1`` by default (Tamber, Kazi, Sourabh, Lin 2025, "Conventional Contrastive Learning Often
Falls Short"). See :mod:`synrank.train.losses.kl` and :mod:`synrank.train.losses.infonce` for the terms.

Expected input: columns ``(query, passage_1, ..., passage_k)`` and ``label`` = ``k`` teacher scores per row.

Example::

    loss = KLInfoNCELoss(model, infonce_weight=0.1)
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from synrank.train.losses.base import ListwiseLoss
from synrank.train.losses.infonce import infonce_loss
from synrank.train.losses.kl import kl_loss


class KLInfoNCELoss(ListwiseLoss):
    def __init__(
        self,
        model: Any,
        *,
        temperature: float = 0.05,
        teacher_temperature: float = 0.3,
        infonce_weight: float = 0.1,
        infonce_temperature: float = 0.01,
        fn_margin: float | None = 0.6,
        mini_batch_size: int | None = None,
        gather_across_devices: bool = True,
    ) -> None:
        super().__init__(model, mini_batch_size=mini_batch_size, gather_across_devices=gather_across_devices)
        self.temperature = temperature
        self.teacher_temperature = teacher_temperature
        self.infonce_weight = infonce_weight
        self.infonce_temperature = infonce_temperature
        self.fn_margin = fn_margin

    def compute(self, queries: Tensor, passages: Tensor, targets: Tensor) -> Tensor:
        kl = kl_loss(
            queries,
            passages,
            targets,
            similarity=self.similarity,
            temperature=self.temperature,
            teacher_temperature=self.teacher_temperature,
        )
        nce = infonce_loss(
            queries,
            passages,
            targets,
            similarity=self.similarity,
            temperature=self.infonce_temperature,
            fn_margin=self.fn_margin,
            gather=self.gather_across_devices,
        )
        return kl + self.infonce_weight * nce

    def get_config_dict(self) -> dict[str, Any]:
        return {
            **super().get_config_dict(),
            "temperature": self.temperature,
            "teacher_temperature": self.teacher_temperature,
            "infonce_weight": self.infonce_weight,
            "infonce_temperature": self.infonce_temperature,
            "fn_margin": self.fn_margin,
        }
