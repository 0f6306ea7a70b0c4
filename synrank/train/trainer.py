"""Trainer glue: data -> dataset -> loss -> sentence-transformers trainer -> an atomically written folder.

Layout of a run writing ``--out OUT``:

- ``OUT.train-state/``: checkpoints (``checkpoint-N/``, each marked complete once fully written, with the
  sum of the step losses so far, so that a resumed run reports the whole run's loss) and
  ``training_log.jsonl`` while training runs; re-running the same command continues from its last complete
  checkpoint (the shared rule of :mod:`synrank.formats.outputs`: other settings are refused, naming them, unless
  ``overwrite`` starts over). A run that fails before its first checkpoint removes it (there is nothing to resume).
- ``.OUT.lock``: held from before the state is touched until the output is written; a second run on the
  same output exits 2 naming this one's pid.
- ``OUT/``: appears only when training has finished (built in a temporary sibling and renamed), holding
  the sentence-transformers model, ``training_log.jsonl`` and ``manifest.json``, through
  :func:`synrank.formats.outputs.guarded_output` (never over an input or a folder synrank did not write;
  over its own earlier output only with ``overwrite``). The state folder is then removed unless
  ``keep_checkpoints``. A re-run over a finished ``OUT`` made with the same settings trains nothing and
  returns the result its manifest records.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synrank.errors import ConfigError, InputError, os_error_in
from synrank.formats import atomic_write, make_manifest
from synrank.formats.outputs import OutputLock, ResumeState, check_output, finished_output, guarded_output, stamp_location
from synrank.train.callbacks import (
    COMPLETE_MARKER,
    CheckpointMarkerCallback,
    DevLossStopping,
    JsonlLogCallback,
    RichProgressCallback,
    SkipFinalCheckpointCallback,
)
from synrank.train import losses
from synrank.train.config import TrainConfig, auto_mini_batch_size
from synrank.train.data import (
    GroupRedraw,
    TrainList,
    build_columns,
    check_positives,
    read_train_lists,
    redraw_dataset,
    split_dev,
    to_dataset,
)
from synrank.train.losses import ListLabels, ListwiseLoss
from synrank.train.schedule import make_schedule

if TYPE_CHECKING:
    from synrank.runtime.progress import ProgressArg

LOG_NAME = "training_log.jsonl"
LOSS_FILE = "synrank-loss.json"  # in each checkpoint: the sum of the step losses so far


@dataclass
class TrainResult:
    out: Path
    steps: int
    train_queries: int
    dev_queries: int
    seconds: float
    final_loss: float | None
    best_eval_loss: float | None
    best_eval_step: int | None = None  # the step of the model written (lowest dev loss); 0 = the base model


def state_dir_for(out: Path) -> Path:
    return out.with_name(out.name + ".train-state")


def load_lists(cfg: TrainConfig, info: Callable[[str], None] = lambda msg: None) -> list[TrainList]:
    if cfg.dataset:
        from synrank.train.real import build_real_lists

        lists = build_real_lists(
            cfg.dataset, split=cfg.split, negatives=cfg.negatives, num_negatives=max(cfg.group_size - 1, 1), seed=cfg.seed
        )
    else:
        lists = read_train_lists(cfg.inputs, target=cfg.target)
    if cfg.drop_unusable:
        # Generated lists lose passages to parse/duplicate rejects, so some fall below the group size
        # or lose every passage that would be InfoNCE's positive.
        minimum = cfg.positive_min_level if cfg.loss == "infonce" else None
        kept = [
            lst for lst in lists if len(lst.texts) >= cfg.group_size and (minimum is None or max(lst.targets) >= minimum)
        ]
        if not kept:
            raise InputError(
                f"no list has at least --group-size {cfg.group_size} passages"
                + (f" and a positive (>= {minimum:g})" if minimum is not None else ""),
                path=cfg.inputs[0] if cfg.inputs else None,
            )
        if len(kept) < len(lists):
            info(f"note: --drop-unusable skipped {len(lists) - len(kept)} of {len(lists)} lists (too short or no positive)")
        lists = kept
    if cfg.loss == "infonce":
        check_positives(lists, cfg.positive_min_level)
    return lists


def make_loss(cfg: TrainConfig, model: Any, **overrides: Any) -> ListwiseLoss:
    """The loss of ``cfg``; settings left at ``None``/``auto`` take the loss's own (reference) default."""
    return losses.make_loss(cfg.loss, model, **(asdict(cfg) | overrides))


