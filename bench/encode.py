"""Encoding throughput: plain ``SentenceTransformer.encode`` (fp32, batch 64) vs synrank's Encoder.

Both encode the same SciFact slice (every document judged for a test query, topped up with the first
corpus documents) in alternating chunks, so machine noise hits both alike. Prints docs/s of each,
their ratio, and nDCG@10 of the test queries over the slice for both (exact search, pytrec_eval).

    python bench/encode.py [--docs 1500] [--chunk 250] [--dtype auto]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "scifact"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=1500)
    ap.add_argument("--chunk", type=int, default=250)
    ap.add_argument("--dtype", default="auto", help="synrank encoder dtype (auto = bf16 on this CPU)")
    ap.add_argument("--data", type=Path, default=DATA)
    args = ap.parse_args()
    if not (args.data / "corpus.jsonl").exists():
        print(f"bench/encode.py: dataset not found: {args.data} (expected ../shared/datasets/scifact)", file=sys.stderr)
        return 2

    import torch
    from sentence_transformers import SentenceTransformer

    from synrank.evaluate.datasets import load_beir
    from synrank.evaluate.metrics import evaluate_run
    from synrank.formats import doc_text, iter_corpus
    from synrank.index.encoder import Encoder, EncoderConfig
    from synrank.models import alias_path
    from synrank.runtime.seeding import set_threads

    set_threads(0)
    data = load_beir(args.data, "test")
    judged = {d for docs in data.qrels.values() for d in docs}
    corpus = list(iter_corpus(args.data))
    picked = [d for d in corpus if d.doc_id in judged]
    picked += [d for d in corpus if d.doc_id not in judged][: max(0, args.docs - len(picked))]
    ids, texts = [d.doc_id for d in picked], [doc_text(d) for d in picked]

    plain = SentenceTransformer(str(alias_path("minilm")), device="cpu")
    ours = Encoder("minilm", EncoderConfig(device="cpu", dtype=args.dtype))
    plain.encode(texts[:32], batch_size=64)  # warm-up both
    ours.encode(texts[:32])

    t_plain = t_ours = 0.0
    e_plain, e_ours = [], []
    for start in range(0, len(texts), args.chunk):
        part = texts[start : start + args.chunk]
        t = time.perf_counter()
        e_plain.append(plain.encode(part, batch_size=64, convert_to_numpy=True))
        t_plain += time.perf_counter() - t
        t = time.perf_counter()
        e_ours.append(ours.encode(part))
        t_ours += time.perf_counter() - t
    d_plain, d_ours = np.concatenate(e_plain), np.concatenate(e_ours)

    qids = list(data.queries)
    q_plain = plain.encode([data.queries[q] for q in qids], batch_size=64)
    q_ours = ours.encode([data.queries[q] for q in qids])

    def ndcg(q, d):
        scores = q @ d.T
        top = np.argsort(-scores, axis=1)[:, :100]
        run = {qid: {ids[j]: float(scores[i, j]) for j in top[i]} for i, qid in enumerate(qids)}
        return evaluate_run(run, data.qrels, ["nDCG@10"])[0]["nDCG@10"]

    n = len(texts)
    cos = float(np.mean(np.sum(d_plain * d_ours, axis=1)))
    n_judged = sum(1 for i in ids if i in judged)
    print(f"docs: {n} scifact documents ({n_judged} judged for test queries), torch threads {torch.get_num_threads()}")
    print(f"plain SentenceTransformer.encode fp32 batch 64: {n / t_plain:8.1f} docs/s   nDCG@10 {ndcg(q_plain, d_plain):.4f}")
    print(f"synrank Encoder ({ours.info()['dtype']}, token-budget batches): {n / t_ours:8.1f} docs/s   nDCG@10 {ndcg(q_ours, d_ours):.4f}")
    print(f"ratio synrank / plain: {t_plain / t_ours:.2f}x   mean cosine(plain, synrank) = {cos:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
