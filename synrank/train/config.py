"""The settings of a training run (:class:`TrainConfig`): one source of defaults, help text and validation.

Kept free of torch and sentence-transformers so the CLI can read defaults and help without loading them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from synrank.config import check_choices, check_positive, overwrite_setting, resume_setting, setting, setting_from
from synrank.errors import ConfigError
from synrank.runtime.config import RuntimeConfig, UsesRuntime
from synrank.train.data import SELECTIONS, TARGETS
from synrank.train.loss_names import LOSSES, OT_METHODS, SIMILARITIES, WASSERSTEIN_IN_BATCH, WASSERSTEIN_OT

# What counts as a better dev evaluation for early stopping: the total dev loss, or (CADeT's rule) the
# total dev loss or the dev KL term.
STOPPING_METRICS = ("loss", "loss-or-kl")
KL_LOSSES = ("kl", "kl+infonce")
SIMILARITY_CHOICES = ("auto", *SIMILARITIES)
LR_SCHEDULES = ("linear", "cadet", "warmup-decay-log")  # the shapes, with their references: synrank/train/schedule.py
# Gradient caching turns on by itself when a step would embed more tokens than this at once (activation
# memory grows with batch x group x length), embedding chunks of GRAD_CACHE_CHUNK_TOKENS instead.
GRAD_CACHE_STEP_TOKENS = 32768
GRAD_CACHE_CHUNK_TOKENS = 8192


def auto_mini_batch_size(mini_batch_size: int | None, batch_size: int, group_size: int, max_length: int) -> int | None:
    """The gradient-caching chunk (texts) for a step of ``batch_size`` queries with ``group_size`` passages each.

    An explicit value wins (0 = off, returned as None); unset, caching is on past the token budget.
    """
    if mini_batch_size is not None:
        return mini_batch_size or None
    if batch_size * (group_size + 1) * max_length <= GRAD_CACHE_STEP_TOKENS:
        return None
    return max(1, GRAD_CACHE_CHUNK_TOKENS // max_length)


@dataclass
class TrainConfig(UsesRuntime):
    """Every setting of a training run: the one source of defaults, help text and validation.

    Settings left at ``None`` (temperatures, ``infonce_weight``, ``ot_reg``, ``fn_margin``) or ``"auto"`` (``similarity``) take the chosen
    loss's own default, which is the reference implementation's setting (see each loss's docstring and
    :func:`synrank.train.losses.loss_defaults`); the manifest records the resolved values.
    """

    out: Path = setting(help="Output model folder (written when training ends).", short="-o", folder=True)
    inputs: list[str] = setting(
        default_factory=list, help="Training list JSONL files (generate/score output); '-' reads stdin.",
        positional=True,
    )
    model: str = setting("minilm", help="Base bi-encoder: alias (minilm), folder or hub id. Pooling and normalisation come from it.", short="-m")
    loss: str = setting(
        "wasserstein",
        help="Loss: wasserstein (per-query OT, POT), ws2 (SyCL release), kl, kl+infonce, infonce.",
        choices=LOSSES,
    )
    # real data instead of list files
    dataset: str | None = setting(None, help="Real data instead of list files: a BEIR folder (corpus, queries, qrels/).")
    split: str = setting("train", help="Qrels split of --dataset to train on.")
    negatives: str | None = setting(
        None, help="`synrank search` JSONL giving hard negatives for --dataset (default: random corpus passages)."
    )
    # lists
    group_size: int = setting(4, help="Passages per query in each step.")
    drop_unusable: bool = setting(
        False,
        help="Skip (and count) lists that cannot be trained on, instead of failing: fewer than --group-size "
        "passages, or no positive for infonce --positive-min-level (e.g. generated lists that lost passages to rejects).",
    )
    selection: str = setting(
        "random",
        help="How to pick the group from a longer list: random, top, stratified (these keep the top passage), "
        "uniform (any passages, as trove's 'random' in the SyCL release).",
        choices=SELECTIONS,
    )
    redraw: bool = setting(
        False,
        help="Draw each query's group anew every epoch (as trove does on every read, used by the SyCL release), "
        "from --seed, the epoch and the query: the same seed gives the same groups, and a resumed run the groups "
        "of an uninterrupted one. Off: one group per query for the whole run. No effect with --selection top; "
        "the dev set's groups stay fixed.",
    )
    target: str = setting(
        "auto", help="Targets from score lists: auto (teacher scores), teacher, levels (the 'label' field).", choices=TARGETS
    )
    positive_min_level: float | None = setting(
        None, help="infonce: passages at or above this level are positives (binary baseline); lists without one are an error."
    )
    query_prefix: str = setting("", help="Text put before every query (e.g. 'query: ' for e5).")
    doc_prefix: str = setting("", help="Text put before every passage (e.g. 'passage: ' for e5).")
    max_seq_length: int | None = setting(None, help="Truncate texts to this many tokens (default: the model's).")
    dropout: float | None = setting(
        None,
        help="Dropout of the transformer (hidden and attention probabilities) while training; default: the "
        "model's own (CADeT trains at 0.0).",
    )
    # loss
    similarity: str = setting(
        "auto",
        help="Student similarity for every loss: cosine (embeddings normalised first) or dot (raw dot product; "
        "the same as cosine for models that normalise, e.g. MiniLM). auto = the loss's reference setting: dot for "
        "ws2/wasserstein (SyCL release, unnormalised Contriever), cosine for kl, kl+infonce, infonce. "
        "The output model is saved with this similarity.",
        choices=SIMILARITY_CHOICES,
    )
    temperature: float | None = setting(
        None,
        help="Student temperature (default per loss: 1.0 for ws2/wasserstein as in the SyCL release, "
        "0.05 for kl, kl+infonce and infonce). Use a small value such as 0.05 with cosine or normalised models.",
    )
    teacher_temperature: float | None = setting(
        None, help="Temperature on targets: default 0.3 for kl/kl+infonce, 1.0 (softmax(labels)) for wasserstein/ws2."
    )
    infonce_weight: float | None = setting(None, help="kl+infonce: weight of the InfoNCE term (default: the loss's, 0.1).")
    infonce_temperature: float | None = setting(
        None, help="kl+infonce: temperature of the InfoNCE term (default: the loss's, 0.01)."
    )
    fn_margin: float | None = setting(
        None,
        help="Mask, as negatives of a query, every in-batch passage whose document scores > margin x the query's "
        "top target in its list (default: off for infonce, 0.6 for kl+infonce; 0 = off).",
    )
    ot: str = setting(WASSERSTEIN_OT, help="wasserstein: exact OT (emd) or entropic (sinkhorn).", choices=OT_METHODS)
    ot_reg: float | None = setting(None, help="wasserstein --ot sinkhorn: entropic regulariser (default: the loss's, 0.05).")
    in_batch: bool = setting(
        WASSERSTEIN_IN_BATCH, help="wasserstein: add other queries' passages (label 0) to each query's distribution, as SyCL does."
    )
    # optimisation
    batch_size: int = setting(32, help="Queries per micro-batch and per process (a step is --grad-accumulation micro-batches).")
    mini_batch_size: int | None = setting(
        None,
        help="Embed at most this many texts at once and cache gradients (GradCache): big batches in bounded memory, "
        "same gradients. Default: on when a step's texts x max length exceed 32768 tokens, with chunks of 8192 "
        "tokens; 0 = off.",
    )
    lr: float = setting(2e-5, help="Peak learning rate (AdamW).")
    weight_decay: float = setting(0.01, help="AdamW weight decay.")
    warmup: float = setting(0.1, help="Warmup: a fraction of the steps (< 1) or a number of steps.")
    warmup_epochs: float | None = setting(
        None,
        help="Warm-up as a number of epochs' optimizer steps instead of --warmup, e.g. 0.5 (CADeT: half an epoch, "
        "train_e5_listwise.py:465).",
    )
    warmup_min_steps: int = setting(0, help="At least this many warm-up steps (CADeT: 10, train_e5_listwise.py:465).")
    lr_floor: float = setting(
        0.0,
        help="The lowest learning rate, as a fraction of the peak: linear decays to it, cadet clips its decay at "
        "it (0.1 in CADeT), warmup-decay-log warms up from it and decays to it (DeepSpeed's warmup_min_lr).",
    )
    lr_schedule: str = setting(
        "linear",
        help="Learning-rate shape: linear (warm-up from 1/(warmup+1), linear decay to --lr-floor), cadet (CADeT: "
        "warm-up step/warmup from 0, then max(--lr-floor, 1 - progress)), warmup-decay-log (SyCL release: "
        "DeepSpeed WarmupDecayLR, log warm-up over max(2, warmup) steps, linear decay to --lr-floor at the end).",
        choices=LR_SCHEDULES,
    )
    grad_accumulation: int = setting(
        1,
        help="Optimizer step every N micro-batches of --batch-size (effective batch = batch size x processes x N); "
        "each micro-batch has its own loss (in-batch passages from that micro-batch only) and the gradients are "
        "averaged. Steps, warm-up, --max-steps and --save-steps count optimizer steps.",
    )
    max_grad_norm: float = setting(1.0, help="Gradient clipping norm.")
    epochs: float = setting(1.0, help="Passes over the training queries.")
    max_steps: int = setting(-1, help="Stop after this many steps (overrides --epochs); -1 = off.")
    eval_split: float = setting(0.0, help="Fraction of queries held out as a dev set (dev loss, best checkpoint).")
    early_stopping_patience: int | None = setting(
        None, help="Stop after N evaluations without a better dev loss (needs --eval-split)."
    )
    early_stopping_metric: str = setting(
        "loss",
        help="What resets --early-stopping-patience: loss (a lower total dev loss than every earlier evaluation), "
        "loss-or-kl (CADeT: a lower total dev loss or a lower dev KL term; kl, kl+infonce). Either way the "
        "checkpoint kept is the one with the lowest total dev loss.",
        choices=STOPPING_METRICS,
    )
    eval_at_start: bool = setting(
        False,
        help="Evaluate the dev set before the first step (logged at step 0), as CADeT does; the untrained model "
        "then counts for the best checkpoint (the base model is written if no later evaluation beats it).",
    )
    save_steps: int = setting(
        500, help="Checkpoint (and evaluate) every N steps; 0 = at the end of every epoch (CADeT evaluates once an epoch)."
    )
    logging_steps: int = setting(10, help="Write a training_log.jsonl record every N steps.")
    seed: int = setting_from(RuntimeConfig, "seed")
    device: str = setting_from(RuntimeConfig, "device")
    dtype: str = setting_from(RuntimeConfig, "dtype")
    # 0 under torchrun: each process of a machine takes its share of the cores (synrank.train.run does it).
    threads: int = setting_from(RuntimeConfig, "threads")
    trust_remote_code: bool = setting_from(
        RuntimeConfig, "trust_remote_code"
    )
    resume: bool = resume_setting()  # a re-run resumes by itself; kept so old command lines still parse
    overwrite: bool = overwrite_setting()
    keep_checkpoints: bool = setting(False, help="Keep OUT.train-state/ after training ends.")

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self.inputs = [str(p) for p in self.inputs or []]
        check_choices(self)
        for name in ("temperature", "teacher_temperature", "infonce_temperature", "lr", "epochs", "ot_reg", "max_grad_norm"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ConfigError(f"must be a positive number (got {value})", setting=name)
        for name in ("weight_decay", "warmup", "infonce_weight"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"must be zero or more (got {value})", setting=name)
        if self.warmup_epochs is not None and not (math.isfinite(self.warmup_epochs) and self.warmup_epochs >= 0):
            raise ConfigError(f"must be zero or more (got {self.warmup_epochs})", setting="warmup_epochs")
        check_positive(self, "warmup_min_steps", minimum=0)
        for name in ("lr_floor", "fn_margin", "dropout"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 1:
                raise ConfigError(f"is a fraction, in [0, 1] (got {value})", setting=name)
        if not 0 <= self.eval_split < 1:
            raise ConfigError(f"is a fraction of the queries, in [0, 1) (got {self.eval_split})", setting="eval_split")
        if self.positive_min_level is not None and not math.isfinite(self.positive_min_level):
            raise ConfigError(f"must be a finite number (got {self.positive_min_level})", setting="positive_min_level")
        check_positive(self, "group_size", "batch_size", "logging_steps", "max_seq_length")
        check_positive(self, "save_steps", minimum=0)
        check_positive(self, "mini_batch_size", minimum=0)
        check_positive(self, "early_stopping_patience")
        check_positive(self, "grad_accumulation")
        if self.max_steps == 0 or self.max_steps < -1:
            raise ConfigError(f"must be at least 1, or -1 for off (got {self.max_steps})", setting="max_steps")
        if self.resume and self.overwrite:
            # Once these meant "continue the checkpoints, replace the finished model"; now --overwrite starts over,
            # and guessing which one is meant could throw away a long training.
            raise ConfigError("continues the training and overwrite starts it over: give one of them", setting="resume")
        if bool(self.inputs) == bool(self.dataset):
            raise ConfigError("give training list files (generate/score JSONL) or a dataset folder, not both and not neither", setting="dataset")
        if self.negatives and not self.dataset:
            raise ConfigError("goes with a dataset folder (negatives for real queries)", setting="negatives")
        if self.loss == "ws2" and self.batch_size < 2:
            raise ConfigError("ws2 fits a Gaussian to the batch's rows: use 2 or more", setting="batch_size")
        for name in ("early_stopping_patience", "eval_at_start"):
            if getattr(self, name) and self.eval_split <= 0:
                raise ConfigError("needs a dev set: set eval_split (e.g. 0.1)", setting=name)
        if self.early_stopping_metric != "loss":
            if self.eval_split <= 0:
                raise ConfigError("needs a dev set: set eval_split (e.g. 0.1)", setting="early_stopping_metric")
            if not self.early_stopping_patience:
                raise ConfigError("steers early stopping: set early_stopping_patience too", setting="early_stopping_metric")
            if self.loss not in KL_LOSSES:
                raise ConfigError(
                    f"{self.early_stopping_metric} needs a loss with a KL term ({', '.join(KL_LOSSES)}), not {self.loss}",
                    setting="early_stopping_metric",
                )