def last_complete_checkpoint(state: Path) -> Path | None:
    """The newest checkpoint with its completion marker; partial ones (killed mid-save) are deleted."""
    best: tuple[int, Path] | None = None
    for folder in state.glob("checkpoint-*"):
        try:
            step = int(folder.name.split("-", 1)[1])
        except ValueError:
            continue
        if not (folder / COMPLETE_MARKER).exists():
            shutil.rmtree(folder, ignore_errors=True)
            continue
        if best is None or step > best[0]:
            best = (step, folder)
    return None if best is None else best[1]


def _trim_log(log: Path, step: int) -> None:
    """Drop log records written after the checkpoint we resume from (they will be written again)."""
    if not log.exists():
        return
    keep = []
    for raw in log.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(raw)
        except json.JSONDecodeError:
            continue  # partial last line of a killed run
        if isinstance(rec, dict) and rec.get("step", 0) <= step and "train_runtime" not in rec:
            keep.append(raw)
    with atomic_write(log) as fh:
        fh.write("".join(line + "\n" for line in keep))


def _trainer_class():
    import torch
    from sentence_transformers import SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer.data_collator import SentenceTransformerDataCollator
    from transformers import TrainerCallback

    class ListwiseDataCollator(SentenceTransformerDataCollator):
        """Hands the ``doc_keys`` column to the loss (as ``inputs["doc_keys"]``) instead of tokenising it."""

        def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
            if not features or "doc_keys" not in features[0]:
                return super().__call__(features)
            keys = torch.tensor([row["doc_keys"] for row in features], dtype=torch.long)
            batch = super().__call__([{k: v for k, v in row.items() if k != "doc_keys"} for row in features])
            batch["doc_keys"] = keys
            return batch

    class RedrawEpoch(TrainerCallback):
        """Tells the ``--redraw`` transform which epoch is starting.

        The epoch is the trainer's own: ``global_step // updates per epoch``, which is also how it finds the
        epoch to resume in, so a resumed run draws the groups of an uninterrupted one.
        """

        def __init__(self, trainer: Any, redraw: GroupRedraw) -> None:
            self.trainer = trainer
            self.redraw = redraw

        def on_epoch_begin(self, args, state, control, **kwargs):
            self.redraw.epoch = state.global_step // self.trainer.updates_per_epoch

    class CarryLossSum(TrainerCallback):
        """Starts a resumed run's running loss total at the checkpoint's (the trainer zeroes it just before)."""

        def __init__(self, trainer: Any) -> None:
            self.trainer = trainer

        def on_train_begin(self, args, state, control, **kwargs):
            if self.trainer.loss_sum_before is not None:
                self.trainer._total_loss_scalar = self.trainer.loss_sum_before

    class ListwiseTrainer(SentenceTransformerTrainer):
        """The sentence-transformers trainer with synrank's learning-rate schedules and document keys in the labels."""

        data_collator_class = ListwiseDataCollator
        # The run's settings (schedule shape, floor, warm-up in epochs), set by _build_trainer.
        settings: TrainConfig | None = None
        # Every synrank loss is the mean over its micro-batch and never sees num_items_in_batch, so under
        # gradient accumulation the trainer must divide each micro-batch's loss by the number accumulated:
        # the step's gradient is then the mean of the micro-batch gradients, not their sum. Left to itself,
        # transformers decides from the model's forward signature (SentenceTransformer.forward takes
        # **kwargs) and from a "labels" column, so a renamed column would silently switch to the sum.
        loss_is_scaled_for_ga = False

        def collect_features(self, inputs):
            features, labels = super().collect_features(inputs)
            if labels is not None and inputs.get("doc_keys") is not None:
                labels = ListLabels(labels, inputs["doc_keys"])
            return features, labels

        # The mean training loss of the whole run, not only of the steps since a resume: the sum of the
        # step losses is saved with every checkpoint and carried into the resumed run's running total.
        loss_sum_before: float | None = None

        updates_per_epoch: int = 1

        def __init__(self, *args, redraw: GroupRedraw | None = None, **kwargs):
            super().__init__(*args, **kwargs)
            # Older transformers (before loss_is_scaled_for_ga) divide only when this is False.
            self.model_accepts_loss_kwargs = False
            self.add_callback(CarryLossSum(self))
            if redraw is not None:
                self.add_callback(RedrawEpoch(self, redraw))

        def set_initial_training_values(self, args, dataloader):
            values = super().set_initial_training_values(args, dataloader)
            self.updates_per_epoch = values[1]
            return values

        def evaluation_loop(self, *args, **kwargs):
            """The trainer's loop, plus the loss's terms (``eval_kl``, ``eval_infonce``) next to ``eval_loss``."""
            terms = isinstance(self.loss, ListwiseLoss)
            if terms:
                self.loss.start_tally()
            try:
                output = super().evaluation_loop(*args, **kwargs)
            finally:
                means = self.loss.stop_tally() if terms else {}
            prefix = kwargs.get("metric_key_prefix", "eval")
            for name, value in means.items():
                output.metrics[f"{prefix}_{name}"] = value
            return output

        def evaluate(self, *args, **kwargs):
            metrics = super().evaluate(*args, **kwargs)
            if self.state.global_step == 0 and self.args.metric_for_best_model:
                # The evaluation before training (--eval-at-start) is a candidate for the best model, as in
                # CADeT; the trainer itself only ranks evaluations made during training.
                self._determine_best_metric(metrics=metrics, trial=None)
            return metrics

        def _save_checkpoint(self, model, trial):
            super()._save_checkpoint(model, trial)
            folder = Path(self.args.output_dir) / f"checkpoint-{self.state.global_step}"
            running = getattr(self, "_total_loss_scalar", None)
            pending = getattr(self, "_tr_loss", None)
            if self.args.should_save and folder.is_dir() and running is not None:
                total = running + (pending.item() if pending is not None else 0.0)
                with atomic_write(folder / LOSS_FILE) as fh:
                    json.dump({"step": self.state.global_step, "loss_sum": total}, fh)

        def run_loss(self, this_call: float) -> float:
            """The whole run's mean step loss (the trainer's own figure covers only this call's steps)."""
            if self.loss_sum_before is None or not self.state.global_step:
                return this_call
            return self._total_loss_scalar / self.state.global_step

        def log(self, logs, *args, **kwargs):
            if "train_loss" in logs and self.loss_sum_before is not None:
                logs = {**logs, "train_loss": self.run_loss(logs["train_loss"])}
            return super().log(logs, *args, **kwargs)

        def create_scheduler(self, num_training_steps: int, optimizer=None):
            if self.lr_scheduler is None:
                # num_training_steps and the warm-up count optimizer steps (micro-batches / accumulation).
                cfg = self.settings or TrainConfig(out=Path(self.args.output_dir), inputs=["-"])
                warm = self.args.get_warmup_steps(num_training_steps)
                if cfg.warmup_epochs is not None:
                    # As CADeT counts it: the optimizer steps of one epoch (train_e5_listwise.py:464-465);
                    # set_initial_training_values has set updates_per_epoch (after accumulation).
                    warm = int(cfg.warmup_epochs * self.updates_per_epoch)
                warm = max(warm, cfg.warmup_min_steps)
                fn = make_schedule(cfg.lr_schedule, warm, num_training_steps, cfg.lr_floor)
                self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer or self.optimizer, fn)
                self._created_lr_scheduler = True
            return self.lr_scheduler

    return ListwiseTrainer


