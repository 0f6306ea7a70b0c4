"""Resume: an interrupted run continued by a plain re-run (or, as old scripts do, with --resume) ends with the
weights of an uninterrupted run; a run killed with SIGKILL leaves no half-written output folder and resumes from
its last complete checkpoint; other settings over a partial or finished run are refused, naming them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from transformers import TrainerCallback

from synrank.errors import ConfigError, InputError
from synrank.train import TrainConfig, train
from synrank.train.callbacks import COMPLETE_MARKER
from helpers import weights, write_synth


class StepCounter(TrainerCallback):
    """Records the optimizer steps this run takes."""

    def __init__(self) -> None:
        self.steps: list[int] = []

    def on_step_end(self, args, state, control, **kwargs):
        self.steps.append(state.global_step)


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


def test_plain_rerun_continues_an_interrupted_run_like_an_uninterrupted_one(tmp_path, tiny_bi_encoder):
    """The shared rule: the same command again continues from the checkpoint, without --resume."""
    src = write_synth(tmp_path / "s.jsonl", n=24)
    full = tmp_path / "full"
    assert train(_cfg(src, tiny_bi_encoder, full)).steps == 6

    part = tmp_path / "part"
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(src, tiny_bi_encoder, part), extra_callbacks=[InterruptAfterSave(3)])
    state = tmp_path / "part.train-state"
    assert (state / "checkpoint-3" / COMPLETE_MARKER).exists() and not part.exists()

    # Other settings over the partial run: refused before any work, naming every setting that differs.
    with pytest.raises(ConfigError, match=r"different settings \(lr, seed\).*--overwrite") as refused:
        train(_cfg(src, tiny_bi_encoder, part, lr=2e-3, seed=8))
    assert str(state) in str(refused.value)
    assert (state / "checkpoint-3" / COMPLETE_MARKER).exists() and not part.exists()

    messages: list[str] = []
    counted = StepCounter()
    result = train(_cfg(src, tiny_bi_encoder, part), extra_callbacks=[counted], info=messages.append)
    assert any("resuming from" in m and "checkpoint-3" in m for m in messages), messages
    assert result.steps == 6 and counted.steps == [4, 5, 6]  # only the steps after the checkpoint ran
    a, b = weights(full), weights(part)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6, rtol=0), k
    assert not state.exists()


def test_finished_run_is_kept_by_the_same_command_and_refused_with_other_settings(tmp_path, tiny_bi_encoder):
    src = write_synth(tmp_path / "s.jsonl", n=16)
    out = tmp_path / "m"
    first = train(_cfg(src, tiny_bi_encoder, out, max_steps=2))
    before = {f.name: f.read_bytes() for f in out.iterdir() if f.is_file()}
    messages: list[str] = []
    counted = StepCounter()
    again = train(_cfg(src, tiny_bi_encoder, out, max_steps=2), extra_callbacks=[counted], info=messages.append)
    assert counted.steps == [] and any("nothing to do" in m for m in messages), messages
    assert (again.steps, again.train_queries, again.final_loss) == (first.steps, first.train_queries, first.final_loss)
    assert {f.name: f.read_bytes() for f in out.iterdir() if f.is_file()} == before

    with pytest.raises(ConfigError, match=r"finished, made with different settings \(max_steps\).*--overwrite"):
        train(_cfg(src, tiny_bi_encoder, out, max_steps=3))
    # Lists written again after the model was trained: keeping the model would hide the change.
    time.sleep(0.01)
    write_synth(src, n=16, seed=1)
    with pytest.raises(ConfigError, match=r"inputs changed since: .*s\.jsonl"):
        train(_cfg(src, tiny_bi_encoder, out, max_steps=2))
    assert {f.name: f.read_bytes() for f in out.iterdir() if f.is_file()} == before

    assert train(_cfg(src, tiny_bi_encoder, out, max_steps=3, overwrite=True)).steps == 3
    assert json.loads((out / "manifest.json").read_text())["result"]["steps"] == 3


def test_overwrite_never_discards_a_folder_synrank_did_not_write(tmp_path, tiny_bi_encoder):
    """--overwrite starts over only what synrank wrote: not a user's folder at the output, nor at its state's name."""
    src = write_synth(tmp_path / "s.jsonl", n=8)
    out = tmp_path / "m"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not written by synrank"):
        train(_cfg(src, tiny_bi_encoder, out, max_steps=1, overwrite=True))
    assert (out / "notes.txt").read_text() == "mine"

    other = tmp_path / "other"
    state = tmp_path / "other.train-state"
    state.mkdir()
    (state / "notes.txt").write_text("mine too")
    with pytest.raises(ConfigError, match="unknown settings"):
        train(_cfg(src, tiny_bi_encoder, other, max_steps=1))
    with pytest.raises(InputError, match="not written by synrank"):
        train(_cfg(src, tiny_bi_encoder, other, max_steps=1, overwrite=True))
    assert (state / "notes.txt").read_text() == "mine too" and not other.exists()


def test_resume_is_kept_for_old_scripts_but_not_with_overwrite(tmp_path, tiny_bi_encoder):
    src = write_synth(tmp_path / "s.jsonl", n=8)
    # Old scripts pass --resume on every run, the first one too: nothing to resume is not an error.
    assert train(_cfg(src, tiny_bi_encoder, tmp_path / "m", max_steps=1, resume=True)).steps == 1
    with pytest.raises(ConfigError) as both:
        _cfg(src, tiny_bi_encoder, tmp_path / "n", resume=True, overwrite=True)
    assert both.value.setting == "resume" and "overwrite" in both.value.message


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
