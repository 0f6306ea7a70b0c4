"""`synrank train`: train a dense retriever list-wise (wasserstein, ws2, kl, kl+infonce, infonce)."""

from __future__ import annotations

from typing import Any

import typer

from synrank.cli.common import info
from synrank.cli.options import config_command
from synrank.config import from_mapping
from synrank.train.config import TrainConfig

HELP = """Train a dense retriever list-wise (wasserstein, ws2, kl, kl+infonce, infonce).

Inputs: `generate --task docs` JSONL (targets = graded levels), `score` training lists (targets = teacher
scores), or real data with --dataset DIR --split train [--negatives search.jsonl]. Writes a
sentence-transformers folder (usable as `synrank index --model OUT`), training_log.jsonl and manifest.json.
Checkpoints live in OUT.train-state/ until training ends; re-running the same command continues an interrupted run.
Multi-process: `torchrun --nproc_per_node N -m synrank train ...`."""


def register(app: typer.Typer) -> None:
    @config_command(app, "train", TrainConfig, help=HELP)
    def train_cmd(settings: dict[str, Any]) -> None:
        # Every setting is checked here, before the model, the data or the output folders are touched.
        cfg = from_mapping(TrainConfig, settings)
        from synrank.runtime import dist_info
        from synrank.train import run

        result = run(cfg, progress=True)  # under torchrun only the first process reports
        if dist_info().is_main:
            info(
                f"trained {result.steps} steps on {result.train_queries} queries in {result.seconds:.1f}s "
                f"(final train loss {result.final_loss:.4f}) -> {result.out}"
            )
