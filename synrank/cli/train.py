"""`synrank train`: train a dense retriever list-wise (wasserstein, ws2, kl, kl+infonce, infonce)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from synrank.cli.common import DeviceOpt, DtypeOpt, OverwriteOpt, SeedOpt, ThreadsOpt, TrustOpt, info

HELP = """Train a dense retriever list-wise (wasserstein, ws2, kl, kl+infonce, infonce).

Inputs: `generate --task docs` JSONL (targets = graded levels), `score` training lists (targets = teacher
scores), or real data with --dataset DIR --split train [--negatives search.jsonl]. Writes a
sentence-transformers folder (usable as `synrank index --model OUT`), training_log.jsonl and manifest.json.
Checkpoints live in OUT.train-state/ until training ends; --resume continues an interrupted run.
Multi-process: `torchrun --nproc_per_node N -m synrank train ...`."""


def register(app: typer.Typer) -> None:
    @app.command("train", help=HELP)
    def train_cmd(
        out: Annotated[Path, typer.Option("--out", "-o", help="Output model folder (written when training ends).", show_default=False)],
        inputs: Annotated[Optional[list[Path]], typer.Argument(help="Training list JSONL files (generate/score output); '-' reads stdin.", show_default=False)] = None,
        model: Annotated[str, typer.Option("--model", "-m", help="Base bi-encoder: alias (minilm), folder or hub id. Pooling and normalisation come from it.")] = "minilm",
        loss: Annotated[str, typer.Option("--loss", help="Loss: wasserstein (per-query OT, POT), ws2 (SyCL release), kl, kl+infonce, infonce.")] = "wasserstein",
        dataset: Annotated[Optional[str], typer.Option("--dataset", help="Real data instead of list files: a BEIR folder (corpus, queries, qrels/).")] = None,
        split: Annotated[str, typer.Option("--split", help="Qrels split of --dataset to train on.")] = "train",
        negatives: Annotated[Optional[str], typer.Option("--negatives", help="`synrank search` JSONL giving hard negatives for --dataset (default: random corpus passages).")] = None,
        group_size: Annotated[int, typer.Option("--group-size", help="Passages per query in each step.")] = 4,
        drop_unusable: Annotated[bool, typer.Option("--drop-unusable", help="Skip (and count) lists that cannot be trained on, instead of failing: fewer than --group-size passages, or no positive for infonce --positive-min-level (e.g. generated lists that lost passages to rejects).")] = False,
        selection: Annotated[str, typer.Option("--selection", help="How to pick the group from a longer list: random, top, stratified (the top passage is always kept).")] = "random",
        target: Annotated[str, typer.Option("--target", help="Targets from score lists: auto (teacher scores), teacher, levels (the 'label' field).")] = "auto",
        positive_min_level: Annotated[Optional[float], typer.Option("--positive-min-level", help="infonce: passages at or above this level are positives (binary baseline); lists without one are an error.")] = None,
        query_prefix: Annotated[str, typer.Option("--query-prefix", help="Text put before every query (e.g. 'query: ' for e5).")] = "",
        doc_prefix: Annotated[str, typer.Option("--doc-prefix", help="Text put before every passage (e.g. 'passage: ' for e5).")] = "",
        max_seq_length: Annotated[Optional[int], typer.Option("--max-seq-length", help="Truncate texts to this many tokens (default: the model's).")] = None,
        temperature: Annotated[float, typer.Option("--temperature", help="Student temperature on the model's similarity (cosine for normalised models).")] = 0.05,
        teacher_temperature: Annotated[Optional[float], typer.Option("--teacher-temperature", help="Temperature on targets: default 0.3 for kl/kl+infonce, 1.0 (softmax(labels)) for wasserstein/ws2.")] = None,
        infonce_weight: Annotated[float, typer.Option("--infonce-weight", help="kl+infonce: weight of the InfoNCE term.")] = 0.1,
        infonce_temperature: Annotated[float, typer.Option("--infonce-temperature", help="kl+infonce: temperature of the InfoNCE term.")] = 0.01,
        fn_margin: Annotated[Optional[float], typer.Option("--fn-margin", help="Mask negatives of a list whose target > margin x the list's top target (default: off for infonce, 0.6 for kl+infonce; 0 = off).")] = None,
        ot: Annotated[str, typer.Option("--ot", help="wasserstein: exact OT (emd) or entropic (sinkhorn).")] = "emd",
        ot_reg: Annotated[float, typer.Option("--ot-reg", help="wasserstein --ot sinkhorn: entropic regulariser.")] = 0.05,
        in_batch: Annotated[bool, typer.Option("--in-batch/--no-in-batch", help="wasserstein: add other queries' passages (label 0) to each query's distribution, as SyCL does.")] = True,
        batch_size: Annotated[int, typer.Option("--batch-size", help="Queries per step and per process.")] = 32,
        mini_batch_size: Annotated[Optional[int], typer.Option("--mini-batch-size", help="Embed at most this many texts at once and cache gradients (GradCache): big batches in bounded memory, same gradients.")] = None,
        lr: Annotated[float, typer.Option("--lr", help="Peak learning rate (AdamW).")] = 2e-5,
        weight_decay: Annotated[float, typer.Option("--weight-decay", help="AdamW weight decay.")] = 0.01,
        warmup: Annotated[float, typer.Option("--warmup", help="Warmup: a fraction of the steps (< 1) or a number of steps.")] = 0.1,
        lr_floor: Annotated[float, typer.Option("--lr-floor", help="Linear decay ends at this fraction of the peak learning rate.")] = 0.0,
        max_grad_norm: Annotated[float, typer.Option("--max-grad-norm", help="Gradient clipping norm.")] = 1.0,
        epochs: Annotated[float, typer.Option("--epochs", help="Passes over the training queries.")] = 1.0,
        max_steps: Annotated[int, typer.Option("--max-steps", help="Stop after this many steps (overrides --epochs); -1 = off.")] = -1,
        eval_split: Annotated[float, typer.Option("--eval-split", help="Fraction of queries held out as a dev set (dev loss, best checkpoint).")] = 0.0,
        early_stopping_patience: Annotated[Optional[int], typer.Option("--early-stopping-patience", help="Stop after N evaluations without a better dev loss (needs --eval-split).")] = None,
        save_steps: Annotated[int, typer.Option("--save-steps", help="Checkpoint (and evaluate) every N steps.")] = 500,
        logging_steps: Annotated[int, typer.Option("--logging-steps", help="Write a training_log.jsonl record every N steps.")] = 10,
        resume: Annotated[bool, typer.Option("--resume", help="Continue from the last complete checkpoint in OUT.train-state/.")] = False,
        keep_checkpoints: Annotated[bool, typer.Option("--keep-checkpoints", help="Keep OUT.train-state/ after training ends.")] = False,
        seed: SeedOpt = 42,
        device: DeviceOpt = "auto",
        dtype: DtypeOpt = "auto",
        threads: ThreadsOpt = 0,
        trust_remote_code: TrustOpt = False,
        overwrite: OverwriteOpt = False,
    ) -> None:
        from synrank.runtime import dist_info, set_threads
        from synrank.train import TrainConfig, train

        dist = dist_info()
        if threads <= 0 and dist.is_distributed:
            # N processes on one machine would each take every core: share them out instead.
            import os

            threads = max(1, len(os.sched_getaffinity(0)) // dist.world_size)
        set_threads(threads)
        cfg = TrainConfig(
            out=out,
            inputs=[str(p) for p in inputs or []],
            model=model,
            loss=loss,
            dataset=dataset,
            split=split,
            negatives=negatives,
            group_size=group_size,
            drop_unusable=drop_unusable,
            selection=selection,
            target=target,
            positive_min_level=positive_min_level,
            query_prefix=query_prefix,
            doc_prefix=doc_prefix,
            max_seq_length=max_seq_length,
            temperature=temperature,
            teacher_temperature=teacher_temperature,
            infonce_weight=infonce_weight,
            infonce_temperature=infonce_temperature,
            fn_margin=fn_margin,
            ot=ot,
            ot_reg=ot_reg,
            in_batch=in_batch,
            batch_size=batch_size,
            mini_batch_size=mini_batch_size,
            lr=lr,
            weight_decay=weight_decay,
            warmup=warmup,
            lr_floor=lr_floor,
            max_grad_norm=max_grad_norm,
            epochs=epochs,
            max_steps=max_steps,
            eval_split=eval_split,
            early_stopping_patience=early_stopping_patience,
            save_steps=save_steps,
            logging_steps=logging_steps,
            seed=seed,
            device=device,
            dtype=dtype,
            trust_remote_code=trust_remote_code,
            resume=resume,
            overwrite=overwrite,
            keep_checkpoints=keep_checkpoints,
        )
        main = dist.is_main
        result = train(cfg, info=info if main else (lambda m: None))
        if main:
            info(
                f"trained {result.steps} steps on {result.train_queries} queries in {result.seconds:.1f}s "
                f"(final train loss {result.final_loss:.4f}) -> {result.out}"
            )
