"""`synrank train`: train a dense retriever list-wise (wasserstein, ws2, kl, kl+infonce, infonce)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from synrank.cli.common import ThreadsOpt, info
from synrank.cli.options import arg, default_of, opt, uses_config
from synrank.config import from_mapping
from synrank.train.config import TrainConfig

HELP = """Train a dense retriever list-wise (wasserstein, ws2, kl, kl+infonce, infonce).

Inputs: `generate --task docs` JSONL (targets = graded levels), `score` training lists (targets = teacher
scores), or real data with --dataset DIR --split train [--negatives search.jsonl]. Writes a
sentence-transformers folder (usable as `synrank index --model OUT`), training_log.jsonl and manifest.json.
Checkpoints live in OUT.train-state/ until training ends; --resume continues an interrupted run.
Multi-process: `torchrun --nproc_per_node N -m synrank train ...`."""


def register(app: typer.Typer) -> None:

    @app.command("train", help=HELP)
    @uses_config(TrainConfig)
    def train_cmd(
        out: Annotated[Path, opt(TrainConfig, "out", "--out", "-o", folder=True, show_default=False)],
        inputs: Annotated[list[Path], arg(TrainConfig, "inputs", show_default=False)] = default_of(TrainConfig, "inputs"),
        model: Annotated[str, opt(TrainConfig, "model", "--model", "-m")] = default_of(TrainConfig, "model"),
        loss: Annotated[str, opt(TrainConfig, "loss")] = default_of(TrainConfig, "loss"),
        dataset: Annotated[Optional[str], opt(TrainConfig, "dataset")] = default_of(TrainConfig, "dataset"),
        split: Annotated[str, opt(TrainConfig, "split")] = default_of(TrainConfig, "split"),
        negatives: Annotated[Optional[str], opt(TrainConfig, "negatives")] = default_of(TrainConfig, "negatives"),
        group_size: Annotated[int, opt(TrainConfig, "group_size")] = default_of(TrainConfig, "group_size"),
        drop_unusable: Annotated[bool, opt(TrainConfig, "drop_unusable")] = default_of(TrainConfig, "drop_unusable"),
        selection: Annotated[str, opt(TrainConfig, "selection")] = default_of(TrainConfig, "selection"),
        redraw: Annotated[bool, opt(TrainConfig, "redraw")] = default_of(TrainConfig, "redraw"),
        target: Annotated[str, opt(TrainConfig, "target")] = default_of(TrainConfig, "target"),
        positive_min_level: Annotated[Optional[float], opt(TrainConfig, "positive_min_level")] = default_of(TrainConfig, "positive_min_level"),
        query_prefix: Annotated[str, opt(TrainConfig, "query_prefix")] = default_of(TrainConfig, "query_prefix"),
        doc_prefix: Annotated[str, opt(TrainConfig, "doc_prefix")] = default_of(TrainConfig, "doc_prefix"),
        max_seq_length: Annotated[Optional[int], opt(TrainConfig, "max_seq_length")] = default_of(TrainConfig, "max_seq_length"),
        dropout: Annotated[Optional[float], opt(TrainConfig, "dropout")] = default_of(TrainConfig, "dropout"),
        similarity: Annotated[str, opt(TrainConfig, "similarity")] = default_of(TrainConfig, "similarity"),
        temperature: Annotated[Optional[float], opt(TrainConfig, "temperature")] = default_of(TrainConfig, "temperature"),
        teacher_temperature: Annotated[Optional[float], opt(TrainConfig, "teacher_temperature")] = default_of(TrainConfig, "teacher_temperature"),
        infonce_weight: Annotated[Optional[float], opt(TrainConfig, "infonce_weight")] = default_of(TrainConfig, "infonce_weight"),
        infonce_temperature: Annotated[Optional[float], opt(TrainConfig, "infonce_temperature")] = default_of(TrainConfig, "infonce_temperature"),
        fn_margin: Annotated[Optional[float], opt(TrainConfig, "fn_margin")] = default_of(TrainConfig, "fn_margin"),
        ot: Annotated[str, opt(TrainConfig, "ot")] = default_of(TrainConfig, "ot"),
        ot_reg: Annotated[Optional[float], opt(TrainConfig, "ot_reg")] = default_of(TrainConfig, "ot_reg"),
        in_batch: Annotated[bool, opt(TrainConfig, "in_batch", "--in-batch/--no-in-batch")] = default_of(TrainConfig, "in_batch"),
        batch_size: Annotated[int, opt(TrainConfig, "batch_size")] = default_of(TrainConfig, "batch_size"),
        mini_batch_size: Annotated[Optional[int], opt(TrainConfig, "mini_batch_size")] = default_of(TrainConfig, "mini_batch_size"),
        lr: Annotated[float, opt(TrainConfig, "lr")] = default_of(TrainConfig, "lr"),
        weight_decay: Annotated[float, opt(TrainConfig, "weight_decay")] = default_of(TrainConfig, "weight_decay"),
        warmup: Annotated[float, opt(TrainConfig, "warmup")] = default_of(TrainConfig, "warmup"),
        warmup_epochs: Annotated[Optional[float], opt(TrainConfig, "warmup_epochs")] = default_of(TrainConfig, "warmup_epochs"),
        warmup_min_steps: Annotated[int, opt(TrainConfig, "warmup_min_steps")] = default_of(TrainConfig, "warmup_min_steps"),
        lr_floor: Annotated[float, opt(TrainConfig, "lr_floor")] = default_of(TrainConfig, "lr_floor"),
        lr_schedule: Annotated[str, opt(TrainConfig, "lr_schedule")] = default_of(TrainConfig, "lr_schedule"),
        grad_accumulation: Annotated[int, opt(TrainConfig, "grad_accumulation")] = default_of(TrainConfig, "grad_accumulation"),
        max_grad_norm: Annotated[float, opt(TrainConfig, "max_grad_norm")] = default_of(TrainConfig, "max_grad_norm"),
        epochs: Annotated[float, opt(TrainConfig, "epochs")] = default_of(TrainConfig, "epochs"),
        max_steps: Annotated[int, opt(TrainConfig, "max_steps")] = default_of(TrainConfig, "max_steps"),
        eval_split: Annotated[float, opt(TrainConfig, "eval_split")] = default_of(TrainConfig, "eval_split"),
        early_stopping_patience: Annotated[Optional[int], opt(TrainConfig, "early_stopping_patience")] = default_of(TrainConfig, "early_stopping_patience"),
        early_stopping_metric: Annotated[str, opt(TrainConfig, "early_stopping_metric")] = default_of(TrainConfig, "early_stopping_metric"),
        eval_at_start: Annotated[bool, opt(TrainConfig, "eval_at_start")] = default_of(TrainConfig, "eval_at_start"),
        save_steps: Annotated[int, opt(TrainConfig, "save_steps")] = default_of(TrainConfig, "save_steps"),
        logging_steps: Annotated[int, opt(TrainConfig, "logging_steps")] = default_of(TrainConfig, "logging_steps"),
        resume: Annotated[bool, opt(TrainConfig, "resume")] = default_of(TrainConfig, "resume"),
        keep_checkpoints: Annotated[bool, opt(TrainConfig, "keep_checkpoints")] = default_of(TrainConfig, "keep_checkpoints"),
        seed: Annotated[int, opt(TrainConfig, "seed")] = default_of(TrainConfig, "seed"),
        device: Annotated[str, opt(TrainConfig, "device")] = default_of(TrainConfig, "device"),
        dtype: Annotated[str, opt(TrainConfig, "dtype")] = default_of(TrainConfig, "dtype"),
        threads: ThreadsOpt = 0,
        trust_remote_code: Annotated[bool, opt(TrainConfig, "trust_remote_code")] = default_of(TrainConfig, "trust_remote_code"),
        overwrite: Annotated[bool, opt(TrainConfig, "overwrite")] = default_of(TrainConfig, "overwrite"),
    ) -> None:
        # Every setting is checked here, before the model, the data or the output folders are touched.
        cfg = from_mapping(TrainConfig, locals())
        from synrank.runtime import dist_info, set_threads
        from synrank.train import train

        dist = dist_info()
        if threads <= 0 and dist.is_distributed:
            # N processes on one machine would each take every core: share them out instead.
            import os

            threads = max(1, len(os.sched_getaffinity(0)) // dist.world_size)
        set_threads(threads)
        main = dist.is_main
        result = train(cfg, info=info if main else (lambda m: None))
        if main:
            info(
                f"trained {result.steps} steps on {result.train_queries} queries in {result.seconds:.1f}s "
                f"(final train loss {result.final_loss:.4f}) -> {result.out}"
            )
