"""Training lists from real data: a BEIR folder's queries, qrels and corpus, negatives from a search run.

For every query of the split with at least one judged-relevant passage, the list holds its relevant
passages (target = qrels grade) followed by negatives (target 0): the top passages of a ``synrank
search`` run that are not judged relevant (hard negatives), or, without a run, passages drawn at random
from the corpus. Judged non-relevant passages (grade <= 0) are never used as positives.
"""

from __future__ import annotations

import random
from pathlib import Path

from synrank.errors import InputError
from synrank.formats import doc_text, iter_jsonl, read_corpus, read_qrels, read_queries
from synrank.formats.io import display_name
from synrank.train.data import TrainList


def _qrels_file(folder: Path, split: str) -> Path:
    for name in (f"{split}.tsv", f"{split}.trec", f"{split}.txt", f"{split}.jsonl"):
        p = folder / "qrels" / name
        if p.exists():
            return p
    raise InputError(f"no qrels for split {split!r} (expected qrels/{split}.tsv)", path=folder)


def read_negatives(path: str | Path) -> dict[str, list[str]]:
    """``{query_id: [doc_id, ...]}`` in rank order, from ``synrank search`` JSONL output."""
    name = display_name(path)
    out: dict[str, list[str]] = {}
    for line, obj in iter_jsonl(path):
        qid = obj.get("query_id")
        cands = obj.get("candidates")
        if qid is None or not isinstance(cands, list):
            raise InputError("expected a search record with 'query_id' and a 'candidates' list", path=name, line=line)
        ids = []
        for c in sorted(cands, key=lambda c: c.get("rank", 0) if isinstance(c, dict) else 0):
            if not isinstance(c, dict) or "doc_id" not in c:
                raise InputError(f"query {qid!r}: a candidate has no doc_id", path=name, line=line)
            ids.append(str(c["doc_id"]))
        out[str(qid)] = ids
    if not out:
        raise InputError("no search records found (empty file)", path=name)
    return out


def build_real_lists(
    dataset: str | Path,
    *,
    split: str = "train",
    negatives: str | Path | None = None,
    num_negatives: int = 7,
    seed: int = 42,
    use_title: bool = True,
) -> list[TrainList]:
    folder = Path(dataset)
    if not folder.is_dir():
        raise InputError("dataset folder not found (expected a BEIR folder with corpus.jsonl, queries.jsonl, qrels/)", path=folder)
    qrels_path = _qrels_file(folder, split)
    qrels = read_qrels(qrels_path)
    queries = read_queries(folder)
    corpus = read_corpus(folder)
    run = read_negatives(negatives) if negatives is not None else None
    rng = random.Random(seed)
    all_ids = list(corpus)
    lists: list[TrainList] = []
    for qid, judged in qrels.items():
        positives = [(d, g) for d, g in judged.items() if g > 0 and d in corpus]
        if not positives:
            continue
        if qid not in queries:
            raise InputError(f"query {qid!r} is in the qrels but not in queries.jsonl", path=qrels_path)
        if run is not None:
            if qid not in run:
                continue  # a run may cover a subset of the queries; those without candidates are skipped
            negs = [d for d in run[qid] if d not in judged and d in corpus][:num_negatives]
        else:
            negs = []
            while len(negs) < num_negatives and len(negs) < len(all_ids) - len(judged):
                d = rng.choice(all_ids)
                if d not in judged and d not in negs:
                    negs.append(d)
        ids = [d for d, _ in positives] + negs
        targets = [float(g) for _, g in positives] + [0.0] * len(negs)
        texts = [doc_text(corpus[d], use_title) for d in ids]
        lists.append(TrainList(qid, queries[qid], ids, texts, targets, "levels", str(qrels_path), None))
    if not lists:
        raise InputError(f"no query of split {split!r} has a relevant passage with training candidates", path=folder)
    return lists
