"""``kl+infonce``: list-wise distillation plus a small contrastive term, as in the distillation paper.

Formula:

    L = KL(teacher || student)  [tau_s = 0.05, tau_t = 0.3]
        + w * InfoNCE           [tau = 0.01, positive = teacher top-1,
                                 negatives = the list + all in-batch passages,
                                 documents scoring > 0.6 x the top score masked, in every list of the batch]

with ``w = 0.1`` by default (Tamber, Kazi, Sourabh, Lin 2025, "Conventional Contrastive Learning Often
Falls Short"; reference code cadet-dense-retrieval ``train_e5_listwise.py``: ``rank_temp``, ``kl_temp``,
``temp``, ``contrastive_loss_weight``, ``threshold_score``). See :mod:`synrank.train.losses.kl` and
:mod:`synrank.train.losses.infonce` for the terms.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from synrank.train.losses.base import ListwiseLoss
from synrank.train.losses.infonce import infonce_loss
from synrank.train.losses.kl import CADET_CITATION, CADET_SIMILARITY, CADET_TEACHER_TEMPERATURE, CADET_TEMPERATURE, kl_loss

# The CADeT reference's contrastive term (train_e5_listwise.py): contrastive_loss_weight, temp, threshold_score.
CADET_INFONCE_WEIGHT = 0.1
CADET_INFONCE_TEMPERATURE = 0.01
CADET_FN_MARGIN = 0.6


class KLInfoNCELoss(ListwiseLoss):
    hyper_parameters = ("temperature", "teacher_temperature", "infonce_weight", "infonce_temperature", "fn_margin")

    def __init__(
        self,
        model: Any,
        *,
        similarity: str = CADET_SIMILARITY,
        temperature: float = CADET_TEMPERATURE,
        teacher_temperature: float = CADET_TEACHER_TEMPERATURE,
        infonce_weight: float = CADET_INFONCE_WEIGHT,
        infonce_temperature: float = CADET_INFONCE_TEMPERATURE,
        fn_margin: float | None = CADET_FN_MARGIN,
        mini_batch_size: int | None = None,
        gather_across_devices: bool = True,
    ) -> None:
        """KL distillation + ``infonce_weight`` x InfoNCE (formula in the module docstring).

        Args:
            model: the SentenceTransformer to train (the student).
            similarity: ``cosine`` or ``dot``, for both terms.
            temperature: student ``tau_s`` of the KL term.
            teacher_temperature: teacher ``tau_t`` of the KL term.
            infonce_weight: ``w``, the weight of the InfoNCE term.
            infonce_temperature: ``tau`` of the InfoNCE term.
            fn_margin: mask documents whose teacher score exceeds this fraction of the list's top score, in
                every list of the batch (``None`` or 0: off).
            mini_batch_size: gradient caching chunk size (see :class:`ListwiseLoss`).
            gather_across_devices: under DDP, one loss over the global batch.

        Requirements:
            1. teacher-scored lists (teacher top-1 = InfoNCE positive), scores min-max normalised for ``fn_margin``
            2. document keys (:class:`ListLabels`) so a document shared by several lists is masked everywhere

        Inputs:
            +--------------------------------------------+------------------------------------------+
            | Texts                                      | Labels                                   |
            +============================================+==========================================+
            | (query, passage_1, ..., passage_k)         | k teacher scores per row                 |
            +--------------------------------------------+------------------------------------------+

        Relations:
            - :class:`~synrank.train.losses.KLDistillationLoss` + ``w`` x :class:`~synrank.train.losses.InfoNCELoss`.

        Example:
            ::

                from synrank.train.losses import KLInfoNCELoss
                loss = KLInfoNCELoss(model, infonce_weight=0.1)
                value = loss(features, torch.tensor([[1.0, 0.7, 0.2, 0.0]]))
        """
        super().__init__(model, similarity=similarity, mini_batch_size=mini_batch_size, gather_across_devices=gather_across_devices)
        self.temperature = temperature
        self.teacher_temperature = teacher_temperature
        self.infonce_weight = infonce_weight
        self.infonce_temperature = infonce_temperature
        self.fn_margin = fn_margin

    def compute(self, queries: Tensor, passages: Tensor, targets: Tensor, doc_keys: Tensor | None) -> Tensor:
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
            doc_keys,
            similarity=self.similarity,
            temperature=self.infonce_temperature,
            fn_margin=self.fn_margin,
        )
        self.terms = {"kl": kl.detach(), "infonce": nce.detach()}
        return kl + self.infonce_weight * nce

    @property
    def citation(self) -> str:
        return CADET_CITATION


__all__ = ["KLInfoNCELoss"]
