"""Gradient accumulation (--grad-accumulation): the optimizer step's gradient is the MEAN of the micro-batches'
gradients, each micro-batch with its own loss; steps, warm-up, checkpoints, logs and resume count optimizer steps.

References are computed in the test: the losses written out in torch on the micro-batches the trainer
embedded, differentiated with autograd on a fresh copy of the starting model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from transformers import TrainerCallback

from helpers import weights, write_scored, write_synth
from synrank.errors import ConfigError
from synrank.train import TrainConfig, train
from synrank.train.losses.base import ListLabels, ListwiseLoss


@pytest.fixture(scope="module")
def no_dropout_encoder(tmp_path_factory, tiny_bi_encoder) -> Path:
    """The tiny bi-encoder without dropout: the trainer puts the model in train mode, and the reference
    gradients must come from the same network."""
    out = tmp_path_factory.mktemp("no-dropout") / "st"
    shutil.copytree(tiny_bi_encoder, out)
    config = out / "config.json"
    values = json.loads(config.read_text())
    assert values["model_type"] == "bert"
    values.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    config.write_text(json.dumps(values))
    return out


class CaptureGradients(TrainerCallback):
    """The gradients the optimizer is about to apply, at each optimizer step."""

    def __init__(self) -> None:
        self.steps: list[dict[str, torch.Tensor]] = []

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        self.steps.append({n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None})


@pytest.fixture
def micro_batches(monkeypatch):
    """Every (features, targets) pair the trainer hands the loss, copied before the model touches them."""
    seen: list[tuple[list[dict[str, torch.Tensor]], torch.Tensor]] = []
    real = ListwiseLoss.forward

    def spy(self, sentence_features, labels):
        sentence_features = list(sentence_features)
        copies = [{k: v.clone() for k, v in f.items() if isinstance(v, torch.Tensor)} for f in sentence_features]
        targets = labels.targets if isinstance(labels, ListLabels) else labels
        seen.append((copies, targets.detach().clone().float()))
        return real(self, sentence_features, labels)

    monkeypatch.setattr(ListwiseLoss, "forward", spy)
    return seen


def _cfg(tmp_path: Path, src: Path, model: Path, **kw) -> TrainConfig:
    base = dict(
        out=tmp_path / "out", inputs=[str(src)], model=str(model), batch_size=2, max_steps=1, lr=1e-3, warmup=0,
        # no clipping: the comparison is of raw gradients (a clipped gradient hides a factor of 2)
        max_grad_norm=1e9, dtype="fp32", seed=3, logging_steps=1, group_size=4,
    )
    base.update(kw)
    return TrainConfig(**base)


def _embed(model, features: list[dict[str, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Query embeddings [B, d] and passage embeddings [B, k, d] of one micro-batch, with a graph."""
    embs = [model({k: v.clone() for k, v in f.items()})["sentence_embedding"] for f in features]
    return embs[0], torch.stack(embs[1:], dim=1)


