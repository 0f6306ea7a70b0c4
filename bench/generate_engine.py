"""CPU generation at the engine's limit (issue 28): the llama.cpp engine builds and synrank's scheduling, side by
side in one run, on the recipe's real query prompts.

Prompts: `synrank generate --task queries` of examples/domain_adaptation.sh at SIZE=small (types
question,claim,keywords,title; 3 few-shot examples drawn per prompt; passages cut to 256 tokens) for the first
SciFact abstracts, built by synrank's own task code. Each route runs in its own child process with the engine
chosen by PYTHONPATH (so the generic wheel and the native build are measured by the same code, one at a time):

  generic-chunked   the generic PyPI wheel, prompts in reading order, 64 per `generate` call (synrank <= 0.1)
  native-chunked    the native build, same route (the engine's share of the gain)
  native-synrank    the native build, synrank's route now: prompts ordered by shared prefix, each answer
                    handled as it arrives, 2 x slots in flight (`run_units`, the code `synrank generate` runs)
  server            a llama-server compiled natively on this machine (--server-bin), same model, slots,
                    threads and context, sent the same prompts in the same order over HTTP, 2 x slots in flight
  1.5b              qwen2.5-coder-1.5b on synrank's route (native), fewer prompts
  docs-*            the SyCL documents task (decode-bound), generic vs native, tokens/s
  shards            one engine with 2 threads vs two engines with 1 thread each, side by side, on the same prompts
  cache-ram         synrank's route with llama.cpp's host prompt cache at each of --cache-ram-sizes MiB (0 = off;
                    8192 is llama.cpp's default): prompts/min and the process's peak RSS
  variation         `synrank generate` twice with the same seed, default (4 slots) and --deterministic, and
                    --deterministic in reading order: how many records differ between the two runs

Reported per route: prompts/min (model loading excluded), completion tokens/s, prompt tokens evaluated vs
reused from the prompt cache (llama.cpp's own per-request counts). Ratios are against generic-chunked.

    # engines: a folder per build holding the unpacked wheel (PYTHONPATH roots)
    flock /tmp/synrank-heavy.lock python bench/generate_engine.py --generic DIR --native DIR --server-bin llama-server
    python bench/generate_engine.py ... --only native-synrank,server --prompts 64

Targets (issue 28): native-synrank >= 3 x generic-chunked; >= 0.9 x server (prompts/min).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCIFACT = Path(os.environ.get("SYNRANK_DATASETS") or REPO.parent / "shared" / "datasets") / "scifact"
TYPES = "question,claim,keywords,title"
ROUTES = ("generic-chunked", "native-chunked", "native-synrank", "server", "1.5b", "docs-generic", "docs-native", "shards",
          "variation", "cache-ram")


# --- child side -----------------------------------------------------------------------------------


def _task_and_slots(n_prompts: int, task: str, shard: str | None = None):
    from synrank.generate.config import GenerateConfig
    from synrank.generate.pipeline import units
    from synrank.generate.runner import _Inputs, build_task

    if task == "queries":
        n_types = len(TYPES.split(","))
        cfg = GenerateConfig(task="queries", types=TYPES, per_doc=1, limit=max(1, n_prompts // n_types),
                             input=SCIFACT / "corpus.jsonl", max_passage_tokens=256, shard=shard)
    else:
        cfg = GenerateConfig(task="docs", levels=4, limit=max(1, n_prompts // 4), input=SCIFACT / "queries.jsonl", shard=shard)
    t = build_task(cfg)
    return cfg, t, list(units(_Inputs(t, str(cfg.input), cfg.limit), t, cfg.shard_spec, set()))


def _backend(model: str, slots: int, threads: int, cache_ram: int):
    from synrank.llm.factory import BackendOptions, create_backend

    return create_backend("llamacpp", BackendOptions(model=model, slots=slots, threads=threads, seed=42, cache_ram=cache_ram))


def _summary(comps, seconds: float, load: float) -> dict:
    n = len(comps)
    prompt = sum(c.prompt_tokens for c in comps)
    cached = sum(int(c.extra.get("cached_tokens") or 0) for c in comps)
    completion = sum(c.completion_tokens for c in comps)
    return {"prompts": n, "seconds": round(seconds, 2), "load_seconds": round(load, 2),
            "prompts_per_min": round(60 * n / seconds, 2), "completion_tokens_per_s": round(completion / seconds, 2),
            "prompt_tokens": prompt, "cached_prompt_tokens": cached, "reuse": round(cached / prompt, 3) if prompt else 0.0}


def child(args: argparse.Namespace) -> None:
    from synrank.generate.config import GenerateConfig
    from synrank.generate.engine import SlotEngine
    from synrank.generate.pipeline import run_units
    from synrank.generate.runner import sampling_for
    from synrank.llm.base import Completion

    cfg, task, todo = _task_and_slots(args.prompts, args.task, args.shard)
    sampling = sampling_for(cfg, task)
    t0 = time.perf_counter()
    backend = _backend(args.model, args.slots, args.threads, args.cache_ram)
    load = time.perf_counter() - t0
    comps: list[Completion] = []
    with backend:
        engine = SlotEngine(backend, sampling, max_retries=0)
        if args.route == "chunked":
            # synrank <= 0.1: 64 prompts per call in reading order; the chunk's answers arrive together
            reqs = [engine.request(s, 0) for u in todo for s in u.slots]
            t1 = time.perf_counter()
            for k in range(0, len(reqs), 64):
                comps.extend(backend.generate(reqs[k : k + 64], sampling))
        else:
            real_count = engine.count
            engine.count = lambda c: (comps.append(c), real_count(c))  # type: ignore[method-assign]
            t1 = time.perf_counter()
            run_units(task, todo, engine, None, None, meta={}, chunk_prompts=4096)
        seconds = time.perf_counter() - t1
    import resource

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({**_summary(comps, seconds, load), "peak_rss_mb": round(peak_mb)}))


def server_child(args: argparse.Namespace) -> None:
    """The same prompts, in synrank's order, to a llama-server over HTTP (payloads from synrank's backend code)."""
    import heapq

    import httpx

    from synrank.generate.engine import attempt_seed
    from synrank.generate.runner import sampling_for
    from synrank.llm.base import Completion
    from synrank.llm.llamacpp_backend import LlamaCppBackend

    cfg, task, todo = _task_and_slots(args.prompts, args.task)
    sampling = sampling_for(cfg, task)
    order = []
    for n, u in enumerate(todo):
        for i, s in enumerate(u.slots):
            heapq.heappush(order, ((1, task.schedule_key(s), n, i), s))
    slots = [heapq.heappop(order)[1] for _ in range(len(order))]
    shim = LlamaCppBackend.__new__(LlamaCppBackend)  # only its payload(): the body synrank sends
    shim.cache_prompt = True
    bodies = [shim.payload(s.request(seed=attempt_seed(sampling.seed, s.slot_id, 0)), sampling) for s in slots]
    url = f"http://127.0.0.1:{args.port}/v1/chat/completions"

    def one(body):
        with httpx.Client(timeout=600) as client:
            data = client.post(url, json=body).json()
        usage, timings = data.get("usage") or {}, data.get("timings") or {}
        return Completion(text="", completion_tokens=int(usage.get("completion_tokens") or 0),
                          prompt_tokens=int(usage.get("prompt_tokens") or 0), extra={"cached_tokens": int(timings.get("cache_n") or 0)})

    t1 = time.perf_counter()
    with ThreadPoolExecutor(2 * args.slots) as pool:
        comps = list(pool.map(one, bodies))
    print(json.dumps(_summary(comps, time.perf_counter() - t1, 0.0)))


# --- parent side ----------------------------------------------------------------------------------


def run_child(engine_dir: Path | None, *extra: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join(p for p in (str(engine_dir or ""), str(REPO)) if p)}
    proc = subprocess.run([sys.executable, __file__, "--child", *extra], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"child {' '.join(extra)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_server(bin_path: str, model_path: str, args: argparse.Namespace) -> dict:
    port = _free_port()
    cmd = [bin_path, "-m", model_path, "--host", "127.0.0.1", "--port", str(port), "-np", str(args.slots),
           "-c", str(args.slots * 2048), "-t", str(args.threads), "-tb", str(args.threads), "--seed", "42", "--no-webui"]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            import httpx

            deadline = time.time() + 300
            while time.time() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None:
                    log.seek(0)
                    raise SystemExit(f"llama-server exited:\n{log.read()[-2000:].decode(errors='replace')}")
                time.sleep(0.5)
            return run_child(None, "--route", "server", "--port", str(port), *_common(args))
        finally:
            proc.terminate()
            proc.wait(timeout=60)


def _common(args: argparse.Namespace, **over) -> list[str]:
    vals = {"prompts": args.prompts, "slots": args.slots, "threads": args.threads, "model": args.model, "task": "queries", **over}
    out = []
    for k, v in vals.items():
        out += [f"--{k}", str(v)]
    return out


def shards(args: argparse.Namespace) -> dict:
    """Two 1-thread engines side by side on halves of the prompts vs one 2-thread engine on all (wall time)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join((str(args.native), str(REPO)))}
    t0 = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, __file__, "--child", "--route", "synrank", "--shard", f"{i}/2",
                               *_common(args, threads=1)], stdout=subprocess.PIPE, text=True, env=env) for i in range(2)]
    outs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    wall = time.perf_counter() - t0
    load = max(o["load_seconds"] for o in outs)
    n = sum(o["prompts"] for o in outs)
    gen = max(o["seconds"] for o in outs)
    return {"prompts": n, "seconds": round(gen, 2), "wall_seconds": round(wall, 2), "load_seconds": load,
            "prompts_per_min": round(60 * n / gen, 2), "reuse": round(sum(o["cached_prompt_tokens"] for o in outs) / max(1, sum(o["prompt_tokens"] for o in outs)), 3)}


