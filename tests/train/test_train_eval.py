"""Dev evaluation as in CADeT: --eval-at-start (the dev set evaluated before training, logged at step 0, a
candidate for the best model), the dev KL term reported next to the dev loss, and --early-stopping-metric
loss-or-kl (patience reset when the total dev loss or the dev KL term improves)."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from transformers import TrainerCallback, TrainerControl, TrainerState

from synrank.errors import ConfigError
from synrank.train import TrainConfig, train
from synrank.train.callbacks import DevLossStopping
from synrank.train.data import read_train_lists, split_dev
from helpers import weights, write_scored, write_synth

COMMON = ("--dtype", "fp32", "--threads", "1", "--logging-steps", "1")


# --- the stopping rule ---------------------------------------------------------------------------------------


def cadet_rule(evals: list[tuple[float, float]], patience: int) -> list[bool]:
    """The reference's loop (cadet-dense-retrieval train_e5_listwise.py, main), written out: after each
    evaluation, stop or not. ``evals`` are (total dev loss, dev KL term) pairs."""
    best_rank = best_overall = float("inf")
    non_improvement_count = 0
    stops = []
    for overall, rank in evals:
        non_improvement_count += 1
        if rank < best_rank:
            best_rank = rank
            non_improvement_count = 0
        if overall < best_overall:
            best_overall = overall
            non_improvement_count = 0
        stops.append(non_improvement_count >= patience)
    return stops


# (total dev loss, dev KL), and by hand: evaluations in a row without improvement under each rule
EVALS = [
    (1.00, 0.90),  # first: both improve            loss-or-kl 0   loss 0
    (1.05, 0.85),  # KL improves, total does not     0              1
    (1.02, 0.88),  # neither                         1              2 -> loss stops here (patience 2)
    (0.99, 0.95),  # total improves                  0
    (1.00, 0.86),  # neither (0.86 > 0.85)           1
    (1.01, 0.84),  # KL improves                     0
    (1.10, 0.90),  # neither                         1
    (1.20, 0.90),  # neither                         2 -> loss-or-kl stops here
]


def _drive(cb: DevLossStopping, evals) -> list[bool]:
    stops = []
    for loss, kl in evals:
        control = TrainerControl()
        cb.on_evaluate(None, TrainerState(), control, metrics={"eval_loss": loss, "eval_kl": kl, "eval_infonce": 0.0})
        stops.append(control.should_training_stop)
    return stops


def test_loss_or_kl_follows_the_reference_and_loss_only_the_total():
    assert _drive(DevLossStopping(2, "loss-or-kl"), EVALS) == [False] * 7 + [True]
    assert _drive(DevLossStopping(2, "loss-or-kl"), EVALS) == cadet_rule(EVALS, 2)
    assert _drive(DevLossStopping(2, "loss"), EVALS)[:3] == [False, False, True]
    assert _drive(DevLossStopping(3, "loss-or-kl"), EVALS) == [False] * 8
    rng = random.Random(0)
    for patience in (1, 2, 3):
        for _ in range(200):
            evals = [(round(rng.uniform(0, 1), 2), round(rng.uniform(0, 1), 2)) for _ in range(12)]
            assert _drive(DevLossStopping(patience, "loss-or-kl"), evals) == cadet_rule(evals, patience)
            # the total alone: the reference's rule with a KL term that never improves
            assert _drive(DevLossStopping(patience, "loss"), evals) == cadet_rule([(t, 1.0) for t, _ in evals], patience)


def test_the_count_and_bests_survive_a_resume():
    """The callback's state goes into every checkpoint (trainer_state.json) and is taken back on resume."""
    first = DevLossStopping(2, "loss-or-kl")
    _drive(first, EVALS[:5])
    saved = json.loads(json.dumps(first.state()))  # as written to and read from trainer_state.json
    resumed = DevLossStopping(2, "loss-or-kl")
    state = TrainerState(global_step=40, stateful_callbacks={"DevLossStopping": saved})
    resumed.on_train_begin(None, state, TrainerControl())
    assert (resumed.best_loss, resumed.best_kl, resumed.bad_evals) == (0.99, 0.85, 1)
    assert _drive(resumed, EVALS[5:]) == cadet_rule(EVALS, 2)[5:]
    fresh = DevLossStopping(2, "loss-or-kl")
    fresh.on_train_begin(None, TrainerState(global_step=0, stateful_callbacks={"DevLossStopping": saved}), TrainerControl())
    assert fresh.bad_evals == 0 and fresh.best_loss is None  # a new run starts from nothing


