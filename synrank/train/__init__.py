"""List-wise training of dense retrievers on synthetic or real lists.

- :mod:`.data`: training lists from ``generate``/``score`` JSONL, group selection, dev split.
- :mod:`.real`: lists from a BEIR folder's qrels with negatives from a ``search`` run.
- :mod:`.losses`: infonce, wasserstein, ws2, kl, kl+infonce (one module each; gradient caching in the base).
- :mod:`.trainer`: glue on the sentence-transformers trainer (checkpoints, resume, DDP, output folder).
"""

from synrank.train.trainer import TrainConfig, TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "train"]
