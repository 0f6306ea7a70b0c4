"""Trainer callbacks: the training log (JSONL, record by record), Rich progress on stderr, the
checkpoint-complete marker that makes resuming after ``kill -9`` safe, and early stopping on the dev loss."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback
from transformers.trainer_callback import ExportableState

from synrank.formats.io import AppendJsonlWriter
from synrank.runtime.progress import make_progress

COMPLETE_MARKER = "synrank-checkpoint-complete"
EVAL_TERMS = frozenset({"eval_kl", "eval_infonce"})


class JsonlLogCallback(TrainerCallback):
    """Appends ``{step, epoch, loss, lr, grad_norm, steps_per_s, examples_per_s}`` per logging step (main process)."""

    def __init__(self, path: Path, examples_per_step: int) -> None:
        self.path = path
        self.examples_per_step = examples_per_step
        self.writer: AppendJsonlWriter | None = None
        self._t = time.perf_counter()
        self._step = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self._t = time.perf_counter()
        self._step = state.global_step

    def on_log(self, args, state, control, logs: dict[str, Any] | None = None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        if self.writer is None:
            self.writer = AppendJsonlWriter(self.path)
        rec: dict[str, Any] = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4)}
        if "loss" in logs:
            now = time.perf_counter()
            steps = state.global_step - self._step
            rate = steps / (now - self._t) if now > self._t and steps > 0 else None
            self._t, self._step = now, state.global_step
            rec.update(
                loss=logs["loss"],
                lr=logs.get("learning_rate"),
                grad_norm=logs.get("grad_norm"),
                steps_per_s=None if rate is None else round(rate, 4),
                examples_per_s=None if rate is None else round(rate * self.examples_per_step, 2),
            )
        elif "eval_loss" in logs:
            rec["eval_loss"] = logs["eval_loss"]
            # the loss's terms (kl, infonce) when it reports them
            rec.update({k: logs[k] for k in sorted(EVAL_TERMS) if k in logs})
        elif "train_runtime" in logs:
            rec.update({k: logs[k] for k in ("train_runtime", "train_loss", "train_steps_per_second") if k in logs})
        else:
            return
        self.writer.write(rec)

    def on_train_end(self, args, state, control, **kwargs):
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class RichProgressCallback(TrainerCallback):
    """A Rich progress bar on stderr (steps, rate, ETA) replacing the trainer's tqdm bars."""

    def __init__(self) -> None:
        self.progress = None
        self.task = None

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.progress = make_progress("steps")
            self.progress.start()
            self.task = self.progress.add_task("train", total=state.max_steps, completed=state.global_step)

    def on_step_end(self, args, state, control, **kwargs):
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step)

    def on_train_end(self, args, state, control, **kwargs):
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


class CheckpointMarkerCallback(TrainerCallback):
    """Marks a checkpoint folder complete once every process has written its part.

    The trainer writes checkpoint files in place; a run killed mid-save leaves a partial folder. Resuming
    only ever picks a folder holding this marker, so a partial checkpoint is never loaded.
    """

    def on_save(self, args, state, control, **kwargs):
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.barrier()
        if state.is_world_process_zero:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                (folder / COMPLETE_MARKER).write_text(f"{state.global_step}\n")


class SkipFinalCheckpointCallback(TrainerCallback):
    """The trainer checkpoints after the last step; the finished model is written to the output folder
    right after, so that checkpoint (model + optimizer state) would only cost time and disk."""

    def on_step_end(self, args, state, control, **kwargs):
        by_steps = str(getattr(args.save_strategy, "value", args.save_strategy)) == "steps"
        if by_steps and state.global_step >= state.max_steps and state.global_step % max(1, int(args.save_steps)) != 0:
            control.should_save = False
        return control


class DevLossStopping(TrainerCallback, ExportableState):
    """Stops training after ``patience`` evaluations in a row without an improvement.

    ``metric="loss"``: an evaluation improves when its total dev loss is below every earlier one
    (transformers' ``EarlyStoppingCallback`` with no threshold). ``metric="loss-or-kl"``: when its total
    dev loss or its dev KL term is below every earlier one, each compared with its own best; this is
    CADeT's rule (cadet-dense-retrieval ``train_e5_listwise.py``, ``main``: the count of evaluations
    without improvement is raised by one, then zeroed if the listwise (KL) dev loss beat its best and if
    the total dev loss beat its best; training stops once the count reaches 2). Which checkpoint is kept
    is not decided here: it is the one with the lowest total dev loss (the reference saves the model only
    when the total improves), through the trainer's ``metric_for_best_model="eval_loss"``.

    The bests and the count are saved in every checkpoint (``trainer_state.json``) and taken back when a
    run resumes, so a resumed run stops where an uninterrupted one would.
    """

    def __init__(self, patience: int, metric: str = "loss") -> None:
        if metric not in ("loss", "loss-or-kl"):
            raise ValueError(f"unknown early-stopping metric {metric!r}")
        self.patience = patience
        self.metric = metric
        self.best_loss: float | None = None
        self.best_kl: float | None = None
        self.bad_evals = 0

    def update(self, loss: float, kl: float | None = None) -> bool:
        """Count one evaluation; True when training should stop."""
        self.bad_evals += 1
        if self.metric == "loss-or-kl":
            if kl is None:
                raise ValueError("early stopping on loss-or-kl needs the dev KL term (eval_kl)")
            if self.best_kl is None or kl < self.best_kl:
                self.best_kl = kl
                self.bad_evals = 0
        if self.best_loss is None or loss < self.best_loss:
            self.best_loss = loss
            self.bad_evals = 0
        return self.bad_evals >= self.patience

    def on_train_begin(self, args, state, control, **kwargs):
        saved = (state.stateful_callbacks or {}).get(type(self).__name__)
        if state.global_step > 0 and isinstance(saved, dict):
            for name, value in saved.get("attributes", {}).items():
                setattr(self, name, value)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if not metrics or "eval_loss" not in metrics:
            return
        if self.update(metrics["eval_loss"], metrics.get("eval_kl")):
            control.should_training_stop = True

    def state(self) -> dict:
        return {
            "args": {"patience": self.patience, "metric": self.metric},
            "attributes": {"best_loss": self.best_loss, "best_kl": self.best_kl, "bad_evals": self.bad_evals},
        }