def test_settings_are_checked(tmp_path, cli):
    base = dict(out=tmp_path / "o", inputs=["x.jsonl"], loss="kl+infonce")
    with pytest.raises(ConfigError, match="needs a dev set") as exc:
        TrainConfig(**base, eval_at_start=True)
    assert exc.value.setting == "eval_at_start"
    with pytest.raises(ConfigError, match="needs a dev set"):
        TrainConfig(**base, early_stopping_metric="loss-or-kl")
    with pytest.raises(ConfigError, match="early_stopping_patience"):
        TrainConfig(**base, early_stopping_metric="loss-or-kl", eval_split=0.1)
    with pytest.raises(ConfigError, match="needs a loss with a KL term"):
        TrainConfig(**(base | {"loss": "wasserstein"}), early_stopping_metric="loss-or-kl", eval_split=0.1, early_stopping_patience=2)
    with pytest.raises(ConfigError, match="unknown value"):
        TrainConfig(**base, early_stopping_metric="kl")
    TrainConfig(**(base | {"loss": "kl"}), early_stopping_metric="loss-or-kl", eval_split=0.1, early_stopping_patience=2, eval_at_start=True)
    src = write_synth(tmp_path / "s.jsonl", n=4)
    r = cli("train", src, "--out", tmp_path / "o", "--loss", "infonce", "--eval-split", "0.25", "--early-stopping-patience", "2",
            "--early-stopping-metric", "loss-or-kl")
    assert r.code == 2 and "Traceback" not in r.stderr
    (line,) = [x for x in r.stderr.splitlines() if x.strip()]
    assert "--early-stopping-metric" in line and "KL term" in line
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.train-state").exists()


# --- training runs ------------------------------------------------------------------------------------------


def _log(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "training_log.jsonl").read_text().splitlines()]


def test_eval_at_start_logs_the_dev_loss_and_its_kl_term_at_step_0(tmp_path, cli, tiny_bi_encoder):
    """The step-0 record's eval_kl is the KL term of the untrained model on the dev lists, computed here from
    the model's embeddings with the formula of CADeT's rank_loss (student tau 0.05 on cosine, teacher tau 0.3),
    over 5 dev lists in batches of 4 and 1; eval_loss is eval_kl + 0.1 x eval_infonce."""
    from sentence_transformers import SentenceTransformer

    src = write_scored(tmp_path / "lists.jsonl", n=16)
    out = tmp_path / "ckpt"
    r = cli(
        "train", src, "--model", tiny_bi_encoder, "--loss", "kl+infonce", "--out", out, "--group-size", "5", "--batch-size", "4",
        "--eval-split", "0.3", "--eval-at-start", "--save-steps", "1", "--max-steps", "2", "--lr", "1e-3", "--seed", "11", *COMMON,
    )
    assert r.code == 0, r.stderr
    evals = [rec for rec in _log(out) if "eval_loss" in rec]
    assert [rec["step"] for rec in evals] == [0, 1, 2]
    for rec in evals:
        assert set(rec) >= {"eval_loss", "eval_kl", "eval_infonce"}
        assert rec["eval_loss"] == pytest.approx(rec["eval_kl"] + 0.1 * rec["eval_infonce"], rel=1e-5, abs=1e-6)
    _, dev = split_dev(read_train_lists([src]), 0.3, seed=11)
    assert len(dev) == 5
    model = SentenceTransformer(str(tiny_bi_encoder), device="cpu")
    kls = []
    for lst in dev:
        q = F.normalize(model.encode([lst.query], convert_to_tensor=True), dim=-1)
        p = F.normalize(model.encode(lst.texts, convert_to_tensor=True), dim=-1)
        student = torch.log_softmax((p @ q[0]).double() / 0.05, dim=0)
        teacher = torch.log_softmax(torch.tensor(lst.targets, dtype=torch.float64) / 0.3, dim=0)
        kls.append(float((teacher.exp() * (teacher - student)).sum()))
    assert evals[0]["eval_kl"] == pytest.approx(sum(kls) / len(kls), rel=1e-4, abs=1e-5)
    assert evals[1]["eval_kl"] != pytest.approx(evals[0]["eval_kl"], rel=1e-6)  # the model trained in between


def _reversed_dev_lists(path: Path, n: int, fraction: float, seed: int) -> Path:
    """One query and four passages in every list; the training lists rank them one way and the lists the dev
    split will hold (same split as `train`) the other way, so training can only make the dev loss worse."""
    _, dev = split_dev(list(range(n)), fraction, seed)
    texts = ["protein cell gene", "cancer virus vaccine", "brain heart blood", "drug trial mouse"]
    with open(path, "w") as fh:
        for i in range(n):
            scores = [1.0, 0.6, 0.3, 0.0] if i not in dev else [0.0, 0.3, 0.6, 1.0]
            cands = [{"doc_id": f"q{i}-d{j}", "text": t, "score": s} for j, (t, s) in enumerate(zip(texts, scores))]
            fh.write(json.dumps({"query_id": f"q{i}", "query": "protein dose risk", "candidates": cands}) + "\n")
    return path


