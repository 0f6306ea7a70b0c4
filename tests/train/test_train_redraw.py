"""--redraw: each query's group is drawn anew every epoch (trove's `random` passage selection draws on every
read), deterministically from the seed, the epoch and the query; a resumed run and a DDP run see the groups
of one uninterrupted single-process run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from math import comb, sqrt
from pathlib import Path

import pytest
import torch
from transformers import TrainerCallback

import synrank.train.losses.base as base
from synrank.train import TrainConfig, train
from synrank.train.data import TrainList, doc_key, redraw_dataset
from helpers import weights

N_LISTS, LIST_LEN, GROUP = 8, 10, 4


def _list(i: int, n: int = LIST_LEN) -> TrainList:
    # distinct targets, the top one at position 8 so that "top" is not simply "first"
    targets = [float((j * 7 + 3) % n) / n for j in range(n)]
    return TrainList(f"q{i}", f"query {i}", [f"q{i}-d{j}" for j in range(n)], [f"text {i} {j}" for j in range(n)], targets, "teacher")


def _groups(ds, redraw, epoch: int) -> list[list[str]]:
    redraw.epoch = epoch
    texts = []
    for row in ds.__getitems__(list(range(len(ds)))):
        texts.append([row[f"passage_{j + 1}"] for j in range(GROUP)])
    return texts


def test_groups_change_with_the_epoch_and_repeat_with_the_seed():
    lists = [_list(i) for i in range(N_LISTS)]
    ds, redraw = redraw_dataset(lists, group_size=GROUP, selection="random", seed=5, query_prefix="q: ", doc_prefix="p: ")
    row = ds[3]
    assert list(row) == ["query", *[f"passage_{j + 1}" for j in range(GROUP)], "label", "doc_keys"]
    assert row["query"] == "q: query 3" and all(row[f"passage_{j + 1}"].startswith("p: text 3 ") for j in range(GROUP))
    # each passage keeps its own target and document key
    for j in range(GROUP):
        k = int(row[f"passage_{j + 1}"].rsplit(" ", 1)[1])
        assert row["label"][j] == lists[3].targets[k] and row["doc_keys"][j] == doc_key(f"q3-d{k}")
    e0, e1 = _groups(ds, redraw, 0), _groups(ds, redraw, 1)
    assert sum(a != b for a, b in zip(e0, e1)) >= N_LISTS - 1  # one repeat has probability 1/C(9,3) per query
    assert e0 == _groups(ds, redraw, 0)  # reading again gives the same groups
    redraw.epoch = 1
    one_by_one = {i: [ds[i][f"passage_{j + 1}"] for j in range(GROUP)] for i in reversed(range(N_LISTS))}
    assert [one_by_one[i] for i in range(N_LISTS)] == e1  # whatever the reads and their order
    again, redraw2 = redraw_dataset(lists, group_size=GROUP, selection="random", seed=5, query_prefix="q: ", doc_prefix="p: ")
    assert _groups(again, redraw2, 1) == e1
    other, redraw3 = redraw_dataset(lists, group_size=GROUP, selection="random", seed=6, query_prefix="q: ", doc_prefix="p: ")
    assert _groups(other, redraw3, 1) != e1
    top, redraw4 = redraw_dataset(lists, group_size=GROUP, selection="top", seed=5)
    assert _groups(top, redraw4, 0) == _groups(top, redraw4, 1)  # nothing to draw


@pytest.mark.parametrize("selection", ["random", "uniform"])
def test_drawn_groups_follow_the_selection_definition(selection):
    """Over many epochs, the frequency of each passage in one query's group is that of the definition:
    random keeps the top passage and draws k-1 of the other n-1 uniformly (each in (k-1)/(n-1) of the
    groups); uniform draws k of n (each in k/n), ordered by target."""
    lst = _list(0)
    n, k, epochs = LIST_LEN, GROUP, 600
    ds, redraw = redraw_dataset([lst], group_size=k, selection=selection, seed=1)
    top = max(range(n), key=lambda j: lst.targets[j])
    counts: Counter[int] = Counter()
    subsets: Counter[tuple[int, ...]] = Counter()
    for epoch in range(epochs):
        redraw.epoch = epoch
        row = ds[0]
        chosen = [int(row[f"passage_{j + 1}"].rsplit(" ", 1)[1]) for j in range(k)]
        assert len(set(chosen)) == k
        assert row["label"] == sorted(row["label"], reverse=True) or selection == "random"
        counts.update(chosen)
        subsets[tuple(sorted(chosen))] += 1
        if selection == "random":
            assert chosen[0] == top
    for j in range(n):
        if selection == "random" and j == top:
            assert counts[j] == epochs
            continue
        p = (k - 1) / (n - 1) if selection == "random" else k / n
        mean, sd = epochs * p, sqrt(epochs * p * (1 - p))
        assert abs(counts[j] - mean) < 4.5 * sd, (j, counts[j], mean)
    # many different groups, none dominating: C(9,3) = 84 possible (random), C(10,4) = 210 (uniform)
    possible = comb(n - 1, k - 1) if selection == "random" else comb(n, k)
    assert len(subsets) > 0.75 * min(possible, epochs) and max(subsets.values()) < 6 * epochs / possible + 5


# --- training runs: what the loss receives -------------------------------------------------------------------


def _write_lists(path: Path, n: int = N_LISTS) -> Path:
    with open(path, "w") as fh:
        for i in range(n):
            cands = [
                {"doc_id": f"q{i}-d{j}", "text": f"protein {i} cell {j} gene", "score": round(1.0 - j / LIST_LEN, 3)}
                for j in range(LIST_LEN)
            ]
            fh.write(json.dumps({"query_id": f"q{i}", "query": f"protein {i} query", "candidates": cands}) + "\n")
    return path


PASSAGE = {doc_key(f"q{i}-d{j}"): (i, j) for i in range(N_LISTS) for j in range(LIST_LEN)}
GATHER = base.gather_global


class Recorder:
    """The (query, passages) of every row of every global batch the loss sees."""

    def __init__(self, monkeypatch=None) -> None:
        self.batches: list[list[tuple[int, frozenset[int]]]] = []
        if monkeypatch is None:
            return

        def gather(queries, passages, targets, doc_keys):
            out = GATHER(queries, passages, targets, doc_keys)
            self.add(out[3].tolist())
            return out

        monkeypatch.setattr(base, "gather_global", gather)

    def add(self, batch_keys: list[list[int]]) -> None:
        rows = []
        for keys in batch_keys:
            ids = [PASSAGE[key] for key in keys]
            assert len({q for q, _ in ids}) == 1  # a row is one query's group
            rows.append((ids[0][0], frozenset(j for _, j in ids)))
        self.batches.append(rows)

    def epochs(self, steps_per_epoch: int) -> list[dict[int, frozenset[int]]]:
        """{query: group} for each epoch (every query once per epoch)."""
        out = []
        for e in range(0, len(self.batches), steps_per_epoch):
            rows = [r for batch in self.batches[e : e + steps_per_epoch] for r in batch]
            groups = dict(rows)
            assert len(groups) == len(rows) == N_LISTS
            out.append(groups)
        return out


def _cfg(src: Path, model: Path, out: Path, **kw) -> TrainConfig:
    base = dict(
        out=out, inputs=[str(src)], model=str(model), loss="kl", batch_size=4, group_size=GROUP, epochs=2,
        save_steps=100, logging_steps=1, dtype="fp32", lr=1e-3, seed=3, redraw=True,
    )
    base.update(kw)
    return TrainConfig(**base)


def test_a_two_epoch_run_trains_on_new_groups_each_epoch_and_repeats_with_the_seed(tmp_path, tiny_bi_encoder, monkeypatch):
    src = _write_lists(tmp_path / "lists.jsonl")
    runs = {}
    for name, kw in {"a": {}, "b": {}, "seed": {"seed": 4}, "once": {"redraw": False}}.items():
        rec = Recorder(monkeypatch)
        train(_cfg(src, tiny_bi_encoder, tmp_path / name, **kw))
        assert len(rec.batches) == 4  # 8 queries, 4 per step, 2 epochs
        runs[name] = rec
    e0, e1 = runs["a"].epochs(2)
    assert sum(e0[q] != e1[q] for q in range(N_LISTS)) >= N_LISTS - 1
    assert all(0 in g for epoch in (e0, e1) for g in epoch.values())  # selection random keeps the top passage
    assert runs["b"].batches == runs["a"].batches  # same seed: the same batches, the same groups
    assert runs["seed"].epochs(2) != [e0, e1]
    once = runs["once"].epochs(2)
    assert once[0] == once[1]  # without --redraw a query keeps its group


class InterruptAfterSave(TrainerCallback):
    """Acts like Ctrl-C right after the checkpoint of ``step`` is written."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            raise KeyboardInterrupt


