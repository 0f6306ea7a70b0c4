"""Generation speed: the same prompts with the bundled SmolLM2 (GGUF, CPU), three ways, one run.

(a) one prompt at a time with ``model.generate``; (b) one batched ``model.generate`` call over all
prompts (left padding); (c) ``synrank generate`` (token-budget batching, parsing, writing), whose
tokens/s comes from its manifest (generation time only, model loading excluded as in (a) and (b)).
Greedy decoding everywhere so the three produce comparable token counts. Tokens are counted up to
and including the end-of-turn token, never padding.

    python bench/generate_transformers.py       # 64 prompts = 16 TREC DL 2019 queries x 4 levels
    python bench/generate_transformers.py --queries 4 --max-new-tokens 64 --a-prompts 8   # quicker look

Target (issue 3): (c) >= 0.9 x (b) and >= 3 x (a).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
DL19 = REPO.parent / "shared" / "datasets" / "msmarco" / "dl19-queries.tsv"


def count_tokens(rows, stops):
    n = 0
    for row in rows:
        for tok in row:
            n += 1
            if tok in stops:
                break
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=16, help="DL19 queries; prompts = queries x levels")
    ap.add_argument("--levels", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--a-prompts", type=int, default=0, help="prompts timed one by one in (a); 0 = all (slow)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if not DL19.exists():
        print(f"bench/generate.py: {DL19} is missing (expected ../shared/datasets beside the repo)", file=sys.stderr)
        return 2

    import torch

    from synrank.generate import GenerateConfig, build_task
    from synrank.formats.queries import read_queries
    from synrank.llm.hf_backend import TransformersBackend, render_prompt
    from synrank.llm.hf_loading import resolve_model_source

    torch.set_num_threads(args.threads)
    queries = list(read_queries(DL19).items())[: args.queries]
    qfile = Path(tempfile.mkdtemp()) / "queries.tsv"
    qfile.write_text("".join(f"{q}\t{t}\n" for q, t in queries), encoding="utf-8")
    task = build_task(GenerateConfig(task="docs", levels=args.levels))
    requests = [s.template.render(s.values) for q, t in queries for s in task.slots(q, t)]

    backend = TransformersBackend(resolve_model_source("smollm2"), device="cpu", dtype="auto")
    tok, model = backend.tokenizer, backend.model
    stops = set(backend.stop_ids)
    prompts = [render_prompt(tok, r) for r in requests]
    gen = dict(max_new_tokens=args.max_new_tokens, do_sample=False, temperature=None, top_p=None, top_k=None,
               pad_token_id=tok.pad_token_id, eos_token_id=backend.stop_ids)
    print(f"{len(prompts)} prompts, SmolLM2-135M GGUF ({backend.info()['dtype']}), greedy, max {args.max_new_tokens} new tokens, "
          f"{args.threads} threads", flush=True)

    # (a) one at a time
    a_prompts = prompts[: args.a_prompts or len(prompts)]
    t = time.perf_counter()
    a_tokens = 0
    for p in a_prompts:
        enc = tok([p], return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            out = model.generate(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], **gen)
        a_tokens += count_tokens(out[:, enc["input_ids"].shape[1]:].tolist(), stops)
    a_sec = time.perf_counter() - t
    a_rate = a_tokens / a_sec
    print(f"(a) one prompt at a time   {len(a_prompts):>3} prompts {a_tokens:>6} tokens {a_sec:7.1f} s {a_rate:7.1f} tokens/s", flush=True)

    # (b) one batched call
    t = time.perf_counter()
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.inference_mode():
        out = model.generate(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], **gen)
    b_tokens = count_tokens(out[:, enc["input_ids"].shape[1]:].tolist(), stops)
    b_sec = time.perf_counter() - t
    b_rate = b_tokens / b_sec
    print(f"(b) one batched generate   {len(prompts):>3} prompts {b_tokens:>6} tokens {b_sec:7.1f} s {b_rate:7.1f} tokens/s", flush=True)
    backend.close()
    del model

    # (c) synrank generate (the library entry point, its own model load, excluded from its timing)
    from synrank.generate import GenerateConfig as Cfg, run as generate

    out_path = qfile.parent / "synth.jsonl"
    res = generate(Cfg(input=str(qfile), task="docs", levels=args.levels, temperature=0.0, max_retries=0,
                       max_new_tokens=args.max_new_tokens, threads=args.threads, device="cpu", backend="transformers",
                       out=str(out_path)))
    c_rate = res.completion_tokens / res.generate_seconds
    print(f"(c) synrank generate       {res.prompts:>3} prompts {res.completion_tokens:>6} tokens "
          f"{res.generate_seconds:7.1f} s {c_rate:7.1f} tokens/s  ({res.accepted} passages parsed, {res.rejected} rejected)")
    print(f"ratios: (c)/(b) = {c_rate / b_rate:.2f}  (target >= 0.9)   (c)/(a) = {c_rate / a_rate:.2f}  (target >= 3)   (b)/(a) = {b_rate / a_rate:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
