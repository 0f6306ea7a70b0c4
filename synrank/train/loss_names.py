"""The names the losses answer to (loss names, similarities, OT solvers) and the wasserstein loss's switches.

Below both :mod:`synrank.train.losses` (which implements them) and :class:`~synrank.train.config.TrainConfig`
(which offers them as choices), so the losses never import the stage's config. Free of torch: the CLI reads it
at start-up. The switches' defaults live here rather than in :mod:`synrank.train.losses.wasserstein` (a torch
module) so that the loss and TrainConfig read one value.
"""

LOSSES = ("wasserstein", "ws2", "kl", "kl+infonce", "infonce")
SIMILARITIES = ("cosine", "dot")
OT_METHODS = ("emd", "sinkhorn")
# wasserstein: exact OT, over the query's list plus the batch's other passages (SyCL's training, train.py:98-99).
WASSERSTEIN_OT = OT_METHODS[0]
WASSERSTEIN_IN_BATCH = True

__all__ = ["LOSSES", "OT_METHODS", "SIMILARITIES", "WASSERSTEIN_IN_BATCH", "WASSERSTEIN_OT"]
