"""The learning-rate schedules: synrank's linear (hand-computed values) and the reference shapes (CADeT's
and DeepSpeed's, written out here from their code), and that --lr-schedule sets the optimizer's lr."""

from __future__ import annotations

import json
import math

import pytest
import torch
from helpers import write_synth

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


# --- the reference shapes (--lr-schedule), each against its reference written out here -------------------


def cadet_reference(step: int, warmup_steps: int, total_steps: int) -> float:
    """manveertamber/cadet-dense-retrieval training_scripts/train_e5_listwise.py (b2f0831), lines 469-474,
    ``warmup_then_decay``, as written there (its clip is the literal 0.1)."""
    if step < warmup_steps:
        return float(step) / float(warmup_steps)
    decay_factor = (step - warmup_steps) / (total_steps - warmup_steps)
    return max(0.1, 1.0 - decay_factor)


class DeepSpeedWarmupDecayLR:
    """DeepSpeed's WarmupDecayLR with warmup_type "log", as in deepspeedai/DeepSpeed
    deepspeed/runtime/lr_schedules.py (edaa722): __init__ clamps warmup_num_steps to >= 2 (line 719) and, at
    last_batch_iteration -1, sets the lr to get_lr(), which is min_lr before the first step (lines 729-735);
    _get_gamma (lines 805-814); get_lr = min + (max - min) * gamma (line 737); step() adds one to the
    iteration and sets the lr (lines 745-749). The engine calls step() after each optimizer update
    (runtime/engine.py, _take_model_step, lines 3377-3383)."""

    def __init__(self, total_num_steps: int, warmup_min_lr: float, warmup_max_lr: float, warmup_num_steps: int):
        self.total_num_steps = total_num_steps
        self.min_lr, self.max_lr = warmup_min_lr, warmup_max_lr
        self.warmup_num_steps = max(2, warmup_num_steps)
        self.inverse_log_warm_up = 1.0 / math.log(self.warmup_num_steps)
        self.last_batch_iteration = -1
        self.lr = self.get_lr()

    def _get_gamma(self) -> float:
        if self.last_batch_iteration < self.warmup_num_steps:
            return self.inverse_log_warm_up * math.log(self.last_batch_iteration + 1)
        return max(
            0.0,
            float(self.total_num_steps - self.last_batch_iteration)
            / float(max(1.0, self.total_num_steps - self.warmup_num_steps)),
        )

    def get_lr(self) -> float:
        if self.last_batch_iteration < 0:
            return self.min_lr
        return self.min_lr + (self.max_lr - self.min_lr) * self._get_gamma()

    def step(self) -> None:
        self.last_batch_iteration += 1
        self.lr = self.get_lr()


