"""Learning-rate schedules: ``lr(step) / peak`` as picklable callables for ``torch.optim.lr_scheduler.LambdaLR``.

``step`` is the index of the optimizer update (0 for the first), counted in optimizer steps, so with
gradient accumulation one step is one update after N micro-batches. ``LambdaLR`` applies ``fn(0)`` to the
first update, ``fn(1)`` to the second, and so on. The schedules are objects rather than closures so that
the scheduler's state can be checkpointed and resumed.

- ``linear`` (:class:`WarmupLinearFloor`): synrank's own; warm-up from ``1 / (warmup + 1)``, then linear
  decay to ``floor``.
- ``cadet`` (:class:`CadetWarmupClip`): the CADeT / listwise-distillation release.
- ``warmup-decay-log`` (:class:`WarmupDecayLog`): DeepSpeed's ``WarmupDecayLR`` with its default log
  warm-up, as the SyCL release trains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class WarmupLinearFloor:
    """``lr(step) / peak``: ``(step + 1) / (warmup + 1)`` during warmup, then linear from 1 down to ``floor`` at ``total``."""

    warmup: int
    total: int
    floor: float = 0.0

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / (self.warmup + 1)
        span = max(1, self.total - self.warmup)
        progress = min(1.0, (step - self.warmup) / span)
        return max(self.floor, 1.0 - (1.0 - self.floor) * progress)


@dataclass(frozen=True)
class CadetWarmupClip:
    """CADeT's schedule: ``step / warmup`` during warm-up (the first update at lr 0), then
    ``max(floor, 1 - (step - warmup) / (total - warmup))``.

    The decay aims at 0 at ``total`` and is clipped at ``floor`` (0.1 in the reference), which it reaches at
    ``1 - floor`` of the way (90 %). Reference: manveertamber/cadet-dense-retrieval
    ``training_scripts/train_e5_listwise.py`` (commit b2f0831), ``create_scheduler``, lines 463-477: a
    ``LambdaLR`` stepped once per optimizer update (lines 336-337), ``warmup_steps = max(10, steps_per_epoch // 2)``
    and ``total_steps = 30 epochs x steps_per_epoch`` (set ``--warmup`` and ``--epochs`` to match).
    """

    warmup: int
    total: int
    floor: float = 0.1

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return step / self.warmup
        # The reference divides by total - warmup unguarded; a run no longer than its warm-up has no decay.
        return max(self.floor, 1.0 - (step - self.warmup) / max(1, self.total - self.warmup))


@dataclass(frozen=True)
class WarmupDecayLog:
    """DeepSpeed's ``WarmupDecayLR`` (``warmup_type="log"``), update by update as DeepSpeed applies it.

    DeepSpeed (deepspeedai/DeepSpeed ``deepspeed/runtime/lr_schedules.py``, commit edaa722): with
    ``W = max(2, warmup_num_steps)`` (line 719) and iteration ``i``,
    ``gamma(i) = log(i + 1) / log(W)`` for ``i < W`` (lines 806-808), else
    ``max(0, (total - i) / max(1, total - W))`` (lines 811-814), and ``lr = min + (max - min) * gamma``
    (line 737). The scheduler is built at iteration -1, which sets ``warmup_min_lr`` (lines 729-730, 733-735),
    and the engine steps it after each optimizer update (``engine.py`` ``_take_model_step``, lines 3377-3383;
    under the Hugging Face trainer accelerate's scheduler wrapper does not step it again). So update ``step``
    runs at ``gamma(step - 1)``: the first two updates at the minimum lr (``gamma(0) = 0``).

    The SyCL release (BatsResearch/sycl ``deepspeed_conf.json``, commit ce15a94) leaves every value at
    ``"auto"``, which transformers' ``integrations/deepspeed.py`` (5.25: lines 174-175, 247-257) fills with
    ``warmup_min_lr = 0``, ``warmup_max_lr = learning_rate``, ``warmup_num_steps = get_warmup_steps(total)``
    (``--warmup_ratio 0.05`` in its README) and ``total_num_steps`` = the optimizer steps of the run.
    ``floor`` is ``warmup_min_lr / warmup_max_lr``: the warm-up starts from it and the decay ends at it.
    """

    warmup: int
    total: int
    floor: float = 0.0

    def __call__(self, step: int) -> float:
        i = step - 1  # DeepSpeed's last_batch_iteration when update `step` runs
        warmup = max(2, self.warmup)
        if i < 0:
            gamma = 0.0
        elif i < warmup:
            gamma = math.log(i + 1) / math.log(warmup)
        else:
            gamma = max(0.0, (self.total - i) / max(1.0, self.total - warmup))
        return self.floor + (1.0 - self.floor) * gamma


SCHEDULES = {"linear": WarmupLinearFloor, "cadet": CadetWarmupClip, "warmup-decay-log": WarmupDecayLog}


def make_schedule(name: str, warmup: int, total: int, floor: float) -> WarmupLinearFloor | CadetWarmupClip | WarmupDecayLog:
    """The schedule ``name`` (a :data:`synrank.train.config.LR_SCHEDULES` value) over ``total`` optimizer steps."""
    return SCHEDULES[name](warmup=warmup, total=total, floor=floor)
