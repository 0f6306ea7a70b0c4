"""List-wise distillation: KL(teacher || student) over each query's list.

Formula (one query, list of ``k`` passages, teacher scores ``t_j``, student similarities ``s_j``):

    P_t = softmax(t / tau_t),   P_s = softmax(s / tau_s)
    L(q) = sum_j P_t(j) * (log P_t(j) - log P_s(j))

averaged over the queries of the (global) batch. Defaults follow Tamber et al. 2025 ("Conventional
Contrastive Learning Often Falls Short", listwise distillation; reference code cadet-dense-retrieval
``train_e5_listwise.py``, ``rank_loss``): student ``tau_s = 0.05`` on cosine similarity (e5's normalised
embeddings), teacher ``tau_t = 0.3`` on min-max normalised cross-encoder scores. Graded levels can stand
in for teacher scores. Only the query's own list enters: other queries' passages have no teacher score
for this query.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor

from synrank.train.losses.base import ListwiseLoss, list_scores

CADET_CITATION = """
@article{tamber2025conventional,
    title={Conventional Contrastive Learning Often Falls Short: Improving Dense Retrieval with Cross-Encoder
           Listwise Distillation and Synthetic Data},
    author={Tamber, Manveer Singh and Kazi, Suleman and Sourabh, Vivek and Lin, Jimmy},
    year={2025},
    note={code: https://github.com/manveertamber/cadet-dense-retrieval}
}
"""

# The CADeT reference's settings (train_e5_listwise.py): the student on cosine similarity of e5's normalised
# embeddings at rank_temp, the teacher's min-max normalised scores at kl_temp.
CADET_SIMILARITY = "cosine"
CADET_TEMPERATURE = 0.05
CADET_TEACHER_TEMPERATURE = 0.3


def kl_loss(
    queries: Tensor,
    passages: Tensor,
    targets: Tensor,
    *,
    similarity: str = CADET_SIMILARITY,
    temperature: float = CADET_TEMPERATURE,
    teacher_temperature: float = CADET_TEACHER_TEMPERATURE,
) -> Tensor:
    student_log = F.log_softmax(list_scores(queries, passages, similarity) / temperature, dim=1)
    teacher_log = F.log_softmax(targets / teacher_temperature, dim=1)
    per_query = (teacher_log.exp() * (teacher_log - student_log)).sum(dim=1)
    return per_query.mean()


class KLDistillationLoss(ListwiseLoss):
    hyper_parameters = ("temperature", "teacher_temperature")

    def __init__(
        self,
        model: Any,
        *,
        similarity: str = CADET_SIMILARITY,
        temperature: float = CADET_TEMPERATURE,
        teacher_temperature: float = CADET_TEACHER_TEMPERATURE,
        mini_batch_size: int | None = None,
        gather_across_devices: bool = True,
    ) -> None:
        """KL(teacher || student) over each query's list (formula in the module docstring).

        Args:
            model: the SentenceTransformer to train (the student).
            similarity: ``cosine`` or ``dot``.
            temperature: student ``tau_s``.
            teacher_temperature: teacher ``tau_t``, dividing the targets.
            mini_batch_size: gradient caching chunk size (see :class:`ListwiseLoss`).
            gather_across_devices: under DDP, one loss over the global batch.

        Requirements:
            1. teacher scores (or graded levels) for every passage of each list

        Inputs:
            +--------------------------------------------+------------------------------------------+
            | Texts                                      | Labels                                   |
            +============================================+==========================================+
            | (query, passage_1, ..., passage_k)         | k teacher scores per row                 |
            +--------------------------------------------+------------------------------------------+

        Relations:
            - sentence-transformers' ``DistillKLDivLoss`` with separate temperatures, per list.
            - the distillation term of :class:`~synrank.train.losses.KLInfoNCELoss`.

        Example:
            ::

                from synrank.train.losses import KLDistillationLoss
                loss = KLDistillationLoss(model, temperature=0.05, teacher_temperature=0.3)
                value = loss(features, torch.tensor([[1.0, 0.7, 0.2, 0.0]]))
        """
        super().__init__(model, similarity=similarity, mini_batch_size=mini_batch_size, gather_across_devices=gather_across_devices)
        self.temperature = temperature
        self.teacher_temperature = teacher_temperature

    def compute(self, queries: Tensor, passages: Tensor, targets: Tensor, doc_keys: Tensor | None) -> Tensor:
        kl = kl_loss(queries, passages, targets, **self.hyper())
        self.terms = {"kl": kl.detach()}
        return kl

    @property
    def citation(self) -> str:
        return CADET_CITATION


__all__ = [
    "CADET_CITATION",
    "CADET_SIMILARITY",
    "CADET_TEACHER_TEMPERATURE",
    "CADET_TEMPERATURE",
    "KLDistillationLoss", "kl_loss"]