def _kl_written_out(q: torch.Tensor, p: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-query KL(teacher || student) (CADeT's rank loss): student softmax(cos / 0.05), teacher softmax(t / 0.3)."""
    cos = torch.einsum("bd,bkd->bk", F.normalize(q, dim=-1), F.normalize(p, dim=-1))
    p_s = torch.softmax(cos / 0.05, dim=1)
    p_t = torch.softmax(targets / 0.3, dim=1)
    return (p_t * (p_t.log() - p_s.log())).sum(dim=1)


def _infonce_written_out(q: torch.Tensor, p: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over the micro-batch's queries of -log softmax over all its B*k passages (cos / 0.05) at the
    query's top passage; every other passage, its own list's included, is a negative."""
    b, k, d = p.shape
    assert all((row == row.max()).sum() == 1 for row in targets)  # no ties with the top: nothing is masked
    logits = F.normalize(q, dim=-1) @ F.normalize(p.reshape(b * k, d), dim=-1).T / 0.05
    positive = torch.arange(b) * k + targets.argmax(dim=1)
    return -(logits.log_softmax(dim=1)[torch.arange(b), positive]).mean()


def _gradients(model_dir: Path, loss_of) -> dict[str, torch.Tensor]:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    model.train()
    model.zero_grad()
    loss_of(model).backward()
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def _assert_same(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor], rtol: float = 0.0) -> None:
    assert got.keys() == want.keys() and len(want) > 10
    for name in want:
        assert torch.allclose(got[name], want[name], atol=1e-6, rtol=rtol), (name, (got[name] - want[name]).abs().max())
    assert any(g.abs().max() > 1e-3 for g in want.values())  # gradients large enough for atol to mean something


def test_accumulating_a_per_query_loss_equals_one_big_batch(tmp_path, no_dropout_encoder, micro_batches):
    """kl has no in-batch interaction: 2 micro-batches of 2 accumulated = one batch of 4."""
    src = write_scored(tmp_path / "s.jsonl", n=4)
    grads = CaptureGradients()
    train(_cfg(tmp_path, src, no_dropout_encoder, loss="kl", grad_accumulation=2), extra_callbacks=[grads])
    assert len(grads.steps) == 1 and len(micro_batches) == 2
    assert [t.shape[0] for _, t in micro_batches] == [2, 2]

    def whole_batch(model):
        parts = [_embed(model, features) for features, _ in micro_batches]
        q = torch.cat([a for a, _ in parts])
        p = torch.cat([b for _, b in parts])
        return _kl_written_out(q, p, torch.cat([t for _, t in micro_batches])).mean()  # one mean over 4 queries

    _assert_same(grads.steps[0], _gradients(no_dropout_encoder, whole_batch))

    # The same step taken as one batch of 4 without accumulation: the same gradient and the same weights.
    micro_batches.clear()
    big = CaptureGradients()
    train(_cfg(tmp_path, src, no_dropout_encoder, loss="kl", batch_size=4, out=tmp_path / "big"), extra_callbacks=[big])
    assert len(micro_batches) == 1
    # (padded to 4 texts' longest instead of 2's: summation order moves entries of size ~1 by ~1e-6)
    _assert_same(grads.steps[0], big.steps[0], rtol=1e-6)
    # Gradients, not weights after the step, are compared: AdamW's first update is lr * g / (|g| + eps), the
    # same for g and 2g (blind to mean vs sum) and unstable where g is ~0.


@pytest.mark.parametrize("mini_batch_size", [0, 1], ids=["plain", "gradcache"])
def test_accumulated_in_batch_loss_is_the_mean_of_the_micro_batch_gradients(
    tmp_path, no_dropout_encoder, micro_batches, mini_batch_size
):
    """infonce sees only its micro-batch's passages; the step's gradient is the mean of the two
    micro-batches' gradients (not their sum, nor the gradient of one batch of 4). With gradient caching
    (one loss per micro-batch, embedded a text at a time) the same."""
    src = write_synth(tmp_path / "s.jsonl", n=4)
    grads = CaptureGradients()
    cfg = _cfg(tmp_path, src, no_dropout_encoder, loss="infonce", grad_accumulation=2, mini_batch_size=mini_batch_size)
    train(cfg, extra_callbacks=[grads])
    assert len(grads.steps) == 1 and len(micro_batches) == 2

    per_micro_batch = [
        _gradients(no_dropout_encoder, lambda m, f=features, t=targets: _infonce_written_out(*_embed(m, f), t))
        for features, targets in micro_batches
    ]
    mean = {n: (per_micro_batch[0][n] + per_micro_batch[1][n]) / 2 for n in per_micro_batch[0]}
    _assert_same(grads.steps[0], mean)

    # In-batch negatives make accumulation differ from one batch of 4: the reference above is not that.
    def whole_batch(model):
        parts = [_embed(model, features) for features, _ in micro_batches]
        q = torch.cat([a for a, _ in parts])
        p = torch.cat([b for _, b in parts])
        return _infonce_written_out(q, p, torch.cat([t for _, t in micro_batches]))

    one_batch = _gradients(no_dropout_encoder, whole_batch)
    assert any(not torch.allclose(one_batch[n], mean[n], atol=1e-4) for n in mean)


def test_steps_warmup_checkpoints_and_log_count_optimizer_steps(tmp_path, tiny_bi_encoder):
    """10 queries in micro-batches of 2 = 5 micro-batches = 3 optimizer steps at accumulation 2 (the last
    averages one micro-batch). Warm-up 0.5 = ceil(3 x 0.5) = 2 optimizer steps; checkpoint every 2 steps."""
    src = write_scored(tmp_path / "s.jsonl", n=10)
    out = tmp_path / "out"
    cfg = _cfg(
        tmp_path, src, tiny_bi_encoder, loss="kl", grad_accumulation=2, max_steps=-1, epochs=1, warmup=0.5,
        save_steps=2, keep_checkpoints=True, max_grad_norm=1.0,
    )
    notes: list[str] = []
    result = train(cfg, info=notes.append)
    assert result.steps == 3
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["grad_accumulation"] == 2 and manifest["result"]["effective_batch_size"] == 4
    assert manifest["result"]["steps"] == 3
    log = [json.loads(x) for x in (out / "training_log.jsonl").read_text().splitlines()]
    steps = [rec for rec in log if "loss" in rec]
    assert [rec["step"] for rec in steps] == [1, 2, 3]
    # linear: (s + 1) / (warmup + 1) for the 2 warm-up steps, then 1 at the start of the decay
    assert [rec["lr"] for rec in steps] == pytest.approx([1e-3 / 3, 2e-3 / 3, 1e-3])
    for rec in steps:
        if rec["steps_per_s"] is not None:  # 4 queries per optimizer step
            assert rec["examples_per_s"] == pytest.approx(rec["steps_per_s"] * 4, abs=0.01 + 4e-4)
    state = tmp_path / "out.train-state"
    assert sorted(p.name for p in state.glob("checkpoint-*")) == ["checkpoint-2"]
    assert not notes  # 10 queries fill the effective batch of 4

    few_src = write_scored(tmp_path / "t.jsonl", n=3)
    few = _cfg(tmp_path, few_src, tiny_bi_encoder, loss="kl", out=tmp_path / "few", grad_accumulation=4, max_steps=-1)
    assert train(few, info=notes.append).steps == 1
    assert notes == ["note: 3 training queries for an effective batch of 8 (2 per process x 1 x 4 accumulated)"]


class InterruptAfterSave(TrainerCallback):
    def on_save(self, args, state, control, **kwargs):
        raise KeyboardInterrupt


def test_resume_refuses_another_accumulation_or_schedule(tmp_path, tiny_bi_encoder):
    src = write_synth(tmp_path / "s.jsonl", n=8)
    cfg = dict(loss="infonce", grad_accumulation=2, max_steps=2, save_steps=1)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(tmp_path, src, tiny_bi_encoder, **cfg), extra_callbacks=[InterruptAfterSave()])
    with pytest.raises(ConfigError, match=r"different settings \(grad_accumulation\)"):
        train(_cfg(tmp_path, src, tiny_bi_encoder, **(cfg | dict(grad_accumulation=1, resume=True))))
    with pytest.raises(ConfigError, match=r"different settings \(lr_schedule\)"):
        train(_cfg(tmp_path, src, tiny_bi_encoder, **(cfg | dict(lr_schedule="cadet", resume=True))))
    assert train(_cfg(tmp_path, src, tiny_bi_encoder, **(cfg | dict(resume=True)))).steps == 2


@pytest.mark.slow
def test_interrupted_accumulating_run_resumes_to_the_same_weights(tmp_path, tiny_bi_encoder):
    """Resuming skips the micro-batches of the steps already taken (steps x accumulation), mid-epoch."""
    src = write_synth(tmp_path / "s.jsonl", n=24)
    cfg = dict(loss="wasserstein", grad_accumulation=3, max_steps=-1, epochs=2, save_steps=3, seed=7, warmup=0.1)
    full = train(_cfg(tmp_path, src, tiny_bi_encoder, out=tmp_path / "full", **cfg))
    assert full.steps == 8  # 12 micro-batches an epoch -> 4 optimizer steps, 2 epochs

    class StopAt(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.global_step == 3:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_cfg(tmp_path, src, tiny_bi_encoder, out=tmp_path / "part", **cfg), extra_callbacks=[StopAt()])
    assert train(_cfg(tmp_path, src, tiny_bi_encoder, out=tmp_path / "part", resume=True, **cfg)).steps == 8
    a, b = weights(tmp_path / "full"), weights(tmp_path / "part")
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6, rtol=0), k
