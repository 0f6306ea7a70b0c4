"""synrank: adapt dense retrievers with synthetic data and list-wise training.

Every stage is one call, ``synrank.<stage>.run(config, *, progress=None) -> <Stage>Result``::

    import synrank

    result = synrank.index.run(synrank.index.IndexConfig(corpus="corpus.jsonl", out="idx", model="minilm"))

The rule for names: a stage's package holds its ``run``, its config and its result
(``synrank.index.IndexConfig``, ``synrank.train.TrainConfig``, ...; the table in docs/architecture.md lists
them), and the runtime settings they share are ``synrank.runtime.config.RuntimeConfig``. The stage packages
are imported on first use, so ``import synrank`` (and ``synrank --help``) loads neither torch nor numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# The parts a user reaches from ``synrank.``: the stages, then the layers they share.
_SUBMODULES = ("generate", "search", "score", "train", "index", "evaluate", "compare", "formats", "runtime", "config", "errors", "models")

__all__ = ["__version__", *_SUBMODULES]

if TYPE_CHECKING:
    from synrank import compare, config, errors, evaluate, formats, generate, index, models, runtime, score, search, train


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        # import_module also binds the submodule as an attribute of this package, so this runs once per name.
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