def variation_child(args: argparse.Namespace) -> None:
    """Records of `synrank generate` (the library call) in a temporary folder, printed as {query_id: text}."""
    from synrank.generate import GenerateConfig, run

    n_types = len(TYPES.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "q.jsonl"
        cfg = GenerateConfig(task="queries", types=TYPES, per_doc=1, limit=max(1, args.prompts // n_types), model=args.model,
                             backend="llamacpp", input=SCIFACT / "corpus.jsonl", max_passage_tokens=256, out=out,
                             deterministic=args.route != "default", slots=args.slots, threads=args.threads)
        if args.route == "reading-order":
            from synrank.generate.queries_task import QueriesTask

            QueriesTask.schedule_key = lambda self, slot: ()  # type: ignore[method-assign]
        run(cfg)
        print(json.dumps({r["query_id"]: r["text"] for r in map(json.loads, out.read_text().splitlines())}))


def variation(args: argparse.Namespace) -> dict:
    def records(route: str) -> dict:
        return run_child(args.native, "--route", route, "--variation", *_common(args))

    def differ(a: dict, b: dict) -> int:
        return sum(1 for k in a.keys() | b.keys() if a.get(k) != b.get(k))

    d1, d2 = records("default"), records("default")
    x1, x2 = records("deterministic"), records("deterministic")
    r1 = records("reading-order")
    n = len(d1.keys() | d2.keys())
    return {"prompts": n, "default_runs_differ": differ(d1, d2), "deterministic_runs_differ": differ(x1, x2),
            "deterministic_vs_reading_order_differ": differ(x1, r1), "default_vs_deterministic_differ": differ(d1, x1),
            "prompts_per_min": 0.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--route", default="synrank", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--shard", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--task", default="queries", help=argparse.SUPPRESS)
    ap.add_argument("--variation", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--cache-ram", type=int, default=8192, help=argparse.SUPPRESS)
    ap.add_argument("--cache-ram-sizes", default="0,8192", help="cache-ram route: host prompt cache sizes in MiB to compare")
    ap.add_argument("--generic", type=Path, help="folder with the generic xllamacpp wheel unpacked")
    ap.add_argument("--native", type=Path, help="folder with the native xllamacpp build unpacked")
    ap.add_argument("--server-bin", help="a llama-server compiled natively on this machine")
    ap.add_argument("--model", default="qwen2.5-coder-0.5b")
    ap.add_argument("--model-large", default="qwen2.5-coder-1.5b")
    ap.add_argument("--prompts", type=int, default=128, help="query prompts per route (a multiple of 4)")
    ap.add_argument("--docs-prompts", type=int, default=16, help="documents-task prompts (4 levels per query)")
    ap.add_argument("--slots", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default=",".join(ROUTES), help=f"routes to run, comma-separated ({', '.join(ROUTES)})")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    if args.child:
        (variation_child if args.variation else server_child if args.route == "server" else child)(args)
        return
    from synrank.llm.engine_build import cpu_flags, cpu_model
    from synrank.llm.hf_loading import resolve_model_source

    only = [r.strip() for r in args.only.split(",") if r.strip()]
    flags = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile") if f in cpu_flags()]
    print(f"# {cpu_model()}, {os.cpu_count()} cores, flags {' '.join(flags)}; {platform.python_version()}; "
          f"{args.prompts} query prompts, {args.slots} slots, {args.threads} threads", flush=True)
    res: dict[str, dict] = {}
    for route in only:
        if route == "generic-chunked":
            res[route] = run_child(args.generic, "--route", "chunked", *_common(args))
        elif route == "native-chunked":
            res[route] = run_child(args.native, "--route", "chunked", *_common(args))
        elif route == "native-synrank":
            res[route] = run_child(args.native, "--route", "synrank", *_common(args))
        elif route == "server":
            src = resolve_model_source(args.model)
            res[route] = run_server(args.server_bin, f"{src.location}/{src.gguf_file}", args)
        elif route == "1.5b":
            res[route] = run_child(args.native, "--route", "synrank", *_common(args, prompts=max(4, args.prompts // 2), model=args.model_large))
        elif route in ("docs-generic", "docs-native"):
            eng = args.generic if route == "docs-generic" else args.native
            res[route] = run_child(eng, "--route", "synrank", *_common(args, prompts=args.docs_prompts, task="docs"))
        elif route == "shards":
            res["shards-2x1"] = shards(args)
        elif route == "variation":
            res[route] = variation(args)
        elif route == "cache-ram":
            for size in (int(x) for x in args.cache_ram_sizes.split(",")):
                res[f"cache-ram-{size}"] = run_child(args.native, "--route", "synrank", "--cache-ram", str(size), *_common(args))
                print(f"cache-ram-{size:<6} {json.dumps(res[f'cache-ram-{size}'])}", flush=True)
            continue
        else:
            raise SystemExit(f"unknown route {route!r}")
        key = "shards-2x1" if route == "shards" else route
        print(f"{key:16} {json.dumps(res[key])}", flush=True)
    base = res.get("generic-chunked", {}).get("prompts_per_min")
    print("\nroute             prompts/min  tokens/s  reuse   x generic-chunked")
    for k, v in res.items():
        if k == "variation":
            continue
        ratio = f"{v['prompts_per_min'] / base:.2f}" if base and not k.startswith("docs") else ""
        rss = f"   peak RSS {v['peak_rss_mb']:,} MB" if "peak_rss_mb" in v else ""
        print(f"{k:16} {v['prompts_per_min']:12.1f} {v.get('completion_tokens_per_s', 0):9.1f} {v.get('reuse', 0):6.1%}   {ratio}{rss}")
    if "native-synrank" in res and "server" in res:
        print(f"native-synrank / server: {res['native-synrank']['prompts_per_min'] / res['server']['prompts_per_min']:.2f}")
    if "docs-generic" in res and "docs-native" in res:
        print(f"docs tokens/s native / generic: {res['docs-native']['completion_tokens_per_s'] / res['docs-generic']['completion_tokens_per_s']:.2f}")
    if "shards-2x1" in res and "native-synrank" in res:
        print(f"2 engines x 1 thread / 1 engine x 2 threads (prompts/min): {res['shards-2x1']['prompts_per_min'] / res['native-synrank']['prompts_per_min']:.2f}")
    sizes = [k for k in res if k.startswith("cache-ram-")]
    if len(sizes) > 1:
        first = res[sizes[0]]
        for k in sizes[1:]:
            print(f"{k} / {sizes[0]}: prompts/min {res[k]['prompts_per_min'] / first['prompts_per_min']:.2f}, "
                  f"peak RSS {res[k]['peak_rss_mb'] / first['peak_rss_mb']:.2f}")
    if "variation" in res:
        v = res["variation"]
        print(f"records differing between two runs of the same command ({v['prompts']} queries): default {v['default_runs_differ']}, "
              f"--deterministic {v['deterministic_runs_differ']}; --deterministic scheduled vs reading order "
              f"{v['deterministic_vs_reading_order_differ']}; default vs --deterministic {v['default_vs_deterministic_differ']}")
    if args.json:
        args.json.write_text(json.dumps({"cpu": cpu_model(), "flags": flags, "args": {k: str(v) for k, v in vars(args).items()}, "results": res}, indent=2))


if __name__ == "__main__":
    main()
