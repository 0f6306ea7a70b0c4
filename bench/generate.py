"""Query generation on the CPU (issue 11): synrank's llamacpp backend against llama.cpp driven directly and
against the transformers backend, on the same GGUF and the same SciFact prompts, in one run.

For each model in --models, with the same slots and threads:
  direct     xllamacpp.Server + a thread pool of `slots` workers, the payload written here by hand
             (no synrank code in the loop): what llama.cpp itself delivers;
  llamacpp   synrank.llm LlamaCppBackend.generate (the backend `synrank generate --backend llamacpp` uses);
and, for --transformers-model, synrank's transformers backend on the same GGUF (fewer prompts: it is slow).
Both llama.cpp runs constrain answers to {"query": string} with the JSON schema; the transformers run
uses the template's response prefix (it cannot constrain). Reported: prompts per minute (model loading
excluded), completion tokens per second, and the parse-reject rate (synrank's own parser).

Quality proxy: for each parsed query of a llamacpp run, the rank of its source abstract under BM25 over
the whole SciFact corpus (5,183 abstracts): share at rank 1 and in the top 20.

    flock /tmp/synrank-heavy.lock python bench/generate.py                 # 32 prompts per run, a few minutes
    python bench/generate.py --prompts 8 --transformers-prompts 4          # a quick look

Targets (issue 11): llamacpp >= 0.9 x direct; llamacpp >= 4 x transformers (prompts per minute).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SCIFACT = Path(os.environ.get("SYNRANK_DATASETS") or REPO.parent / "shared" / "datasets") / "scifact"
QUERY_SCHEMA = {
    "type": "object",
    "properties": {"query": {"type": "string", "minLength": 1, "maxLength": 300}},
    "required": ["query"],
    "additionalProperties": False,
}


def load_corpus():
    from synrank.formats.corpus import iter_corpus

    return list(iter_corpus(SCIFACT / "corpus.jsonl"))


def build_requests(docs, n: int, seed: int):
    """The packaged question template for n abstracts drawn with a fixed seed (the same for every run)."""
    from synrank.generate.templates import load_packaged

    tpl = load_packaged("queries-question")
    picked = random.Random(seed).sample(range(len(docs)), n)
    reqs = []
    for k, i in enumerate(picked):
        d = docs[i]
        req = tpl.render({"passage": d.text, "title": d.title, "type": "question", "examples": ""}, seed=seed + k)
        if req.json_schema is None:
            req = replace(req, json_schema=QUERY_SCHEMA)
        reqs.append(req)
    return [docs[i].doc_id for i in picked], reqs, tpl


def parse_all(tpl, raws):
    from synrank.generate.parsing import ParseFailure, parse_answer

    out = []
    for raw, truncated in raws:
        try:
            out.append(parse_answer(tpl.output, raw, truncated=truncated))
        except ParseFailure:
            out.append(None)
    return out


def run_direct(path: str, reqs, sampling, slots: int, threads: int):
    """llama.cpp's server driven with no synrank code: the same GGUF, slots, threads and payload fields."""
    import xllamacpp as xlc

    p = xlc.CommonParams()
    p.model.path = path
    p.n_ctx, p.n_parallel, p.verbosity = slots * 2048, slots, -1
    p.cpuparams.n_threads = p.cpuparams_batch.n_threads = threads
    server = xlc.Server(p)

    def one(r):
        body = {
            "messages": [dict(m) for m in r.messages],
            "max_tokens": sampling.max_new_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "seed": r.seed,
            "cache_prompt": True,
            "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": QUERY_SCHEMA}},
        }
        data = server.handle_chat_completions(body)
        choice = data["choices"][0]
        return choice["message"]["content"], choice["finish_reason"] == "length", data["usage"]["completion_tokens"]

    t = time.perf_counter()
    with ThreadPoolExecutor(slots) as pool:
        results = list(pool.map(one, reqs))
    sec = time.perf_counter() - t
    del server
    return [(text, trunc) for text, trunc, _ in results], sum(n for *_, n in results), sec


def run_synrank(backend, reqs, sampling):
    t = time.perf_counter()
    comps = backend.generate(reqs, sampling)
    sec = time.perf_counter() - t
    prefix = [r.prefix if backend.supports_prefix else "" for r in reqs]
    return [(p + c.text, c.finish_reason == "length") for p, c in zip(prefix, comps)], sum(c.completion_tokens for c in comps), sec


