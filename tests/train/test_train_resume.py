"""Resume: an interrupted run continued with --resume ends with the weights of an uninterrupted run;
a run killed with SIGKILL leaves no half-written output folder and resumes from its last complete checkpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from transformers import TrainerCallback

from synrank.errors import ConfigError
from synrank.train import TrainConfig, train
from synrank.train.callbacks import COMPLETE_MARKER
from helpers import weights, write_synth


class InterruptAfterSave(TrainerCallback):
    """Acts like Ctrl-C right after the checkpoint of ``step`` is written."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            raise KeyboardInterrupt


def _cfg(src: Path, model: Path, out: Path, **kw) -> TrainConfig:
    base = dict(
        out=out, inputs=[str(src)], model=str(model), loss="wasserstein", batch_size=4, max_steps=6, save_steps=3,
        logging_steps=1, dtype="fp32", lr=1e-3, seed=7,
    )
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.slow
def test_interrupted_then_resumed_run_matches_uninterrupted(tmp_path, tiny_bi_encoder):
    src = write_synth(tmp_path / "s.jsonl", n=24)
    full = tmp_path / "full"
    train(_cfg(src, tiny_bi_encoder, full))

    part = tmp_path / "part"
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(src, tiny_bi_encoder, part), extra_callbacks=[InterruptAfterSave(3)])
    state = tmp_path / "part.train-state"
    assert not part.exists()  # nothing half-written where the model will go
    assert (state / "checkpoint-3" / COMPLETE_MARKER).exists()
    # Resuming with other settings would mix two trainings: refused, naming the setting.
    with pytest.raises(ConfigError, match=r"different settings \(lr\)"):
        train(_cfg(src, tiny_bi_encoder, part, resume=True, lr=2e-3))
    result = train(_cfg(src, tiny_bi_encoder, part, resume=True))
    assert result.steps == 6
    assert not state.exists() and not (tmp_path / ".part.train-state.resume.json").exists()
    a, b = weights(full), weights(part)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6, rtol=0), k
    base = weights(tiny_bi_encoder)
    assert any(not torch.equal(a[k], base[k]) for k in a)
    log = [line for line in (part / "training_log.jsonl").read_text().splitlines() if '"loss"' in line]
    assert len(log) == 6  # the resumed run's log has each step once


@pytest.mark.slow
def test_kill_9_leaves_nothing_half_written_and_resumes(tmp_path, tiny_bi_encoder, cli):
    from sentence_transformers import SentenceTransformer

    src = write_synth(tmp_path / "s.jsonl", n=64)
    out = tmp_path / "ckpt"
    args = [
        "train", str(src), "--model", str(tiny_bi_encoder), "--loss", "infonce", "--out", str(out), "--batch-size", "4",
        "--max-steps", "60", "--save-steps", "2", "--dtype", "fp32", "--threads", "1",
    ]
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.Popen([sys.executable, "-m", "synrank", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    state = tmp_path / "ckpt.train-state"
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        if list(state.glob(f"checkpoint-*/{COMPLETE_MARKER}")):
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    assert list(state.glob(f"checkpoint-*/{COMPLETE_MARKER}"))
    r = cli(*args, "--resume")  # the same command, plus --resume
    assert r.code == 0, r.stderr
    assert "resuming from" in r.stderr
    assert SentenceTransformer(str(out), device="cpu").encode(["x"]).shape == (1, 32)
    assert not state.exists()