def _loss_sum_at(checkpoint: Path) -> float | None:
    """The sum of the step losses up to ``checkpoint`` (None for a checkpoint written before it was saved)."""
    try:
        value = json.loads((checkpoint / LOSS_FILE).read_text(encoding="utf-8"))["loss_sum"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return float(value) if isinstance(value, (int, float)) else None


@dataclass
class _Data:
    train: Any  # datasets.Dataset
    dev: Any | None
    kind: str  # "levels" or "teacher"
    redraw: GroupRedraw | None = None  # draws the training groups when --redraw


def _inputs(cfg: TrainConfig) -> list[str | None]:
    return [*cfg.inputs, cfg.dataset, cfg.negatives]


# Settings that only steer the run, not what is trained: they may change between a run and its continuation.
_RUN_ONLY = frozenset({"resume", "overwrite", "keep_checkpoints", "logging_steps", "threads", "device"})


def _fingerprint(cfg: TrainConfig) -> dict[str, Any]:
    return {k: v for k, v in asdict(cfg).items() if k not in _RUN_ONLY}


def _prepare_state(cfg: TrainConfig, out: Path, state: Path, is_main: bool) -> Path | None:
    """Refuse to clobber the user's folders (before any work); the checkpoint to resume from, if any.

    The training state carries the shared resume stamp (:class:`~synrank.formats.outputs.ResumeState`), so
    it is continued by a plain re-run, as every command's partial output is: the stamp's settings must
    match, and other settings are refused, naming them, instead of mixing two trainings.
    """
    # A folder synrank did not write is never replaced, one it wrote only with overwrite; nor an input.
    check_output(out, inputs=_inputs(cfg), overwrite=cfg.overwrite, kind="dir")
    # Decided on every process (the same answer everywhere); only the main process touches the disk.
    decision = ResumeState.decide(state, _fingerprint(cfg), overwrite=cfg.overwrite, name=str(state))
    if is_main:
        decision.start()
    return last_complete_checkpoint(state) if decision.action == "resume" else None


def _load_data(cfg: TrainConfig, world_size: int, info: Callable[[str], None]) -> _Data:
    lists = load_lists(cfg, info)
    train_lists, dev_lists = split_dev(lists, cfg.eval_split, cfg.seed)
    kind = train_lists[0].kind
    if cfg.loss in ("kl", "kl+infonce") and kind != "teacher":
        info(f"note: --loss {cfg.loss} on graded levels: the levels stand in for teacher scores")
    build = dict(group_size=cfg.group_size, selection=cfg.selection, query_prefix=cfg.query_prefix, doc_prefix=cfg.doc_prefix)
    redraw = None
    if cfg.redraw and cfg.selection != "top":  # top groups are the same in every epoch
        train_ds, redraw = redraw_dataset(train_lists, seed=cfg.seed, **build)
    else:
        train_ds = to_dataset(build_columns(train_lists, seed=cfg.seed, **build))
    # The dev groups stay fixed, so that evaluations differ by the model only.
    dev_ds = to_dataset(build_columns(dev_lists, seed=cfg.seed + 1, **build)) if dev_lists else None
    global_batch = cfg.batch_size * world_size
    effective = effective_batch_size(cfg, world_size)
    if len(train_ds) < global_batch and _drops_last(cfg, world_size):
        # Incomplete batches are dropped here, so there would be no step at all.
        raise InputError(
            f"{len(train_ds)} training queries do not fill one batch of {global_batch} queries "
            f"({cfg.batch_size} per process x {world_size}); lower --batch-size",
            path=cfg.inputs[0] if cfg.inputs else cfg.dataset,
        )
    if len(train_ds) < effective and cfg.max_steps <= 0:
        # Still one optimizer step per epoch, averaging the micro-batches there are.
        if cfg.grad_accumulation > 1:
            parts = f"{cfg.batch_size} per process x {world_size} x {cfg.grad_accumulation} accumulated"
            info(f"note: {len(train_ds)} training queries for an effective batch of {effective} ({parts})")
        else:
            info(f"note: {len(train_ds)} training queries for a global batch of {global_batch}")
    return _Data(train_ds, dev_ds, kind, redraw)


def effective_batch_size(cfg: TrainConfig, world_size: int) -> int:
    """Queries behind one optimizer step: micro-batch x processes x accumulated micro-batches."""
    return cfg.batch_size * world_size * cfg.grad_accumulation


def _drops_last(cfg: TrainConfig, world_size: int) -> bool:
    # Every process needs equal batches to gather the global batch; ws2 needs full batches (a covariance).
    return world_size > 1 or cfg.loss == "ws2"


def _load_model(cfg: TrainConfig, device: Any) -> Any:
    from synrank.models import load_sentence_transformer

    model = load_sentence_transformer(cfg.model, device=str(device), trust_remote_code=cfg.trust_remote_code)
    if cfg.max_seq_length:
        model.max_seq_length = cfg.max_seq_length
    if cfg.dropout is not None:
        _set_dropout(model, cfg.dropout)
    # Widget examples for the model card run the model on data at every save: slow, and not our card.
    model.model_card_data.generate_widget_examples = False
    return model


def _set_dropout(model: Any, p: float) -> None:
    """Every dropout layer of the transformer at ``p``, and its config to match (saved with the model).

    CADeT sets ``hidden_dropout_prob`` and ``attention_probs_dropout_prob`` in the config before loading
    (train_e5_listwise.py:49-51); the modules already built are changed here instead of reloading.
    """
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = p
    for sub in model.modules():
        config = getattr(sub, "config", None)
        if config is not None and hasattr(config, "hidden_dropout_prob"):
            config.hidden_dropout_prob = p
            if hasattr(config, "attention_probs_dropout_prob"):
                config.attention_probs_dropout_prob = p


def _normalises(model: Any) -> bool:
    return any(type(module).__name__ == "Normalize" for module in model)


def _build_loss(cfg: TrainConfig, model: Any, info: Callable[[str], None]) -> ListwiseLoss:
    max_length = int(getattr(model, "max_seq_length", None) or 512)
    mini = auto_mini_batch_size(cfg.mini_batch_size, cfg.batch_size, cfg.group_size, max_length)
    loss = make_loss(cfg, model, mini_batch_size=mini)
    flat = [t for t in (getattr(loss, "temperature", None),) if t is not None and t >= 0.5]
    if flat and (loss.similarity == "cosine" or _normalises(model)):
        info(
            f"note: {cfg.loss} at temperature {flat[0]:g} on unit-length embeddings: scores lie in [-1, 1], so the "
            "student's distribution is nearly flat (the SyCL release trained unnormalised Contriever); "
            "consider a temperature of 0.05"
        )
    return loss


def _training_args(
    cfg: TrainConfig, state: Path, device: Any, dtype: Any, world_size: int, use_eval: bool, resuming: bool = False
) -> Any:
    import torch
    from sentence_transformers import SentenceTransformerTrainingArguments

    distributed = world_size > 1
    return SentenceTransformerTrainingArguments(
        output_dir=str(state),
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accumulation,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        learning_rate=cfg.lr,
        weight_decay=cfg.weight_decay,
        warmup_steps=cfg.warmup,
        max_grad_norm=cfg.max_grad_norm,
        optim="adamw_torch",
        bf16=dtype == torch.bfloat16,
        fp16=dtype == torch.float16,
        use_cpu=device.type == "cpu",
        seed=cfg.seed,
        data_seed=cfg.seed,
        logging_steps=cfg.logging_steps,
        save_strategy="steps" if cfg.save_steps else "epoch",
        save_steps=cfg.save_steps or 500,
        save_total_limit=2 if not use_eval else 3,
        eval_strategy=("steps" if cfg.save_steps else "epoch") if use_eval else "no",
        eval_steps=(cfg.save_steps or None) if use_eval else None,
        # A resumed run's checkpoints already hold the evaluation at step 0.
        eval_on_start=use_eval and cfg.eval_at_start and not resuming,
        load_best_model_at_end=use_eval,
        metric_for_best_model="eval_loss" if use_eval else None,
        greater_is_better=False if use_eval else None,
        dataloader_drop_last=_drops_last(cfg, world_size),
        ddp_backend="gloo" if device.type == "cpu" and distributed else None,
        # e.g. BERT's pooler is unused by mean pooling: DDP must not wait for its gradients.
        ddp_find_unused_parameters=True if distributed else None,
        disable_tqdm=True,
        report_to="none",
        log_level="warning",
    )


def _build_trainer(
    cfg: TrainConfig, model: Any, loss: ListwiseLoss, data: _Data, args: Any, log_path: Path, world_size: int, extra: list[Any]
) -> Any:
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer_cls = _trainer_class()
    trainer_cls.settings = cfg
    callbacks = [
        CheckpointMarkerCallback(),
        JsonlLogCallback(log_path, effective_batch_size(cfg, world_size)),
        SkipFinalCheckpointCallback(),
    ]
    if cfg.early_stopping_patience:
        callbacks.append(DevLossStopping(cfg.early_stopping_patience, cfg.early_stopping_metric))
    callbacks.extend(extra)
    trainer = trainer_cls(
        model=model, args=args, train_dataset=data.train, eval_dataset=data.dev, loss=loss, callbacks=callbacks, redraw=data.redraw
    )
    for cb in (PrinterCallback, ProgressCallback):  # they print to stdout / draw tqdm; we log and draw our own
        trainer.remove_callback(cb)
    for cb in list(trainer.callback_handler.callbacks):
        # The model-card callback runs the model on dataset rows for "widget examples" behind a tqdm bar.
        if type(cb).__name__.endswith("ModelCardCallback"):
            trainer.remove_callback(cb)
    return trainer


def _write_output(
    cfg: TrainConfig, out: Path, model: Any, loss: ListwiseLoss, data: _Data, result: TrainResult, log_path: Path, extra: dict[str, Any]
) -> None:
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}
    # Search with the similarity the model was trained on (sentence-transformers' config of the folder).
    model.similarity_fn_name = loss.similarity
    with guarded_output(out, inputs=_inputs(cfg), overwrite=cfg.overwrite, kind="dir") as target:
        tmp = target.path
        try:
            model.save(str(tmp))
        except Exception as exc:
            err = os_error_in(exc, out)
            if err is None:
                raise
            raise err from None
        if log_path.exists():
            shutil.copyfile(log_path, tmp / LOG_NAME)
        target.manifest = make_manifest(
            "train",
            model=cfg.model,
            config=config,
            loss=loss.get_config_dict() | {"name": cfg.loss},
            data={"kind": data.kind, "train_queries": result.train_queries, "dev_queries": result.dev_queries},
            result={k: v for k, v in asdict(result).items() if k != "out"}
            | {"world_size": extra["world_size"], "effective_batch_size": extra["effective_batch_size"]},
            resumed_from=extra["resumed_from"],
            dtype=extra["dtype"],
        )


