"""InfoNCE with one positive per query, the query's own list and all in-batch passages as negatives.

Formula (one query ``q`` with positive ``p+``, candidate set ``C`` = every passage of the global batch):

    L(q) = -log( exp(s(q, p+) / tau) / sum_{p in C, not masked} exp(s(q, p) / tau) )

averaged over the queries of the global batch. ``s`` is the ``similarity`` setting (cosine or dot). The
positive is the passage with the highest target of the query's list (highest relevance level, or the
teacher's top-1).

**Masking, by document.** A query's *own documents* are its positive, the passages of its list that are
positives too (those with a target >= ``positive_min_level`` when set, else those tied with the top
target), and, with ``fn_margin``, likely false negatives whose teacher score exceeds ``fn_margin x`` the
list's top score (the CADeT recipe, ``fn_margin=0.6``, for min-max normalised teacher scores). Every
in-batch passage whose document is one of the query's own documents is removed from the denominator,
wherever it sits: in the query's list, or in *another* query's list (two queries generated from one
source passage share that passage). Only the positive's own column stays. This is the reference's rule
(cadet-dense-retrieval ``train_e5_listwise.py``, ``contrastive_loss``: ``no_contrast_ids`` and the
``pos_/hn_not_contrast_mask``). Documents are recognised by the keys of :class:`ListLabels`; without keys
every passage is its own document. Under DDP the loss is that of the global batch (see
:mod:`synrank.train.losses.base`).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from synrank.train.losses.base import ListwiseLoss, own_columns, pairwise_scores

INFONCE_CITATION = """
@article{oord2018representation,
    title={Representation Learning with Contrastive Predictive Coding},
    author={van den Oord, Aaron and Li, Yazhe and Vinyals, Oriol},
    journal={arXiv preprint arXiv:1807.03748},
    year={2018}
}
"""

# Cosine similarity at the temperature of common InfoNCE recipes (e.g. E5); no reference paper's setting.
SIMILARITY = "cosine"
TEMPERATURE = 0.05


def own_document_mask(
    targets: Tensor, doc_keys: Tensor | None, *, positive_min_level: float | None = None, fn_margin: float | None = None
) -> tuple[Tensor, Tensor]:
    """``(mask [B, B*k], positive column [B])`` for the flattened in-batch passages of ``B`` lists of ``k``.

    ``mask[i, c]`` is True when passage ``c`` is one of query ``i``'s own documents (see the module
    docstring) and ``c`` is not query ``i``'s positive: it must not count as a negative.
    """
    b, k = targets.shape
    device = targets.device
    top, pos_idx = targets.max(dim=1)
    pos_cols = own_columns(b, k, device).gather(1, pos_idx[:, None]).squeeze(1)
    threshold = top if positive_min_level is None else torch.full_like(top, float(positive_min_level))
    own = targets >= threshold[:, None]  # other positives of the same list are not negatives
    if fn_margin is not None and fn_margin > 0:
        own |= targets > fn_margin * top[:, None]
    own.scatter_(1, pos_idx[:, None], True)
    keys = torch.arange(b * k, device=device) if doc_keys is None else doc_keys.reshape(-1)
    _, doc = torch.unique(keys, return_inverse=True)  # dense document index of every passage [B*k]
    n_docs = int(doc.max()) + 1
    table = torch.zeros(b, n_docs, device=device)
    table.scatter_add_(1, doc.view(b, k), own.to(table.dtype))  # table[i, d]: d is an own document of i
    mask = table.gather(1, doc[None, :].expand(b, -1)) > 0
    mask.scatter_(1, pos_cols[:, None], False)  # never mask the positive itself
    return mask, pos_cols


def infonce_loss(
    queries: Tensor,
    passages: Tensor,
    targets: Tensor,
    doc_keys: Tensor | None = None,
    *,
    similarity: str = SIMILARITY,
    temperature: float = TEMPERATURE,
    positive_min_level: float | None = None,
    fn_margin: float | None = None,
) -> Tensor:
    """InfoNCE over ``[B, d]`` queries and ``[B, k, d]`` lists with ``[B, k]`` targets (mean over queries)."""
    b, k, d = passages.shape
    logits = pairwise_scores(queries, passages.reshape(b * k, d), similarity) / temperature
    mask, pos_cols = own_document_mask(targets, doc_keys, positive_min_level=positive_min_level, fn_margin=fn_margin)
    logits = logits.masked_fill(mask, float("-inf"))
    return F.cross_entropy(logits, pos_cols)


class InfoNCELoss(ListwiseLoss):
    hyper_parameters = ("temperature", "positive_min_level", "fn_margin")

    def __init__(
        self,
        model: Any,
        *,
        similarity: str = SIMILARITY,
        temperature: float = TEMPERATURE,
        positive_min_level: float | None = None,
        fn_margin: float | None = None,
        mini_batch_size: int | None = None,
        gather_across_devices: bool = True,
    ) -> None:
        """One-positive contrastive loss: each query's top passage against its list and every in-batch
        passage, with false negatives masked by document (formula in the module docstring).

        Args:
            model: the SentenceTransformer to train.
            similarity: ``cosine`` or ``dot``.
            temperature: ``tau``, dividing the similarities.
            positive_min_level: passages at or above this target are positives (binary baseline on graded
                levels; the top one is the positive, the others are masked); ``None``: ties with the top.
            fn_margin: also mask passages whose target exceeds this fraction of the list's top target
                (CADeT uses 0.6 on min-max normalised teacher scores); ``None`` or 0: off.
            mini_batch_size: gradient caching chunk size (see :class:`ListwiseLoss`).
            gather_across_devices: under DDP, one loss over the global batch.

        Requirements:
            1. lists whose highest target is the positive (levels or teacher scores)
            2. batches of more than one query make the other lists' passages in-batch negatives

        Inputs:
            +--------------------------------------------+------------------------------------------+
            | Texts                                      | Labels                                   |
            +============================================+==========================================+
            | (query, passage_1, ..., passage_k)         | k targets per row (or :class:`ListLabels`|
            |                                            | with document keys for masking)          |
            +--------------------------------------------+------------------------------------------+

        Relations:
            - sentence-transformers' ``MultipleNegativesRankingLoss`` with graded lists and masking by document.
            - the contrastive term of :class:`~synrank.train.losses.KLInfoNCELoss`.

        Example:
            ::

                from synrank.train.losses import InfoNCELoss
                loss = InfoNCELoss(model, temperature=0.05, positive_min_level=2)
                value = loss(features, torch.tensor([[3.0, 1.0, 0.0, 2.0]]))
        """
        super().__init__(model, similarity=similarity, mini_batch_size=mini_batch_size, gather_across_devices=gather_across_devices)
        self.temperature = temperature
        self.positive_min_level = positive_min_level
        self.fn_margin = fn_margin

    def compute(self, queries: Tensor, passages: Tensor, targets: Tensor, doc_keys: Tensor | None) -> Tensor:
        return infonce_loss(queries, passages, targets, doc_keys, **self.hyper())

    @property
    def citation(self) -> str:
        return INFONCE_CITATION


__all__ = ["InfoNCELoss", "infonce_loss", "own_document_mask"]
