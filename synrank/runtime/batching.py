"""Token-budget batching with length sorting, and out-of-memory back-off.

Sorting by length and capping ``batch_size x longest_sequence`` keeps padding low and the memory of
every batch roughly constant, so short texts go through in big batches and long ones in small ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def token_budget_batches(lengths: Sequence[int], max_tokens: int, max_batch_size: int | None = None) -> list[list[int]]:
    """Group indices into batches, longest first, so that ``len(batch) * max_len(batch) <= max_tokens``.

    A single text longer than the budget still gets a batch of its own. Returned indices refer to
    ``lengths``; callers restore the original order themselves.
    """
    if max_tokens <= 0:
        raise ValueError("max_tokens must be positive")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        length = max(1, lengths[i])
        new_longest = max(longest, length)
        too_big = (len(current) + 1) * new_longest > max_tokens
        too_many = max_batch_size is not None and len(current) >= max_batch_size
        if current and (too_big or too_many):
            batches.append(current)
            current, new_longest = [], length
        current.append(i)
        longest = new_longest
    if current:
        batches.append(current)
    return batches


def is_oom_error(exc: BaseException) -> bool:
    """True for CUDA/MPS/CPU allocator out-of-memory errors."""
    try:
        import torch

        if isinstance(exc, torch.cuda.OutOfMemoryError):
            return True
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass
    if isinstance(exc, MemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def _empty_cache() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover
        pass


def run_with_oom_backoff(
    fn: Callable[[Sequence[T]], list[R]],
    items: Sequence[T],
    *,
    min_batch_size: int = 1,
    on_backoff: Callable[[int, int], None] | None = None,
) -> list[R]:
    """Run ``fn(items)``; on out-of-memory, split the batch in halves and retry each half.

    ``fn`` must return one result per item. Raises the original error when a batch of
    ``min_batch_size`` items still does not fit. ``on_backoff(old_size, new_size)`` is called per split.
    """
    try:
        return list(fn(items))
    except Exception as exc:  # noqa: BLE001 - filtered just below
        if not is_oom_error(exc) or len(items) <= min_batch_size:
            raise
    _empty_cache()
    half = len(items) // 2
    if on_backoff is not None:
        on_backoff(len(items), half)
    left = run_with_oom_backoff(fn, items[:half], min_batch_size=min_batch_size, on_backoff=on_backoff)
    right = run_with_oom_backoff(fn, items[half:], min_batch_size=min_batch_size, on_backoff=on_backoff)
    return left + right
