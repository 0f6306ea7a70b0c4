"""The names the losses answer to: loss names, similarities, OT solvers.

Below both :mod:`synrank.train.losses` (which implements them) and :class:`~synrank.train.config.TrainConfig`
(which offers them as choices), so the losses never import the stage's config. Free of torch: the CLI reads it
at start-up.
"""

LOSSES = ("wasserstein", "ws2", "kl", "kl+infonce", "infonce")
SIMILARITIES = ("cosine", "dot")
OT_METHODS = ("emd", "sinkhorn")

__all__ = ["LOSSES", "OT_METHODS", "SIMILARITIES"]