def run(
    cfg: TrainConfig,
    *,
    progress: ProgressArg = None,
    extra_callbacks: list[Any] | None = None,
    info: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train and write ``cfg.out``; see the module docstring for the folders written.

    Steps: check the output and state folders -> read the lists into datasets -> load the model and the
    loss -> run the sentence-transformers trainer (resuming if asked) -> write the output folder.
    ``progress``: see :data:`synrank.runtime.progress.ProgressArg` (``info=`` is its older spelling); under
    torchrun only the first process reports. ``extra_callbacks``: more transformers ``TrainerCallback``\ s.
    """
    from synrank.runtime import dist_info, set_threads
    from synrank.runtime.progress import reporter

    dist = dist_info()
    # torchrun starts one process per device on a machine: with threads 0 each would take every core.
    set_threads(cfg.threads, processes=dist.local_world_size)
    report = reporter(progress, info=info).only_if(dist.is_main)
    info = report.say
    extra_callbacks = [*([RichProgressCallback()] if report.bars else []), *(extra_callbacks or [])]
    out = Path(cfg.out)
    state = state_dir_for(out)
    done = finished_output(out, _fingerprint(cfg), kind="train", inputs=_inputs(cfg), overwrite=cfg.overwrite)
    if done is not None:
        info(f"{out} is already trained with these settings: nothing to do (--overwrite trains it again)")
        return _recorded_result(out, done)
    if not dist.is_main:
        return _train(cfg, out, state, dist, extra_callbacks, info)
    # One writer for the output and its training state, from before the state is touched: a second run
    # on the same output exits 2 naming this one's pid instead of training into the same checkpoints.
    check_output(out, inputs=_inputs(cfg), overwrite=cfg.overwrite, kind="dir")
    with OutputLock(out, reentrant=True):
        return _train(cfg, out, state, dist, extra_callbacks, info)


def _recorded_result(out: Path, manifest: dict[str, Any]) -> TrainResult:
    """The result a finished run recorded in its manifest (what the run returned then)."""
    recorded = manifest.get("result") or {}
    data = manifest.get("data") or {}
    return TrainResult(
        out=out,
        steps=recorded.get("steps", 0),
        train_queries=recorded.get("train_queries", data.get("train_queries", 0)),
        dev_queries=recorded.get("dev_queries", data.get("dev_queries", 0)),
        seconds=recorded.get("seconds", 0.0),
        final_loss=recorded.get("final_loss"),
        best_eval_loss=recorded.get("best_eval_loss"),
        best_eval_step=recorded.get("best_eval_step"),
    )


def train(
    cfg: TrainConfig,
    *,
    extra_callbacks: list[Any] | None = None,
    info: Callable[[str], None] | None = None,
    progress: ProgressArg = None,
) -> TrainResult:
    """The older name of :func:`run`."""
    return run(cfg, progress=progress, extra_callbacks=extra_callbacks, info=info)


def _train(cfg: TrainConfig, out: Path, state: Path, dist: Any, extra_callbacks: list[Any] | None, info: Callable[[str], None]) -> TrainResult:
    from synrank.runtime.distributed import barrier

    resume_from = _prepare_state(cfg, out, state, dist.is_main)
    barrier()
    try:
        return _run(cfg, out, state, dist, resume_from, extra_callbacks, info)
    except BaseException:
        # A run that fails (bad model, bad lists, full disk, Ctrl-C) before its first checkpoint leaves
        # nothing to resume: its state folder and stamp would only be litter (and block a plain re-run).
        if dist.is_main and last_complete_checkpoint(state) is None:
            ResumeState(state, {}, "fresh").discard()
        raise


def _run(
    cfg: TrainConfig, out: Path, state: Path, dist: Any, resume_from: Path | None, extra_callbacks: list[Any] | None, info: Callable[[str], None]
) -> TrainResult:
    from synrank.runtime import resolve_device, resolve_dtype, set_seed
    from synrank.runtime.distributed import barrier

    set_seed(cfg.seed)
    data = _load_data(cfg, dist.world_size, info)
    device = resolve_device(cfg.device)
    dtype = resolve_dtype(cfg.dtype, device)
    model = _load_model(cfg, device)
    try:
        loss = _build_loss(cfg, model, info)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None

    log_path = state / LOG_NAME
    args = _training_args(cfg, state, device, dtype, dist.world_size, use_eval=data.dev is not None, resuming=resume_from is not None)
    trainer = _build_trainer(cfg, model, loss, data, args, log_path, dist.world_size, extra_callbacks or [])
    if resume_from is not None:
        step = int(resume_from.name.split("-", 1)[1])
        info(f"resuming from {resume_from} (step {step})")
        trainer.loss_sum_before = _loss_sum_at(resume_from)
        if dist.is_main:
            _trim_log(log_path, step)
    elif dist.is_main and log_path.exists():
        log_path.unlink()
    barrier()

    t0 = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    seconds = time.perf_counter() - t0
    st = trainer.state
    evals = [h["eval_loss"] for h in st.log_history if "eval_loss" in h]
    best_step = st.best_global_step if data.dev is not None else None
    if best_step == 0:
        # No evaluation during training beat the one before it (--eval-at-start): like CADeT, which saved
        # the model only when the dev loss improved, keep the untrained model.
        info("note: no evaluation beat the dev loss before training: writing the base model (best checkpoint = step 0)")
        model.load_state_dict(_load_model(cfg, device).state_dict())
    result = TrainResult(
        out=out,
        steps=st.global_step,
        train_queries=len(data.train),
        dev_queries=len(data.dev) if data.dev is not None else 0,
        seconds=round(seconds, 2),
        final_loss=trainer.run_loss(output.training_loss),
        best_eval_loss=min(evals) if evals else None,
        best_eval_step=best_step,
    )
    if result.steps == 0:
        raise InputError("training made no step: nothing was written (too few queries for a batch?)", path=out)
    if dist.is_main:
        extra = {
            "world_size": dist.world_size,
            "effective_batch_size": effective_batch_size(cfg, dist.world_size),
            "resumed_from": str(resume_from) if resume_from else None,
            "dtype": str(dtype).replace("torch.", ""),
        }
        _write_output(cfg, out, model, loss, data, result, log_path, extra)
        if not cfg.keep_checkpoints:
            shutil.rmtree(state, ignore_errors=True)
            stamp_location(state).unlink(missing_ok=True)
    barrier()
    return result
