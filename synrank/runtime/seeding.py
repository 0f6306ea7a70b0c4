"""Seeds and CPU thread counts, set in one place so every command is reproducible by default."""

from __future__ import annotations

import os
import random


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))


def threads_for(n: int | None, *, processes: int = 1) -> int:
    """The thread count ``n`` asks for: itself when positive, else this process's share of the cores it may
    use, when ``processes`` processes of one job (torchrun's, on this machine) share them."""
    if n is not None and n > 0:
        return n
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, processes))


def set_threads(n: int | None, *, processes: int = 1) -> int:
    """Set torch's intra-op threads to :func:`threads_for` ``(n, processes=processes)``. Returns the count."""
    import torch

    n = threads_for(n, processes=processes)
    torch.set_num_threads(n)
    return n
