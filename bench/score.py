"""Scoring throughput of `synrank score`'s teachers vs calling sentence-transformers directly, and BM25
search speed, on the same real SciFact pairs in one run.

Pairs: BM25 top-``--k`` candidates (from ``synrank search --bm25``'s library) of the first ``--queries``
SciFact test claims. Timings alternate between the two sides ``--repeats`` times and report the
median, so machine noise hits both alike. Model loading is excluded on both sides.

- cross-encoder (MiniLM-sized: all-MiniLM-L6-v2 weights with a fresh one-logit head, fp32 on both sides):
  ``CrossEncoder.predict(pairs, batch_size=32)`` vs synrank's CrossEncoderTeacher through the score
  pipeline (token-budget batches);
- bi-encoder (all-MiniLM-L6-v2, fp32 on both sides): ``SentenceTransformer.encode`` of the pairs' queries
  and passages (batch 32) + row-wise dot vs synrank's BiEncoderTeacher through the pipeline;
- the same two with ``--dtype auto`` (bf16 where the CPU has it) for synrank, for information;
- BM25 over the whole SciFact corpus: queries/s of synrank's BM25Index.search vs ``bm25s.BM25.retrieve``
  on the same index (all 805 SciFact queries; bm25s gets them pre-tokenised, synrank tokenises and stems).

    python bench/score.py [--queries 8] [--k 8] [--repeats 3]      # about 6 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "scifact"


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def alternate(a, b, repeats):
    ta, tb = [], []
    ra = rb = None
    for _ in range(repeats):
        t, ra = timed(a)
        ta.append(t)
        t, rb = timed(b)
        tb.append(t)
    return statistics.median(ta), statistics.median(tb), ra, rb


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queries", type=int, default=8)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--skip-bf16", action="store_true", help="skip the --dtype auto lines")
    args = ap.parse_args()
    if not (args.data / "corpus.jsonl").exists():
        print(f"bench/score.py: dataset not found: {args.data} (expected ../shared/datasets/scifact)", file=sys.stderr)
        return 2

    import torch
    from sentence_transformers import CrossEncoder, SentenceTransformer

    from synrank.formats import doc_text, read_corpus, read_qrels, read_queries
    from synrank.models import alias_path
    from synrank.runtime.seeding import set_threads
    from synrank.score.lists import Candidate, QueryList
    from synrank.score.pipeline import ScoringOptions, score_lists
    from synrank.score.teachers.base import TeacherConfig
    from synrank.score.teachers.bi_encoder import BiEncoderTeacher
    from synrank.score.teachers.cross_encoder import CrossEncoderTeacher
    from synrank.search.bm25 import BM25Config, BM25Index

    threads = set_threads(0)
    corpus = read_corpus(args.data)
    queries = read_queries(args.data)
    test_q = [q for q in queries if q in read_qrels(args.data / "qrels" / "test.tsv")]

    # -- BM25 search -------------------------------------------------------------------------------
    import bm25s

    ids = list(corpus)
    t_build, bm = timed(lambda: BM25Index.build(ids, [doc_text(corpus[d]) for d in ids], BM25Config()))
    qtexts = list(queries.values())
    qtok = bm._query_token_ids(qtexts)
    qtok_nonempty = [t for t in qtok if t]

    def ours_bm25():
        return bm.search(qtexts, 100)

    def lib_bm25():
        return bm.retriever.retrieve(qtok_nonempty, k=100, show_progress=False, n_threads=1)

    bm25s_lib, bm25s_ours, _, _ = alternate(lib_bm25, ours_bm25, args.repeats)
    print(f"machine: {threads} torch threads, torch {torch.__version__}, bm25s {bm25s.__version__}")
    print(f"BM25 index build, SciFact {len(ids):,} docs: {t_build:.2f} s")
    print(
        f"BM25 search, {len(qtexts)} SciFact queries, top-100: synrank {len(qtexts) / bm25s_ours:,.0f} q/s "
        f"(incl. tokenising+stemming) | bm25s.retrieve on pre-tokenised ids {len(qtok_nonempty) / bm25s_lib:,.0f} q/s "
        f"| ratio {(len(qtexts) / bm25s_ours) / (len(qtok_nonempty) / bm25s_lib):.2f}x"
    )

    # -- pairs ---------------------------------------------------------------------------------------
    picked = test_q[: args.queries]
    hits = bm.search([queries[q] for q in picked], args.k)
    lists = [QueryList(q, queries[q], [Candidate(d, doc_text(corpus[d]), rank=r + 1) for r, (d, _s) in enumerate(h)]) for q, h in zip(picked, hits)]
    pairs = [(ql.query, c.text) for ql in lists for c in ql.candidates]
    n = len(pairs)
    print(f"pairs: {n} ({len(lists)} SciFact test claims x BM25 top-{args.k}; passages = title + text, ~{np.mean([len(t) for _q, t in pairs]):.0f} chars)")

    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        ce_dir = Path(tmp) / "minilm-ce"
        CrossEncoder(str(alias_path("minilm")), num_labels=1, device="cpu").save_pretrained(str(ce_dir))
        direct_ce = CrossEncoder(str(ce_dir), device="cpu")

        def run_pipeline(teacher):
            return [s for rec in score_lists(lists, [teacher], ScoringOptions(chunk_queries=len(lists))) for s in [rec]]

        rows = []
        ce32 = CrossEncoderTeacher(str(ce_dir), TeacherConfig(device="cpu", dtype="fp32", activation="model"))
        direct_ce.predict(pairs[:16], batch_size=32, show_progress_bar=False)  # warm-up
        ce32.score([q for q, _ in pairs[:16]], [t for _, t in pairs[:16]], ["x"] * 16)
        t_direct, t_ours, ref, got = alternate(
            lambda: direct_ce.predict(pairs, batch_size=32, show_progress_bar=False), lambda: run_pipeline(ce32), args.repeats
        )
        ours_scores = {(rec["query_id"], c["doc_id"]): c["score"] for rec in got for c in rec["candidates"]}
        flat = [ours_scores[(ql.query_id, c.doc_id)] for ql in lists for c in ql.candidates]
        err = float(np.max(np.abs(np.asarray(flat) - ref)))
        rows.append(("cross-encoder MiniLM-L6 fp32", "CrossEncoder.predict(bs=32)", n / t_direct, n / t_ours, err))
        if not args.skip_bf16:
            ce_auto = CrossEncoderTeacher(str(ce_dir), TeacherConfig(device="cpu", dtype="auto", activation="model"))
            t_auto, _ = timed(lambda: run_pipeline(ce_auto))
            rows.append((f"cross-encoder MiniLM-L6 {ce_auto.info()['dtype']} (synrank) vs fp32 predict", "CrossEncoder.predict(bs=32)", n / t_direct, n / t_auto, float("nan")))

        st = SentenceTransformer(str(alias_path("minilm")), device="cpu")
        bi32 = BiEncoderTeacher("minilm", TeacherConfig(device="cpu", dtype="fp32"), cache_size=0)

        def direct_bi():
            uq = list(dict.fromkeys(q for q, _ in pairs))
            qe = dict(zip(uq, st.encode(uq, batch_size=32, normalize_embeddings=True)))
            de = st.encode([t for _, t in pairs], batch_size=32, normalize_embeddings=True)
            return np.array([qe[q] @ d for (q, _), d in zip(pairs, de)])

        direct_bi()
        t_direct, t_ours, ref, got = alternate(direct_bi, lambda: run_pipeline(bi32), args.repeats)
        ours_scores = {(rec["query_id"], c["doc_id"]): c["score"] for rec in got for c in rec["candidates"]}
        flat = [ours_scores[(ql.query_id, c.doc_id)] for ql in lists for c in ql.candidates]
        err = float(np.max(np.abs(np.asarray(flat) - ref)))
        rows.append(("bi-encoder MiniLM-L6 fp32", "SentenceTransformer.encode(bs=32)", n / t_direct, n / t_ours, err))
        if not args.skip_bf16:
            bi_auto = BiEncoderTeacher("minilm", TeacherConfig(device="cpu", dtype="auto"), cache_size=0)
            t_auto, _ = timed(lambda: run_pipeline(bi_auto))
            rows.append((f"bi-encoder MiniLM-L6 {bi_auto.encoder.info()['dtype']} (synrank) vs fp32 encode", "SentenceTransformer.encode(bs=32)", n / t_direct, n / t_auto, float("nan")))

    print()
    print(f"{'teacher':<52} {'direct pairs/s':>15} {'synrank pairs/s':>16} {'ratio':>7} {'max |diff|':>11}")
    for name, _ref, direct, ours, err in rows:
        print(f"{name:<52} {direct:>15.1f} {ours:>16.1f} {ours / direct:>6.2f}x {err:>11.2e}")
    print("\ndirect = " + "; ".join(sorted({r[1] for r in rows})) + f"; medians of {args.repeats} alternating runs, model loading excluded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
