"""Trainer glue: data -> dataset -> loss -> sentence-transformers trainer -> an atomically written folder.

Layout of a run writing ``--out OUT``:

- ``OUT.train-state/``: checkpoints (``checkpoint-N/``, each marked complete once fully written) and
  ``training_log.jsonl`` while training runs; ``--resume`` continues from its last complete checkpoint.
- ``OUT/``: appears only when training has finished (built in a temporary sibling and renamed), holding
  the sentence-transformers model, ``training_log.jsonl`` and ``manifest.json``. The state folder is
  then removed unless ``keep_checkpoints``.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from synrank.errors import ConfigError, InputError
from synrank.formats import atomic_dir, atomic_write, make_manifest, write_manifest
from synrank.train.callbacks import (
    COMPLETE_MARKER,
    CheckpointMarkerCallback,
    JsonlLogCallback,
    RichProgressCallback,
    SkipFinalCheckpointCallback,
)
from synrank.train.data import (
    SELECTIONS,
    TrainList,
    build_columns,
    check_positives,
    read_train_lists,
    split_dev,
    to_dataset,
)
from synrank.train.losses import LOSSES
from synrank.train.schedule import WarmupLinearFloor

LOG_NAME = "training_log.jsonl"


@dataclass
class TrainConfig:
    out: Path
    inputs: list[str] = field(default_factory=list)
    model: str = "minilm"
    loss: str = "wasserstein"
    # real data instead of list files
    dataset: str | None = None
    split: str = "train"
    negatives: str | None = None
    # lists
    group_size: int = 4
    drop_unusable: bool = False  # skip lists that cannot form a group (too short, no infonce positive)
    selection: str = "random"
    target: str = "auto"
    positive_min_level: float | None = None
    query_prefix: str = ""
    doc_prefix: str = ""
    max_seq_length: int | None = None
    # loss
    temperature: float = 0.05
    teacher_temperature: float | None = None
    infonce_weight: float = 0.1
    infonce_temperature: float = 0.01
    fn_margin: float | None = None
    ot: str = "emd"
    ot_reg: float = 0.05
    in_batch: bool = True
    # optimisation
    batch_size: int = 32
    mini_batch_size: int | None = None
    lr: float = 2e-5
    weight_decay: float = 0.01
    warmup: float = 0.1
    lr_floor: float = 0.0
    max_grad_norm: float = 1.0
    epochs: float = 1.0
    max_steps: int = -1
    eval_split: float = 0.0
    early_stopping_patience: int | None = None
    save_steps: int = 500
    logging_steps: int = 10
    seed: int = 42
    device: str = "auto"
    dtype: str = "auto"
    trust_remote_code: bool = False
    resume: bool = False
    overwrite: bool = False
    keep_checkpoints: bool = False


@dataclass
class TrainResult:
    out: Path
    steps: int
    train_queries: int
    dev_queries: int
    seconds: float
    final_loss: float | None
    best_eval_loss: float | None


def state_dir_for(out: Path) -> Path:
    return out.with_name(out.name + ".train-state")


def validate(cfg: TrainConfig) -> None:
    if cfg.loss not in LOSSES:
        raise ConfigError(f"unknown loss {cfg.loss!r} (use one of {', '.join(LOSSES)})")
    if cfg.selection not in SELECTIONS:
        raise ConfigError(f"unknown --selection {cfg.selection!r} (use one of {', '.join(SELECTIONS)})")
    if cfg.ot not in ("emd", "sinkhorn"):
        raise ConfigError(f"unknown --ot {cfg.ot!r} (use emd or sinkhorn)")
    if bool(cfg.inputs) == bool(cfg.dataset):
        raise ConfigError("give training list files (generate/score JSONL) or --dataset DIR, not both and not neither")
    if cfg.negatives and not cfg.dataset:
        raise ConfigError("--negatives goes with --dataset (negatives for real queries)")
    for name in ("group_size", "batch_size", "save_steps", "logging_steps"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")
    if cfg.mini_batch_size is not None and cfg.mini_batch_size < 1:
        raise ConfigError("--mini-batch-size must be at least 1")
    if cfg.temperature <= 0 or cfg.infonce_temperature <= 0 or (cfg.teacher_temperature is not None and cfg.teacher_temperature <= 0):
        raise ConfigError("temperatures must be positive")
    if cfg.loss == "ws2" and cfg.batch_size < 2:
        raise ConfigError("--loss ws2 fits a Gaussian to the batch's rows: use --batch-size 2 or more")
    if cfg.early_stopping_patience and cfg.eval_split <= 0:
        raise ConfigError("--early-stopping-patience needs a dev set: add --eval-split (e.g. 0.1)")
    if not 0 <= cfg.lr_floor <= 1:
        raise ConfigError("--lr-floor is a fraction of the peak learning rate, in [0, 1]")


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


def make_loss(cfg: TrainConfig, model: Any, kind: str) -> Any:
    from synrank.train import losses as L

    common = {"mini_batch_size": cfg.mini_batch_size}
    teacher_t = cfg.teacher_temperature
    if cfg.loss == "infonce":
        return L.InfoNCELoss(
            model, temperature=cfg.temperature, positive_min_level=cfg.positive_min_level, fn_margin=cfg.fn_margin, **common
        )
    if cfg.loss == "kl":
        return L.KLDistillationLoss(model, temperature=cfg.temperature, teacher_temperature=teacher_t or 0.3, **common)
    if cfg.loss == "kl+infonce":
        return L.KLInfoNCELoss(
            model,
            temperature=cfg.temperature,
            teacher_temperature=teacher_t or 0.3,
            infonce_weight=cfg.infonce_weight,
            infonce_temperature=cfg.infonce_temperature,
            fn_margin=0.6 if cfg.fn_margin is None else cfg.fn_margin,
            **common,
        )
    if cfg.loss == "wasserstein":
        return L.WassersteinLoss(
            model,
            temperature=cfg.temperature,
            label_temperature=teacher_t or 1.0,
            in_batch=cfg.in_batch,
            method=cfg.ot,
            reg=cfg.ot_reg,
            **common,
        )
    return L.WS2Loss(model, temperature=cfg.temperature, label_temperature=teacher_t or 1.0, **common)


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

    class ListwiseTrainer(SentenceTransformerTrainer):
        """The sentence-transformers trainer with warmup + linear decay to a floor."""

        lr_floor: float = 0.0

        def create_scheduler(self, num_training_steps: int, optimizer=None):
            if self.lr_scheduler is None:
                warm = self.args.get_warmup_steps(num_training_steps)
                fn = WarmupLinearFloor(warm, num_training_steps, self.lr_floor)
                self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer or self.optimizer, fn)
                self._created_lr_scheduler = True
            return self.lr_scheduler

    return ListwiseTrainer


def train(cfg: TrainConfig, *, extra_callbacks: list[Any] | None = None, info=lambda msg: None) -> TrainResult:
    """Train and write ``cfg.out``; see the module docstring for the folders written."""
    validate(cfg)
    from synrank.runtime import dist_info, resolve_device, resolve_dtype, set_seed
    from synrank.runtime.distributed import barrier

    dist = dist_info()
    out = Path(cfg.out)
    state = state_dir_for(out)
    if out.exists() and any(out.iterdir()) and not cfg.overwrite:
        raise InputError("output folder exists and is not empty (pass --overwrite to replace it)", path=out)
    resume_from: Path | None = None
    if state.exists():
        if cfg.resume:
            resume_from = last_complete_checkpoint(state)
        elif cfg.overwrite:
            if dist.is_main:
                shutil.rmtree(state)
        else:
            raise InputError(
                "a previous run left its training state here: pass --resume to continue it or --overwrite to start over",
                path=state,
            )
    barrier()

    set_seed(cfg.seed)
    lists = load_lists(cfg, info)
    train_lists, dev_lists = split_dev(lists, cfg.eval_split, cfg.seed)
    kind = train_lists[0].kind
    if cfg.loss in ("kl", "kl+infonce") and kind != "teacher":
        info(f"note: --loss {cfg.loss} on graded levels: the levels stand in for teacher scores")
    build = dict(group_size=cfg.group_size, selection=cfg.selection, query_prefix=cfg.query_prefix, doc_prefix=cfg.doc_prefix)
    train_ds = to_dataset(build_columns(train_lists, seed=cfg.seed, **build))
    dev_ds = to_dataset(build_columns(dev_lists, seed=cfg.seed + 1, **build)) if dev_lists else None
    if len(train_ds) < cfg.batch_size * dist.world_size and cfg.max_steps <= 0:
        info(f"note: {len(train_ds)} training queries for a global batch of {cfg.batch_size * dist.world_size}")

    device = resolve_device(cfg.device)
    dtype = resolve_dtype(cfg.dtype, device)
    import torch
    from sentence_transformers import SentenceTransformerTrainingArguments
    from transformers import EarlyStoppingCallback
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from synrank.models import load_sentence_transformer

    model = load_sentence_transformer(cfg.model, device=str(device), trust_remote_code=cfg.trust_remote_code)
    if cfg.max_seq_length:
        model.max_seq_length = cfg.max_seq_length
    # Widget examples for the model card run the model on data at every save: slow, and not our card.
    model.model_card_data.generate_widget_examples = False
    try:
        loss = make_loss(cfg, model, kind)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None

    use_eval = dev_ds is not None
    args = SentenceTransformerTrainingArguments(
        output_dir=str(state),
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
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
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=2 if not use_eval else 3,
        eval_strategy="steps" if use_eval else "no",
        eval_steps=cfg.save_steps if use_eval else None,
        load_best_model_at_end=use_eval,
        metric_for_best_model="eval_loss" if use_eval else None,
        greater_is_better=False if use_eval else None,
        # Every process needs equal batches to gather in-batch negatives; lists need full batches for ws2.
        dataloader_drop_last=dist.is_distributed or cfg.loss == "ws2",
        ddp_backend="gloo" if device.type == "cpu" and dist.is_distributed else None,
        # e.g. BERT's pooler is unused by mean pooling: DDP must not wait for its gradients.
        ddp_find_unused_parameters=True if dist.is_distributed else None,
        disable_tqdm=True,
        report_to="none",
        log_level="warning",
    )
    trainer_cls = _trainer_class()
    trainer_cls.lr_floor = cfg.lr_floor
    log_path = state / LOG_NAME
    callbacks = [
        CheckpointMarkerCallback(),
        JsonlLogCallback(log_path, cfg.batch_size * dist.world_size),
        RichProgressCallback(),
        SkipFinalCheckpointCallback(),
    ]
    if cfg.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience))
    callbacks.extend(extra_callbacks or [])
    trainer = trainer_cls(
        model=model, args=args, train_dataset=train_ds, eval_dataset=dev_ds, loss=loss, callbacks=callbacks
    )
    for cb in (PrinterCallback, ProgressCallback):  # they print to stdout / draw tqdm; we log and draw our own
        trainer.remove_callback(cb)
    for cb in list(trainer.callback_handler.callbacks):
        # The model-card callback runs the model on dataset rows for "widget examples" behind a tqdm bar.
        if type(cb).__name__.endswith("ModelCardCallback"):
            trainer.remove_callback(cb)

    if resume_from is not None:
        step = int(resume_from.name.split("-", 1)[1])
        info(f"resuming from {resume_from} (step {step})")
        if dist.is_main:
            _trim_log(log_path, step)
    elif dist.is_main and log_path.exists():
        log_path.unlink()
    barrier()
    t0 = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    seconds = time.perf_counter() - t0
    st = trainer.state
    best_eval = None
    evals = [h["eval_loss"] for h in st.log_history if "eval_loss" in h]
    if evals:
        best_eval = min(evals)
    result = TrainResult(
        out=out,
        steps=st.global_step,
        train_queries=len(train_ds),
        dev_queries=len(dev_ds) if dev_ds is not None else 0,
        seconds=round(seconds, 2),
        final_loss=output.training_loss,
        best_eval_loss=best_eval,
    )
    if dist.is_main:
        config = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}
        with atomic_dir(out, overwrite=cfg.overwrite) as tmp:
            model.save(str(tmp))
            if log_path.exists():
                shutil.copyfile(log_path, tmp / LOG_NAME)
            manifest = make_manifest(
                "train",
                model=cfg.model,
                config=config,
                loss=loss.get_config_dict() | {"name": cfg.loss},
                data={"kind": kind, "train_queries": result.train_queries, "dev_queries": result.dev_queries},
                result={k: v for k, v in asdict(result).items() if k != "out"} | {"world_size": dist.world_size},
                resumed_from=str(resume_from) if resume_from else None,
                dtype=str(dtype).replace("torch.", ""),
            )
            write_manifest(manifest, tmp / "manifest.json")
        if not cfg.keep_checkpoints:
            shutil.rmtree(state, ignore_errors=True)
    barrier()
    return result
