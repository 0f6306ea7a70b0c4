"""Write a small BEIR folder from a BEIR dataset: every document judged for the first N queries of a
split, topped up with other corpus documents, plus those queries and judgments.

Used by the demo so that index + eval of a real model on real judgments runs in about a minute.

    python examples/scifact_slice.py ../shared/datasets/scifact OUT_DIR [--queries 100] [--docs 1000] [--split test]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from synrank.errors import SynrankError
from synrank.evaluate.datasets import load_beir
from synrank.formats import iter_corpus
from synrank.formats.io import atomic_write


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--split", default="test")
    args = ap.parse_args()
    try:
        data = load_beir(args.dataset, args.split)
        qids = list(data.queries)[: args.queries]
        judged = {d for q in qids for d in data.qrels[q]}
        docs = [d for d in iter_corpus(args.dataset) if d.doc_id in judged]
        docs += [d for d in iter_corpus(args.dataset) if d.doc_id not in judged][: max(0, args.docs - len(docs))]
    except SynrankError as exc:
        print(f"scifact_slice.py: error: {exc.one_line()}", file=sys.stderr)
        return 2
    (args.out / "qrels").mkdir(parents=True, exist_ok=True)
    with atomic_write(args.out / "corpus.jsonl") as fh:
        for d in docs:
            fh.write(json.dumps({"_id": d.doc_id, "title": d.title, "text": d.text}) + "\n")
    with atomic_write(args.out / "queries.jsonl") as fh:
        for q in qids:
            fh.write(json.dumps({"_id": q, "text": data.queries[q]}) + "\n")
    with atomic_write(args.out / "qrels" / f"{args.split}.tsv") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for q in qids:
            for d, g in data.qrels[q].items():
                fh.write(f"{q}\t{d}\t{g}\n")
    print(f"wrote {len(docs)} documents, {len(qids)} queries to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
