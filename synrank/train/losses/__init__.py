"""synrank's training losses, one module each (formula, paper, reference settings and inputs in each).

- ``infonce``: :class:`InfoNCELoss`, one positive, list + in-batch negatives, false negatives masked by document.
- ``wasserstein``: :class:`WassersteinLoss`, per-query exact OT (POT) with a ground cost on relevance levels.
- ``ws2``: :class:`WS2Loss`, the SyCL release's Gaussian 2-Wasserstein distance over the batch.
- ``kl``: :class:`KLDistillationLoss`, KL(teacher || student) over each list.
- ``kl+infonce``: :class:`KLInfoNCELoss`, KL + weight x InfoNCE (listwise distillation paper).

All share :class:`ListwiseLoss` (embedding, gradient caching with ``mini_batch_size``, one loss over the
global batch under DDP). Each default is written once, as a constant of the loss's module (the reference
setting it stands for, e.g. ``CADET_TEMPERATURE``) that the constructor and the functional form both use; the
wasserstein switches ``ot`` and ``in_batch`` sit in the torch-free :mod:`synrank.train.loss_names`, which
TrainConfig reads too. The trainer's "per loss" settings (``None``/``auto``) resolve to the constructor's
defaults through :func:`loss_defaults` and :func:`make_loss`.
"""

from __future__ import annotations

import inspect
from typing import Any

from synrank.train.data import doc_key
from synrank.train.loss_names import LOSSES, OT_METHODS, SIMILARITIES
from synrank.train.losses.base import ListLabels, ListwiseLoss
from synrank.train.losses.infonce import InfoNCELoss, infonce_loss, own_document_mask
from synrank.train.losses.kl import KLDistillationLoss, kl_loss
from synrank.train.losses.kl_infonce import KLInfoNCELoss
from synrank.train.losses.wasserstein import WassersteinLoss, wasserstein_loss
from synrank.train.losses.ws2 import WS2Loss, gaussian_w2, ws2_loss

LOSS_CLASSES: dict[str, type[ListwiseLoss]] = {
    "wasserstein": WassersteinLoss,
    "ws2": WS2Loss,
    "kl": KLDistillationLoss,
    "kl+infonce": KLInfoNCELoss,
    "infonce": InfoNCELoss,
}
assert tuple(LOSS_CLASSES) == LOSSES


def loss_defaults(name: str) -> dict[str, Any]:
    """The keyword defaults of loss ``name``'s constructor (its reference settings)."""
    params = inspect.signature(LOSS_CLASSES[name].__init__).parameters
    return {p.name: p.default for p in params.values() if p.kind is p.KEYWORD_ONLY}


def make_loss(name: str, model: Any, /, **settings: Any) -> ListwiseLoss:
    """Loss ``name`` for ``model``; settings it does not take are ignored, ``None``/``"auto"`` mean its default."""
    accepted = loss_defaults(name)
    kwargs = {k: v for k, v in settings.items() if k in accepted and v is not None and v != "auto"}
    return LOSS_CLASSES[name](model, **kwargs)


__all__ = [
    "LOSSES",
    "LOSS_CLASSES",
    "OT_METHODS",
    "SIMILARITIES",
    "InfoNCELoss",
    "KLDistillationLoss",
    "KLInfoNCELoss",
    "ListLabels",
    "ListwiseLoss",
    "WS2Loss",
    "WassersteinLoss",
    "doc_key",
    "gaussian_w2",
    "infonce_loss",
    "kl_loss",
    "loss_defaults",
    "make_loss",
    "own_document_mask",
    "wasserstein_loss",
    "ws2_loss",
]
