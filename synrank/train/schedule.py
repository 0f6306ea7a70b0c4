"""Learning-rate schedule: linear warmup, then linear decay to a floor (a fraction of the peak rate)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WarmupLinearFloor:
    """``lr(step) / peak``: ``step / warmup`` during warmup, then linear from 1 down to ``floor`` at ``total``.

    A callable object rather than a closure so the scheduler's state can be checkpointed and resumed.
    """

    warmup: int
    total: int
    floor: float = 0.0

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / (self.warmup + 1)
        span = max(1, self.total - self.warmup)
        progress = min(1.0, (step - self.warmup) / span)
        return max(self.floor, 1.0 - (1.0 - self.floor) * progress)