def bm25_ranks(docs, queries, sources):
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize([f"{d.title} {d.text}" for d in docs], stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    ids = [d.doc_id for d in docs]
    ranks = []
    for q, src in zip(queries, sources):
        if q is None:
            continue
        hits, _ = retriever.retrieve(bm25s.tokenize([q], stopwords="en", stemmer=stemmer, show_progress=False), k=20, show_progress=False)
        top = [ids[j] for j in hits[0]]
        ranks.append(top.index(src) + 1 if src in top else None)
    return ranks


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="smollm2,qwen2.5-coder-0.5b")
    ap.add_argument("--transformers-model", default="smollm2")
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--transformers-prompts", type=int, default=12)
    ap.add_argument("--slots", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not (SCIFACT / "corpus.jsonl").exists():
        print(f"bench/generate.py: {SCIFACT} is missing (set SYNRANK_DATASETS)", file=sys.stderr)
        return 2

    from synrank.llm.base import SamplingConfig
    from synrank.llm.hf_loading import resolve_model_source
    from synrank.llm.llamacpp_backend import LlamaCppBackend

    docs = load_corpus()
    sources, reqs, tpl = build_requests(docs, args.prompts, args.seed)
    sampling = SamplingConfig(temperature=0.7, top_p=0.95, max_new_tokens=64, seed=args.seed)
    print(f"{len(reqs)} SciFact question prompts, {args.slots} slots, {args.threads} threads, max 64 new tokens, "
          f"temperature 0.7, engine xllamacpp", flush=True)
    rows, quality = [], []
    for model in [m for m in args.models.split(",") if m]:
        src = resolve_model_source(model)
        path = f"{src.location}/{src.gguf_file}"
        runs = {}
        for kind in ("direct", "llamacpp"):
            if kind == "direct":
                raws, tokens, sec = run_direct(path, reqs, sampling, args.slots, args.threads)
            else:
                with LlamaCppBackend(path, model_name=model, threads=args.threads, slots=args.slots, ctx_size=args.slots * 2048) as b:
                    raws, tokens, sec = run_synrank(b, reqs, sampling)
            parsed = parse_all(tpl, raws)
            runs[kind] = (len(reqs) / sec * 60, tokens / sec, sum(p is None for p in parsed) / len(parsed), parsed)
            rows.append((model, kind, len(reqs), sec, *runs[kind][:3]))
            print(f"{model:<20} {kind:<12} {len(reqs):>3} prompts {sec:6.1f} s {runs[kind][0]:6.1f} prompts/min "
                  f"{runs[kind][1]:6.1f} tokens/s  rejects {runs[kind][2]:.0%}", flush=True)
        print(f"{model:<20} llamacpp / direct = {runs['llamacpp'][0] / runs['direct'][0]:.2f} (target >= 0.9)", flush=True)
        ranks = bm25_ranks(docs, runs["llamacpp"][3], sources)
        n = len(reqs)
        quality.append((model, n, len(ranks), sum(r == 1 for r in ranks) / n, sum(r is not None for r in ranks) / n))
        examples = [q for q in runs["llamacpp"][3] if q][:2]
        print(f"{model:<20} quality: {len(ranks)}/{n} parsed, source at rank 1 {quality[-1][3]:.0%}, in top 20 {quality[-1][4]:.0%}; "
              f"e.g. {json.dumps(examples)}", flush=True)

    if args.transformers_prompts and args.transformers_model:
        from synrank.llm.hf_backend import TransformersBackend

        treqs = [replace(r, json_schema=None) for r in reqs[: args.transformers_prompts]]
        with TransformersBackend(resolve_model_source(args.transformers_model), device="cpu", dtype="auto") as b:
            raws, tokens, sec = run_synrank(b, treqs, sampling)
        parsed = parse_all(tpl, raws)
        rate = len(treqs) / sec * 60
        rows.append((args.transformers_model, "transformers", len(treqs), sec, rate, tokens / sec, sum(p is None for p in parsed) / len(parsed)))
        print(f"{args.transformers_model:<20} {'transformers':<12} {len(treqs):>3} prompts {sec:6.1f} s {rate:6.1f} prompts/min "
              f"{tokens / sec:6.1f} tokens/s  rejects {rows[-1][6]:.0%}", flush=True)
        same = next((r for r in rows if r[0] == args.transformers_model and r[1] == "llamacpp"), None)
        if same:
            print(f"{args.transformers_model:<20} llamacpp / transformers = {same[4] / rate:.1f} (target >= 4)", flush=True)

    print("\n| model | run | prompts | seconds | prompts/min | tokens/s | parse rejects |\n|---|---|---:|---:|---:|---:|---:|")
    for model, kind, n, sec, ppm, tps, rej in rows:
        print(f"| {model} | {kind} | {n} | {sec:.1f} | {ppm:.1f} | {tps:.1f} | {rej:.0%} |")
    print("\n| generator | prompts | parsed | source at rank 1 | source in top 20 |\n|---|---:|---:|---:|---:|")
    for model, n, parsed, r1, r20 in quality:
        print(f"| {model} | {n} | {parsed} | {r1:.0%} | {r20:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