def deepspeed_lrs(total: int, warmup: int, peak: float, floor: float = 0.0) -> list[float]:
    """The lr of each of ``total`` optimizer updates, by DeepSpeed (installed) or its code written out above."""
    try:
        from deepspeed.runtime.lr_schedules import WarmupDecayLR
    except ImportError:
        ref = DeepSpeedWarmupDecayLR(total, floor * peak, peak, warmup)
        lrs = []
        for _ in range(total):
            lrs.append(ref.lr)  # the update runs at the current lr, then the engine steps the scheduler
            ref.step()
        return lrs
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=peak)
    sched = WarmupDecayLR(opt, total, warmup_min_lr=floor * peak, warmup_max_lr=peak, warmup_num_steps=warmup)
    lrs = []
    for _ in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def lambdalr_lrs(fn, total: int, peak: float) -> list[float]:
    """The lr torch's LambdaLR gives each of ``total`` updates, stepped as the trainer steps it."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=peak)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, fn)
    lrs = []
    for _ in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_cadet_schedule_matches_the_reference():
    from synrank.train.schedule import CadetWarmupClip

    for warmup, total in [(10, 110), (10, 40), (3, 7), (1, 5)]:
        f = CadetWarmupClip(warmup=warmup, total=total, floor=0.1)
        assert [f(s) for s in range(total + 3)] == pytest.approx([cadet_reference(s, warmup, total) for s in range(total + 3)])
    f = CadetWarmupClip(warmup=10, total=110, floor=0.1)
    # by hand: 0 at the first update, 1 at the warm-up boundary, half-way down at 50 % of the decay,
    # the floor from 90 % of the decay on (not at its end, as linear --lr-floor 0.1 does)
    assert (f(0), f(5), f(9), f(10), f(60)) == pytest.approx((0.0, 0.5, 0.9, 1.0, 0.5))
    assert (f(99), f(100), f(109), f(110)) == pytest.approx((0.11, 0.1, 0.1, 0.1))
    assert CadetWarmupClip(warmup=0, total=4, floor=0.0)(4) == 0.0  # --lr-floor 0: the unclipped decay
    assert lambdalr_lrs(f, 110, 2e-4) == pytest.approx([2e-4 * cadet_reference(s, 10, 110) for s in range(110)])


@pytest.mark.parametrize("warmup,total,floor", [(5, 20, 0.0), (10, 100, 0.0), (1, 6, 0.0), (0, 4, 0.0), (4, 12, 0.2)])
def test_warmup_decay_log_matches_deepspeed_update_by_update(warmup, total, floor):
    from synrank.train.schedule import WarmupDecayLog

    peak = 1e-5
    got = lambdalr_lrs(WarmupDecayLog(warmup=warmup, total=total, floor=floor), total, peak)
    assert got == pytest.approx(deepspeed_lrs(total, warmup, peak, floor), rel=1e-12, abs=1e-18)


def test_warmup_decay_log_by_hand():
    from synrank.train.schedule import WarmupDecayLog

    f = WarmupDecayLog(warmup=5, total=20)
    # update k runs at DeepSpeed's gamma(k - 1): 0 before the first scheduler step, and log(1) = 0 after it
    assert (f(0), f(1), f(2), f(3)) == pytest.approx((0.0, 0.0, math.log(2) / math.log(5), math.log(3) / math.log(5)))
    assert f(5) == pytest.approx(1.0) and f(6) == pytest.approx(1.0)  # end of warm-up (gamma(4) = log 5 / log 5), then (20-5)/15
    assert (f(7), f(19), f(20), f(21), f(30)) == pytest.approx((14 / 15, 2 / 15, 1 / 15, 0.0, 0.0))
    assert WarmupDecayLog(warmup=0, total=4)(2) == pytest.approx(1.0)  # warm-up clamped to 2 steps: gamma(1) = log 2 / log 2
    g = WarmupDecayLog(warmup=5, total=20, floor=0.1)  # floor = warmup_min_lr / warmup_max_lr: start and end
    assert (g(0), g(5), g(21)) == pytest.approx((0.1, 1.0, 0.1))


def test_schedules_are_picklable_and_resume_through_lambdalr():
    import pickle

    from synrank.train.config import LR_SCHEDULES
    from synrank.train.schedule import SCHEDULES, make_schedule

    assert tuple(SCHEDULES) == LR_SCHEDULES
    for name in LR_SCHEDULES:
        fn = make_schedule(name, 3, 12, 0.1)
        assert pickle.loads(pickle.dumps(fn)) == fn
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, fn)
        for _ in range(5):
            opt.step()
            sched.step()
        saved = sched.state_dict()
        opt2 = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        sched2 = torch.optim.lr_scheduler.LambdaLR(opt2, make_schedule(name, 3, 12, 0.1))
        sched2.load_state_dict(saved)
        for _ in range(3):  # the resumed scheduler carries on where the first one was
            opt.step(), sched.step(), opt2.step(), sched2.step()
            assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
        assert sched2.get_last_lr() == pytest.approx([fn(8)])


@pytest.mark.parametrize("schedule", ["linear", "cadet", "warmup-decay-log"])
def test_lr_schedule_drives_the_optimizer(tmp_path, cli, tiny_bi_encoder, schedule):
    """A 4-step run: the lr of each update, as training_log.jsonl records it, follows the chosen shape."""
    src = write_synth(tmp_path / "s.jsonl", n=16)
    out = tmp_path / "o"
    r = cli(
        "train", src, "--model", tiny_bi_encoder, "--loss", "infonce", "--out", out, "--batch-size", "4", "--max-steps",
        "4", "--warmup", "1", "--lr", "1e-3", "--lr-floor", "0.1", "--lr-schedule", schedule, "--dtype", "fp32",
        "--threads", "1", "--logging-steps", "1",
    )
    assert r.code == 0, r.stderr
    log = [json.loads(x) for x in (out / "training_log.jsonl").read_text().splitlines()]
    lrs = [rec["lr"] for rec in log if "loss" in rec]
    expected = {
        # (step + 1) / (warmup + 1), then linear from 1 to 0.1 over the 3 remaining steps
        "linear": [1 / 2, 1.0, 1 - 0.9 / 3, 1 - 0.9 * 2 / 3],
        "cadet": [cadet_reference(s, 1, 4) for s in range(4)],
        "warmup-decay-log": [lr / 1e-3 for lr in deepspeed_lrs(4, 1, 1e-3, 0.1)],
    }[schedule]
    assert lrs == pytest.approx([1e-3 * e for e in expected])
    assert json.loads((out / "manifest.json").read_text())["config"]["lr_schedule"] == schedule


@pytest.mark.parametrize(("warmup_epochs", "min_steps", "warm"), [(0.5, 0, 2), (0.5, 3, 3), (0.25, 0, 1)])
def test_warmup_in_epochs_with_a_minimum_counts_an_epochs_optimizer_steps(tmp_path, cli, tiny_bi_encoder, warmup_epochs, min_steps, warm):
    """CADeT's warm-up, max(10, half an epoch's steps) (train_e5_listwise.py:464-465): 16 queries at batch 4 = 4 steps
    an epoch, 2 epochs; the warm-up is int(epochs x 4) steps, at least --warmup-min-steps."""
    src = write_synth(tmp_path / "s.jsonl", n=16)
    out = tmp_path / "o"
    r = cli(
        "train", src, "--model", tiny_bi_encoder, "--loss", "infonce", "--out", out, "--batch-size", "4", "--epochs", "2",
        "--warmup-epochs", str(warmup_epochs), "--warmup-min-steps", str(min_steps), "--lr", "1e-3", "--lr-floor", "0.1",
        "--lr-schedule", "cadet", "--dtype", "fp32", "--threads", "1", "--logging-steps", "1",
    )
    assert r.code == 0, r.stderr
    log = [json.loads(x) for x in (out / "training_log.jsonl").read_text().splitlines()]
    lrs = [rec["lr"] for rec in log if "loss" in rec]
    assert lrs == pytest.approx([1e-3 * cadet_reference(s, warm, 8) for s in range(8)])


def test_dropout_setting_reaches_every_dropout_layer_and_the_saved_config(tiny_bi_encoder, tmp_path):
    from synrank.train.config import TrainConfig
    from synrank.train.trainer import _load_model

    model = _load_model(TrainConfig(out=tmp_path / "m", inputs=["x"], model=str(tiny_bi_encoder), dropout=0.0), "cpu")
    layers = [m for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    assert layers and all(m.p == 0.0 for m in layers)
    model.train()  # dropout would make two passes differ; at 0.0 they are equal
    feats = model.tokenize(["a query about cells", "another passage"])
    first = model(dict(feats))["sentence_embedding"]
    second = model(dict(feats))["sentence_embedding"]
    assert torch.equal(first, second)
    model.save(str(tmp_path / "saved"))
    config = json.loads(next((tmp_path / "saved").rglob("config.json")).read_text())
    assert config["hidden_dropout_prob"] == 0.0 and config["attention_probs_dropout_prob"] == 0.0
    default = _load_model(TrainConfig(out=tmp_path / "m", inputs=["x"], model=str(tiny_bi_encoder)), "cpu")
    assert any(m.p > 0 for m in default.modules() if isinstance(m, torch.nn.Dropout))  # untouched without the setting
