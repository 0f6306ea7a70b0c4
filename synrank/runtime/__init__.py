"""The shared device and batching layer used by index, generate, score and train.

- :mod:`.device`: device (cuda, mps, cpu) and dtype (auto/fp32/bf16/fp16) choice.
- :mod:`.batching`: token-budget batches with length sorting; out-of-memory back-off.
- :mod:`.seeding`: seeds and thread counts.
- :mod:`.distributed`: torchrun/DDP rank and world size.
- :mod:`.config`: :class:`~synrank.runtime.config.RuntimeConfig`, the runtime settings every stage config shares.
- :mod:`.progress`: progress bars, and what a stage's ``progress=`` argument means (:func:`~.progress.reporter`).
"""

from synrank.runtime.batching import is_oom_error, run_with_oom_backoff, token_budget_batches
from synrank.runtime.device import resolve_device, resolve_dtype, cpu_has_bf16
from synrank.runtime.distributed import DistInfo, dist_info
from synrank.runtime.seeding import set_seed, set_threads

__all__ = [
    "DistInfo",
    "cpu_has_bf16",
    "dist_info",
    "is_oom_error",
    "resolve_device",
    "resolve_dtype",
    "run_with_oom_backoff",
    "set_seed",
    "set_threads",
    "token_budget_batches",
]
