"""Training-list readers and group selection."""

from __future__ import annotations

import json
import random

import pytest

from synrank.errors import InputError
from synrank.train.data import TrainList, build_columns, doc_key, read_train_lists, select_group, split_dev


def _lst(targets):
    return TrainList("q", "query", [f"d{i}" for i in range(len(targets))], [f"t{i}" for i in range(len(targets))], list(targets), "levels")


def test_selection_modes_keep_the_top_passage_and_the_right_size():
    lst = _lst([0, 3, 1, 2, 0, 1, 0, 2])
    rng = random.Random(0)
    texts, targets = select_group(lst, 3, "top", rng)
    assert targets == [3, 2, 2] and texts == ["t1", "t3", "t7"]
    for _ in range(20):
        texts, targets = select_group(lst, 4, "random", rng)
        assert targets[0] == 3 and len(set(texts)) == 4
    seen_top = 0
    for _ in range(50):
        texts, targets = select_group(lst, 4, "uniform", rng)
        assert len(set(texts)) == 4 and targets == sorted(targets, reverse=True)
        seen_top += targets[0] == 3
    assert 10 < seen_top < 40  # the top passage (1 of 8) is in a uniform group of 4 half of the time
    texts, targets = select_group(lst, 4, "stratified", rng)
    assert targets[0] == 3 and sorted(targets[1:], reverse=True) == [2, 1, 0]  # one per remaining level
    with pytest.raises(InputError, match="fewer than --group-size 9"):
        select_group(lst, 9, "top", rng)


def test_reads_generate_and_score_records(tmp_path):
    gen = tmp_path / "g.jsonl"
    gen.write_text(json.dumps({"query_id": 1, "query": "q", "documents": [{"doc_id": "a", "level": 3, "text": "x"}, {"doc_id": "b", "level": 0, "text": "y"}]}) + "\n")
    (lst,) = read_train_lists([gen])
    assert lst.kind == "levels" and lst.targets == [3.0, 0.0] and lst.query_id == "1" and lst.line == 1
    sc = tmp_path / "s.jsonl"
    sc.write_text(json.dumps({"query_id": "q", "query": "q", "candidates": [{"doc_id": "a", "text": "x", "score": 0.9, "label": 1}, {"doc_id": "b", "text": "y", "score": 0.2, "label": 0}]}) + "\n")
    assert read_train_lists([sc])[0].targets == [0.9, 0.2]
    no_ids = tmp_path / "n.jsonl"
    no_ids.write_text("".join(json.dumps({"query_id": q, "query": "q", "candidates": [{"text": "x", "score": 1.0}]}) + "\n" for q in "ab"))
    a, b = read_train_lists([no_ids])
    assert a.doc_ids != b.doc_ids  # passages without ids are never taken for one document
    assert read_train_lists([sc], target="levels")[0].targets == [1.0, 0.0]
    with pytest.raises(InputError, match="mix"):
        read_train_lists([gen, sc])
    search = tmp_path / "run.jsonl"
    search.write_text(json.dumps({"query_id": "q", "query": "q", "candidates": [{"doc_id": "a", "score": 1.0, "rank": 1}]}) + "\n")
    with pytest.raises(InputError, match="--negatives"):
        read_train_lists([search])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query_id": "q", "query": "q", "candidates": [{"text": "x", "score": "high"}]}\n')
    with pytest.raises(InputError, match="must be a number") as exc:
        read_train_lists([bad])
    assert exc.value.line == 1


def test_columns_and_dev_split_are_seeded():
    lists = [_lst([3, 2, 1, 0, 0]) for _ in range(10)]
    cols = build_columns(lists, group_size=3, selection="random", seed=1, query_prefix="query: ", doc_prefix="passage: ")
    assert list(cols) == ["query", "passage_1", "passage_2", "passage_3", "label", "doc_keys"]
    assert cols["query"][0] == "query: query" and cols["passage_1"][0] == "passage: t0"
    # each passage's document key follows its doc id, whichever list it is in
    assert cols["doc_keys"][0][0] == doc_key("d0") == cols["doc_keys"][5][0]
    assert len({k for row in cols["doc_keys"] for k in row}) == 5
    assert cols == build_columns(lists, group_size=3, selection="random", seed=1, query_prefix="query: ", doc_prefix="passage: ")
    train, dev = split_dev(lists, 0.2, seed=3)
    assert len(train) == 8 and len(dev) == 2
