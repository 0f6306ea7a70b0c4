"""List-wise training of dense retrievers on synthetic or real lists.

- :mod:`.config`: :class:`TrainConfig`, every setting with its default, help and validation (no torch).
- :mod:`.data`: training lists from ``generate``/``score`` JSONL, group selection, dev split, document keys.
- :mod:`.real`: lists from a BEIR folder's qrels with negatives from a ``search`` run.
- :mod:`.losses`: infonce, wasserstein, ws2, kl, kl+infonce (one module each; gradient caching and the
  global batch under DDP in the base).
- :mod:`.trainer`: :func:`run` (``train`` is its older name), glue on the sentence-transformers trainer (checkpoints, resume, DDP,
  output folder).
"""

from typing import Any

from synrank.train.config import TrainConfig

__all__ = ["TrainConfig", "TrainResult", "run", "train"]


def __getattr__(name: str) -> Any:
    # The trainer imports torch and sentence-transformers: load it only when it is used.
    if name in ("run", "train", "TrainResult"):
        from synrank.train import trainer

        return getattr(trainer, name)
    raise AttributeError(name)
