"""Carve a dev split from synthetic queries, for choosing hyperparameters without touching test queries.

A generated query goes to dev when the SHA-256 of its id is 0 modulo N (``--one-in N``: about one query in
N; stable across runs and machines). Dev queries are taken *before* the teacher filters, so the dev set is not selected by
the base model (a filtered dev set is saturated: the filters keep queries the teacher, and so mostly the
base model, already ranks first). Each dev query's relevant passage is the one it was written from.

Writes into OUT: ``dev-queries.tsv``, ``dev-qrels.tsv`` (BEIR layout) and ``lists-train.jsonl`` (the training
lists without the dev queries).

    python examples/dev_split.py QUERIES.jsonl LISTS.jsonl --one-in 10 --out WORK/
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from synrank.errors import SynrankError
from synrank.formats.io import atomic_write, iter_jsonl


def in_dev(query_id: str, one_in: int) -> bool:
    return int(hashlib.sha256(query_id.encode()).hexdigest(), 16) % one_in == 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("queries", type=Path, help="`synrank generate --task queries` output")
    ap.add_argument("lists", type=Path, help="`synrank score` output")
    ap.add_argument("--one-in", type=int, default=10, help="about one generated query in N goes to dev")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    try:
        dev = 0
        with atomic_write(args.out / "dev-queries.tsv") as fq, atomic_write(args.out / "dev-qrels.tsv") as fr:
            fr.write("query-id\tcorpus-id\tscore\n")
            for _, rec in iter_jsonl(args.queries):
                if in_dev(str(rec["query_id"]), args.one_in):
                    fq.write(f"{rec['query_id']}\t{' '.join(str(rec['text']).split())}\n")
                    fr.write(f"{rec['query_id']}\t{rec['source_doc_id']}\t1\n")
                    dev += 1
        kept = 0
        with atomic_write(args.out / "lists-train.jsonl") as fl:
            for _, rec in iter_jsonl(args.lists):
                if not in_dev(str(rec["query_id"]), args.one_in):
                    fl.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
                    kept += 1
    except SynrankError as exc:
        print(f"dev_split: error: {exc.one_line()}", file=sys.stderr)
        return 2
    except KeyError as exc:
        print(f"dev_split: error: {args.queries}: a record has no {exc.args[0]!r} (not generate --task queries output?)", file=sys.stderr)
        return 2
    print(f"dev split: {dev} dev queries, {kept} training lists -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