@pytest.mark.slow
def test_a_resumed_run_sees_the_groups_of_an_uninterrupted_one(tmp_path, tiny_bi_encoder, monkeypatch):
    """3 epochs of 2 steps; the run stopped after step 3 (mid-epoch 1) resumes with steps 4-6 on the same groups."""
    src = _write_lists(tmp_path / "lists.jsonl")
    full = Recorder(monkeypatch)
    train(_cfg(src, tiny_bi_encoder, tmp_path / "full", epochs=3, save_steps=3))
    assert len(full.batches) == 6
    assert len({frozenset(e.items()) for e in full.epochs(2)}) == 3  # three epochs, three draws

    first = Recorder(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(src, tiny_bi_encoder, tmp_path / "part", epochs=3, save_steps=3), extra_callbacks=[InterruptAfterSave(3)])
    assert first.batches == full.batches[:3]
    resumed = Recorder(monkeypatch)
    train(_cfg(src, tiny_bi_encoder, tmp_path / "part", epochs=3, save_steps=3, resume=True))
    assert resumed.batches == full.batches[3:]
    a, b = weights(tmp_path / "full"), weights(tmp_path / "part")
    assert all(torch.allclose(a[k], b[k], atol=1e-6, rtol=0) for k in a)


DDP_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import synrank.train.losses.base as base
    from synrank.train import TrainConfig, train

    seen = []
    real = base.gather_global

    def gather(queries, passages, targets, doc_keys):
        out = real(queries, passages, targets, doc_keys)
        seen.append(out[3].tolist())
        return out

    base.gather_global = gather
    src, model, out, record = sys.argv[1:5]
    train(TrainConfig(out=out, inputs=[src], model=model, loss="kl", batch_size=2, group_size=4, epochs=2,
                      save_steps=100, dtype="fp32", lr=1e-3, seed=3, redraw=True))
    json.dump(seen, open(record + "." + os.environ["RANK"], "w"))
    """
)


@pytest.mark.slow
def test_two_processes_train_on_the_groups_of_one_process(tmp_path, tiny_bi_encoder, monkeypatch):
    """torchrun, 2 gloo processes x 2 queries: every global batch holds 4 distinct queries, each epoch every
    query once, and each query's group in each epoch is the one a single process with 4 queries per step draws."""
    src = _write_lists(tmp_path / "lists.jsonl")
    single = Recorder(monkeypatch)
    train(_cfg(src, tiny_bi_encoder, tmp_path / "single"))
    script = tmp_path / "ddp_record.py"
    script.write_text(DDP_SCRIPT)
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
           str(src), str(tiny_bi_encoder), str(tmp_path / "ddp"), str(tmp_path / "seen")]
    r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    per_rank = [json.loads((tmp_path / f"seen.{rank}").read_text()) for rank in range(2)]
    assert per_rank[0] == per_rank[1]  # both processes computed the loss of the same global batches
    ddp = Recorder()
    for batch in per_rank[0]:
        ddp.add(batch)
    assert len(ddp.batches) == 4
    assert ddp.epochs(2) == single.epochs(2)