def test_the_untrained_model_is_kept_when_no_evaluation_beats_it(tmp_path, cli, tiny_bi_encoder):
    """CADeT saves the model at the evaluation before training and then only when the total dev loss improves:
    when training only worsens it, its output is the base model. Patience 2 stops after two bad evaluations."""
    src = _reversed_dev_lists(tmp_path / "lists.jsonl", n=8, fraction=0.25, seed=5)
    out = tmp_path / "ckpt"
    r = cli(
        "train", src, "--model", tiny_bi_encoder, "--loss", "kl", "--out", out, "--batch-size", "3", "--eval-split", "0.25",
        "--eval-at-start", "--early-stopping-patience", "2", "--early-stopping-metric", "loss-or-kl", "--save-steps", "1",
        "--max-steps", "8", "--lr", "1e-2", "--warmup", "0", "--seed", "5", *COMMON,
    )
    assert r.code == 0, r.stderr
    evals = [rec for rec in _log(out) if "eval_loss" in rec]
    assert [rec["step"] for rec in evals] == [0, 1, 2]  # stopped after two evaluations without improvement
    assert all(rec["eval_loss"] > evals[0]["eval_loss"] and rec["eval_kl"] > evals[0]["eval_kl"] for rec in evals[1:])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["result"]["steps"] == 2 and manifest["result"]["best_eval_step"] == 0
    assert manifest["result"]["best_eval_loss"] == evals[0]["eval_loss"]
    assert "base model" in r.stderr
    a, b = weights(out), weights(tiny_bi_encoder)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class InterruptAfterSave(TrainerCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            raise KeyboardInterrupt


@pytest.mark.slow
def test_a_resumed_run_does_not_evaluate_again_at_start_and_keeps_its_stopping_count(tmp_path, tiny_bi_encoder):
    src = _reversed_dev_lists(tmp_path / "lists.jsonl", n=8, fraction=0.25, seed=5)
    kw = dict(
        inputs=[str(src)], model=str(tiny_bi_encoder), loss="kl", batch_size=3, eval_split=0.25, eval_at_start=True,
        early_stopping_patience=2, early_stopping_metric="loss-or-kl", save_steps=1, max_steps=8, lr=1e-2, warmup=0, seed=5,
        dtype="fp32", logging_steps=1,
    )
    full = train(TrainConfig(out=tmp_path / "full", **kw))
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(out=tmp_path / "part", **kw), extra_callbacks=[InterruptAfterSave(1)])
    part = train(TrainConfig(out=tmp_path / "part", resume=True, **kw))
    assert part.steps == full.steps == 2  # the count of bad evaluations (1 at step 1) came back with the checkpoint
    full_evals = [(rec["step"], rec["eval_loss"]) for rec in _log(tmp_path / "full") if "eval_loss" in rec]
    part_evals = [(rec["step"], rec["eval_loss"]) for rec in _log(tmp_path / "part") if "eval_loss" in rec]
    assert [s for s, _ in part_evals] == [0, 1, 2]  # step 0 once: no second evaluation when the run resumed
    assert all(math.isclose(a[1], b[1], rel_tol=1e-5) for a, b in zip(full_evals, part_evals))
    assert part.best_eval_step == full.best_eval_step == 0


def test_save_steps_zero_evaluates_at_the_end_of_every_epoch(tmp_path, tiny_bi_encoder):
    """CADeT evaluates before training and after every epoch (train_e5_listwise.py:489-517): --save-steps 0.
    12 training lists at batch 4 = 3 steps an epoch; 3 epochs -> evaluations at steps 0, 3, 6, 9."""
    src = write_scored(tmp_path / "lists.jsonl", n=16)
    result = train(TrainConfig(
        out=tmp_path / "o", inputs=[str(src)], model=str(tiny_bi_encoder), loss="kl+infonce", batch_size=4, epochs=3,
        eval_split=0.25, eval_at_start=True, save_steps=0, dtype="fp32", logging_steps=1, lr=1e-4, seed=1,
    ))
    assert result.steps == 9
    assert [rec["step"] for rec in _log(tmp_path / "o") if "eval_loss" in rec] == [0, 3, 6, 9]
