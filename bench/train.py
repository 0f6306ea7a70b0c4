"""Training speed and memory: synrank's losses against a plain sentence-transformers run, side by side.

Same data (SciFact train queries: the judged passage + BM25 negatives, BM25 scores min-max normalised as
teacher scores), same model (minilm), batch, sequence length, steps and dtype for:

  (a) plain SentenceTransformerTrainer + MultipleNegativesRankingLoss (anchor, positive, 3 negatives)
  (b) synrank train --loss infonce
  (c) synrank train --loss wasserstein
  (d) synrank train --loss kl+infonce
  (e) (b) with a 4x batch and --mini-batch-size equal to the original batch (gradient caching)
  (f) (b) with the default --mini-batch-size: gradient caching turns itself on past a token budget
      ((b) passes --mini-batch-size 0, one pass per column, so (b) vs (f) is the memory the default saves)

Each runs in its own process; peak RSS comes from the kernel (wait4), steps/s from the training loop
alone (model loading excluded). Prints one table with ratios to (a). Usage:

    python bench/train.py [--steps 8] [--batch-size 8] [--max-seq-length 128] [--runs abcde]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCIFACT = REPO.parent / "shared" / "datasets" / "scifact"


def build_lists(path: Path, group: int) -> int:
    """Score-format training lists from SciFact train (real queries, real judged positives, BM25 negatives)."""
    import bm25s
    import Stemmer

    from synrank.formats import doc_text, read_corpus, read_qrels, read_queries

    corpus = read_corpus(SCIFACT)
    queries = read_queries(SCIFACT)
    qrels = read_qrels(SCIFACT / "qrels" / "train.tsv")
    ids = list(corpus)
    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize([doc_text(corpus[d]) for d in ids], stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    qids = [q for q in qrels if any(g > 0 for g in qrels[q].values())]
    res, scores = retriever.retrieve(
        bm25s.tokenize([queries[q] for q in qids], stopwords="en", stemmer=stemmer, show_progress=False), k=20, show_progress=False
    )
    n = 0
    with open(path, "w") as fh:
        for i, q in enumerate(qids):
            pos = next(d for d, g in qrels[q].items() if g > 0)
            hits = [(ids[j], float(s)) for j, s in zip(res[i], scores[i]) if ids[j] not in qrels[q]][: group - 1]
            top = float(scores[i][0]) or 1.0
            cands = [{"doc_id": pos, "text": doc_text(corpus[pos]), "score": 1.0, "label": 1}]
            cands += [{"doc_id": d, "text": doc_text(corpus[d]), "score": min(1.0, s / top) * 0.9, "label": 0} for d, s in hits]
            fh.write(json.dumps({"query_id": q, "query": queries[q], "candidates": cands, "meta": {}}) + "\n")
            n += 1
    return n


PLAIN = r"""
import json, sys, time
from datasets import Dataset
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
from transformers.trainer_callback import PrinterCallback
from synrank.models import alias_path
src, out, steps, bs, seqlen, group = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
cols = {"anchor": [], "positive": [], **{f"negative_{i}": [] for i in range(1, group)}}
for line in open(src):
    r = json.loads(line)
    c = sorted(r["candidates"], key=lambda c: -c["score"])
    cols["anchor"].append(r["query"]); cols["positive"].append(c[0]["text"])
    for i in range(1, group):
        cols[f"negative_{i}"].append(c[i]["text"])
model = SentenceTransformer(str(alias_path("minilm")), device="cpu")
model.max_seq_length = seqlen
model.model_card_data.generate_widget_examples = False
args = SentenceTransformerTrainingArguments(output_dir=out, per_device_train_batch_size=bs, max_steps=steps, learning_rate=2e-5,
    warmup_steps=0.1, weight_decay=0.01, use_cpu=True, seed=42, save_strategy="no", logging_steps=1, disable_tqdm=True,
    report_to="none", bf16=False)
trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=Dataset.from_dict(cols), loss=MultipleNegativesRankingLoss(model, scale=20.0))
trainer.remove_callback(PrinterCallback)
t = time.perf_counter(); trainer.train(); print(json.dumps({"seconds": time.perf_counter() - t}))
"""


def run_measured(cmd: list[str]) -> tuple[str, float]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    with tempfile.TemporaryFile("w+") as fo, tempfile.TemporaryFile("w+") as fe:
        proc = subprocess.Popen(cmd, stdout=fo, stderr=fe, env=env, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        fo.seek(0)
        fe.seek(0)
        out, err = fo.read(), fe.read()
    if proc.returncode != 0:
        sys.exit(f"bench/train.py: a run failed: {' '.join(cmd)}\n{err[-2000:]}")
    return out, usage.ru_maxrss / 1024.0  # KiB -> MiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--group-size", type=int, default=4)
    ap.add_argument("--max-seq-length", type=int, default=128)
    ap.add_argument("--runs", default="abcdef", help="which runs to do; ratios are to the first run and to (b) if run")
    ap.add_argument("--dtype", default="fp32", help="train --dtype for the synrank runs (the plain run is fp32)")
    a = ap.parse_args()
    if not SCIFACT.exists():
        sys.exit(f"bench/train.py: {SCIFACT} is missing (expected ../shared/datasets/scifact beside the repo)")
    work = Path(tempfile.mkdtemp(prefix="synrank-bench-train-"))
    lists = work / "lists.jsonl"
    n = build_lists(lists, a.group_size)
    print(f"data: {n} SciFact train queries, lists of {a.group_size}; minilm, fp32, max_seq_length {a.max_seq_length}, "
          f"{a.steps} steps, batch {a.batch_size} (e: {4 * a.batch_size} with mini-batch {a.batch_size})", file=sys.stderr)
    common = ["--model", "minilm", "--max-steps", str(a.steps), "--group-size", str(a.group_size), "--selection", "top",
              "--max-seq-length", str(a.max_seq_length), "--dtype", a.dtype, "--save-steps", "100000", "--logging-steps", "1"]
    configs = [
        ("a", "plain ST + MNRL", [sys.executable, "-c", PLAIN, str(lists), str(work / "a"), str(a.steps), str(a.batch_size), str(a.max_seq_length), str(a.group_size)], a.batch_size),
        ("b", "synrank infonce", ["--loss", "infonce", "--batch-size", str(a.batch_size), "--mini-batch-size", "0"], a.batch_size),
        ("c", "synrank wasserstein", ["--loss", "wasserstein", "--batch-size", str(a.batch_size)], a.batch_size),
        ("d", "synrank kl+infonce", ["--loss", "kl+infonce", "--batch-size", str(a.batch_size)], a.batch_size),
        ("e", "infonce, 4x batch, mini-batch", ["--loss", "infonce", "--batch-size", str(4 * a.batch_size), "--mini-batch-size", str(a.batch_size)], 4 * a.batch_size),
        ("f", "infonce, default (auto grad cache)", ["--loss", "infonce", "--batch-size", str(a.batch_size)], a.batch_size),
    ]
    rows = []
    configs = [c for c in configs if c[0] in a.runs]
    for key, name, extra, batch in configs:
        if key == "a":
            out, rss = run_measured(extra)
            seconds = json.loads(out.strip().splitlines()[-1])["seconds"]
        else:
            dest = work / key
            out, rss = run_measured([sys.executable, "-m", "synrank", "train", str(lists), "--out", str(dest), *common, *extra])
            seconds = json.loads((dest / "manifest.json").read_text())["result"]["seconds"]
        rows.append((key, name, batch, a.steps / seconds, a.steps * batch / seconds, rss))
        print(f"  {key} done: {a.steps / seconds:.3f} steps/s, peak RSS {rss:.0f} MiB", file=sys.stderr)
    base = rows[0]
    b_row = next((r for r in rows if r[0] == "b"), base)
    print(f"{'run':<36} {'batch':>5} {'steps/s':>8} {'x 1st':>6} {'queries/s':>9} {'x 1st':>6} {'peak RSS MiB':>12} {'x 1st':>6} {'x (b)':>6}")
    for key, name, batch, sps, qps, rss in rows:
        print(f"({key}) {name:<32} {batch:>5} {sps:>8.3f} {sps / base[3]:>6.2f} {qps:>9.2f} {qps / base[4]:>6.2f} {rss:>12.0f} {rss / base[5]:>6.2f} {rss / b_row[5]:>6.2f}")


if __name__ == "__main__":
    t0 = time.time()
    main()
    print(f"(total {time.time() - t0:.0f} s)", file=sys.stderr)
