"""synrank's training losses, one module each (formula, paper and expected input in each docstring).

- ``infonce``: :class:`InfoNCELoss`, one positive, list + in-batch negatives, optional false-negative masking.
- ``wasserstein``: :class:`WassersteinLoss`, per-query exact OT (POT) with a ground cost on relevance levels.
- ``ws2``: :class:`WS2Loss`, the SyCL release's Gaussian 2-Wasserstein distance over the batch.
- ``kl``: :class:`KLDistillationLoss`, KL(teacher || student) over each list.
- ``kl+infonce``: :class:`KLInfoNCELoss`, KL + weight x InfoNCE (listwise distillation paper).

All share :class:`ListwiseLoss` (embedding, gradient caching with ``mini_batch_size``, DDP gathering).
"""

from synrank.train.losses.base import ListwiseLoss
from synrank.train.losses.infonce import InfoNCELoss, infonce_loss
from synrank.train.losses.kl import KLDistillationLoss, kl_loss
from synrank.train.losses.kl_infonce import KLInfoNCELoss
from synrank.train.losses.wasserstein import WassersteinLoss, wasserstein_loss
from synrank.train.losses.ws2 import WS2Loss, gaussian_w2, ws2_loss

LOSSES = ("wasserstein", "ws2", "kl", "kl+infonce", "infonce")

__all__ = [
    "LOSSES",
    "InfoNCELoss",
    "KLDistillationLoss",
    "KLInfoNCELoss",
    "ListwiseLoss",
    "WS2Loss",
    "WassersteinLoss",
    "gaussian_w2",
    "infonce_loss",
    "kl_loss",
    "wasserstein_loss",
    "ws2_loss",
]
