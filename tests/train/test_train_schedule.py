"""The learning-rate schedule: linear warmup, then linear decay to --lr-floor (hand-computed values)."""

from __future__ import annotations

import pytest

from synrank.train.schedule import WarmupLinearFloor


def test_warmup_then_linear_decay_to_the_floor():
    f = WarmupLinearFloor(warmup=4, total=14, floor=0.1)
    assert [f(s) for s in range(4)] == pytest.approx([0.2, 0.4, 0.6, 0.8])  # (step + 1) / (warmup + 1)
    assert f(4) == pytest.approx(1.0)
    assert f(9) == pytest.approx(1 - 0.9 * 5 / 10)  # half-way down from 1 to 0.1
    assert f(14) == pytest.approx(0.1) and f(100) == pytest.approx(0.1)
    # CADeT's schedule (train_e5_listwise.py, create_scheduler) is max(0.1, 1 - progress): it reaches the
    # floor at 90 % of the decay instead of at its end; the two agree at the start and at the end.
    cadet = lambda s: max(0.1, 1 - (s - 4) / 10)  # noqa: E731
    assert f(4) == cadet(4) and f(14) == pytest.approx(cadet(14))
    assert f(9) != pytest.approx(cadet(9))
    assert WarmupLinearFloor(0, 10)(10) == 0.0  # no floor: down to 0, as transformers' linear schedule
