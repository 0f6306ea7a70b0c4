"""The body of `synrank generate`: options to library calls, files, manifest and progress."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synrank.cli.common import info
from synrank.errors import ConfigError

MAX_NEW_TOKENS = {"docs": 200, "queries": 64}
MIN_WORDS = {"docs": 10, "queries": 1}
DEMO_NOTE = (
    "note: --model defaults to the bundled SmolLM2-135M-Instruct, a tiny demo model whose passages are weak; "
    "for real data pass e.g. --model Qwen/Qwen2.5-7B-Instruct --backend vllm (GPU) or --backend openai --base-url URL"
)
DEFAULT_CHUNK = {"transformers": 64, "vllm": 4096, "openai": 64, "llamacpp": 64}


@dataclass
class GenerateOptions:
    inputs: list[str] | None = None
    task: str = "docs"
    levels: int = 4
    docs_per_level: int = 1
    level_definitions: Path | None = None
    types: str = "question,claim,keywords,title,search"
    per_doc: int = 1
    examples: Path | None = None
    num_examples: int = 3
    template: list[str] | None = None
    dry_run: bool = False
    model: str = "smollm2"
    backend: str = "auto"
    temperature: float = 0.7
    top_p: float = 0.95
    max_new_tokens: int = 0
    max_retries: int = 2
    dedup_threshold: float = 0.9
    min_words: int = -1
    out: Path | None = None
    rejects: Path | None = None
    overwrite: bool = False
    shard: str | None = None
    limit: int = 0
    chunk_size: int = 0
    batch_size: int = 64
    batch_tokens: int = 65536
    tensor_parallel_size: int = 1
    data_parallel_size: int = 1
    gpu_memory_utilization: float = 0.9
    max_model_len: int = 0
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 8
    http_retries: int = 5
    prefill: bool = False
    slots: int = 4
    ctx_size: int = 0
    device: str = "auto"
    dtype: str = "auto"
    threads: int = 0
    seed: int = 42
    trust_remote_code: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def run_list_templates() -> None:
    import typer

    from synrank.generate.templates import list_templates

    for t in list_templates():
        kind = f"{t.task}" + (f" ({t.query_type})" if t.query_type else "")
        typer.echo(f"{t.name:<20} {kind:<20} {t.description}")


def run_merge(inputs: list[str], out: Path | None) -> None:
    from synrank.formats.io import write_jsonl
    from synrank.generate.merge import iter_merged

    if not inputs:
        raise ConfigError("--merge needs the shard files to join")
    n = write_jsonl(iter_merged(inputs), out)
    info(f"merged {n} records from {len(inputs)} files" + (f" into {out}" if out else ""))


def _one_input(opts: GenerateOptions) -> str:
    if not opts.inputs:
        raise ConfigError(f"missing input: a {'queries' if opts.task == 'docs' else 'corpus'} file (or '-' for stdin)")
    if len(opts.inputs) > 1:
        raise ConfigError("give one input file (several files are only for --merge)")
    return opts.inputs[0]


def _template_overrides(opts: GenerateOptions) -> dict[str | None, Path]:
    out: dict[str | None, Path] = {}
    for spec in opts.template or []:
        name, sep, path = spec.partition("=")
        if sep and opts.task == "queries":
            out[name.strip()] = Path(path)
        elif sep and not Path(spec).exists():
            raise ConfigError(f"--template {spec}: TYPE=FILE is for --task queries; --task docs takes one FILE")
        else:
            out[None] = Path(spec)
    return out


def build_task(opts: GenerateOptions):
    """The DocsTask/QueriesTask the options describe (loads templates, levels and examples)."""
    from synrank.generate.docs_task import DocsTask
    from synrank.generate.examples import read_examples
    from synrank.generate.levels import default_definitions, read_definitions
    from synrank.generate.queries_task import QueriesTask
    from synrank.generate.templates import load_packaged, load_template_file, packaged_names

    overrides = _template_overrides(opts)
    if opts.task == "docs":
        if opts.docs_per_level < 1:
            raise ConfigError("--docs-per-level must be at least 1")
        definitions = default_definitions(opts.levels)
        if opts.level_definitions is not None:
            definitions = read_definitions(opts.level_definitions, opts.levels)
        tpl = load_template_file(overrides[None], expected_task="docs") if None in overrides else load_packaged("docs")
        return DocsTask(tpl, opts.levels, opts.docs_per_level, definitions)
    if opts.task != "queries":
        raise ConfigError(f"unknown task {opts.task!r} (use docs or queries)")
    if opts.per_doc < 1:
        raise ConfigError("--per-doc must be at least 1")
    types = [t.strip() for t in opts.types.split(",") if t.strip()]
    if not types:
        raise ConfigError("--types is empty")
    if len(set(types)) != len(types):
        raise ConfigError("--types lists a type twice")
    bare = load_template_file(overrides[None], expected_task="queries") if None in overrides else None
    bare_type = (bare.query_type or bare.name) if bare is not None else None
    if bare_type is not None and bare_type not in types:
        types.append(bare_type)  # a bare FILE defines the type named in its '# type:' header (or file name)
    templates = {}
    packaged = set(packaged_names())
    for qtype in types:
        if qtype in overrides:
            templates[qtype] = load_template_file(overrides[qtype], expected_task="queries")
        elif bare is not None and qtype == bare_type:
            templates[qtype] = bare
        elif f"queries-{qtype}" in packaged:
            templates[qtype] = load_packaged(f"queries-{qtype}")
        else:
            known = ", ".join(sorted(n[len("queries-") :] for n in packaged if n.startswith("queries-")))
            raise ConfigError(f"unknown query type {qtype!r} (packaged: {known}; add your own with --template {qtype}=FILE)")
    exs = tuple(read_examples(opts.examples)) if opts.examples is not None else ()
    return QueriesTask(templates, opts.per_doc, exs, opts.num_examples, opts.seed)


def _template_digest(task) -> dict[str, str]:
    from synrank.generate.docs_task import DocsTask

    tpls = {"docs": task.template} if isinstance(task, DocsTask) else task.templates
    return {k: hashlib.sha256(f"{t.system}\n{t.user}\n{t.prefix}\n{t.output}".encode()).hexdigest()[:16] for k, t in tpls.items()}


def _limited(it, limit: int):
    for i, x in enumerate(it):
        if limit and i >= limit:
            return
        yield x


def _dry_run(opts: GenerateOptions, task, source: str) -> None:
    import typer

    from synrank.generate.docs_task import DocsTask

    if isinstance(task, DocsTask):
        from synrank.formats.queries import read_queries

        qid, text = next(iter(read_queries(source).items()))
        slots = task.slots(qid, text)
    else:
        from synrank.formats.corpus import iter_corpus

        slots = task.slots(next(iter(iter_corpus(source))))
    for slot in slots:
        req = slot.template.render(slot.values)
        typer.echo(f"===== {slot.slot_id} (template {slot.template.source}, output {slot.template.output})")
        for m in req.messages:
            typer.echo(f"--- {m['role']}\n{m['content']}")
        if req.prefix:
            typer.echo(f"--- assistant (response prefix)\n{req.prefix}")


def run_generate(opts: GenerateOptions) -> None:
    from synrank.formats.io import AppendJsonlWriter
    from synrank.formats.manifest import make_manifest, manifest_path_for, read_manifest, write_manifest
    from synrank.generate.docs_task import DocsTask
    from synrank.generate.engine import SlotEngine
    from synrank.generate.pipeline import docs_units, queries_units, run_units
    from synrank.generate.shard import parse_shard
    from synrank.llm.base import SamplingConfig
    from synrank.llm.factory import BackendOptions, create_backend, resolve_backend_name
    from synrank.runtime.progress import make_progress
    from synrank.runtime.seeding import set_seed, set_threads

    source = _one_input(opts)
    task = build_task(opts)
    shard = parse_shard(opts.shard)
    if not 0 <= opts.temperature <= 5 or not 0 < opts.top_p <= 1:
        raise ConfigError("--temperature must be in [0, 5] and --top-p in (0, 1]")
    if opts.max_retries < 0 or opts.num_examples < 0 or opts.limit < 0:
        raise ConfigError("--max-retries, --num-examples and --limit cannot be negative")
    sampling = SamplingConfig(
        temperature=opts.temperature,
        top_p=opts.top_p,
        max_new_tokens=opts.max_new_tokens or MAX_NEW_TOKENS[opts.task],
        seed=opts.seed,
    )
    if opts.dry_run:
        _dry_run(opts, task, source)
        return

    # Read (and validate) the input before loading a model: a bad line fails in a second, not a minute.
    if isinstance(task, DocsTask):
        from synrank.formats.queries import read_queries

        queries = list(read_queries(source).items())[: opts.limit or None]
        total_inputs = sum(1 for qid, _ in queries if _in(qid, shard))
    else:
        from synrank.formats.corpus import iter_corpus

        if source == "-":
            docs_list = list(_limited(iter_corpus(source), opts.limit))
            total_inputs = sum(1 for d in docs_list if _in(d.doc_id, shard))
        else:
            total_inputs = sum(1 for d in _limited(iter_corpus(source), opts.limit) if _in(d.doc_id, shard))

    backend_name = resolve_backend_name(opts.backend, opts.model)
    config = {
        "task": opts.task,
        "input": source,
        "shard": list(shard),
        "templates": _template_digest(task),
        "sampling": sampling.as_dict(),
        "max_retries": opts.max_retries,
        "dedup_threshold": opts.dedup_threshold,
        "min_words": opts.min_words if opts.min_words >= 0 else MIN_WORDS[opts.task],
    }
    if isinstance(task, DocsTask):
        config.update(levels=task.levels, docs_per_level=task.docs_per_level, level_definitions=task.definitions)
    else:
        config.update(types=list(task.templates), per_doc=task.per_doc, examples=str(opts.examples) if opts.examples else None, num_examples=opts.num_examples)

    rejects_path = opts.rejects
    manifest_path = None
    if opts.out is not None and str(opts.out) != "-":
        if rejects_path is None:
            rejects_path = opts.out.with_name(opts.out.name + ".rejects.jsonl")
        manifest_path = manifest_path_for(opts.out)
        if opts.overwrite:
            for p in (opts.out, rejects_path, manifest_path):
                p.unlink(missing_ok=True)
        elif opts.out.exists() and manifest_path.exists():
            old = read_manifest(manifest_path).get("config", {})
            changed = [k for k in ("task", "shard", "templates", "sampling", "levels", "docs_per_level", "level_definitions", "types", "per_doc") if _norm(old.get(k)) != _norm(config.get(k))]
            if old.get("model") not in (None, opts.model):
                changed.append("model")
            if changed:
                raise ConfigError(
                    f"{opts.out} was made with different options ({', '.join(changed)}); resuming would mix them "
                    "(use another --out, or --overwrite to start over)"
                )
    config["model"] = opts.model

    writer = AppendJsonlWriter(opts.out if opts.out is not None and str(opts.out) != "-" else None, key=lambda r: str(r.get("query_id")))
    rejects_writer = AppendJsonlWriter(rejects_path, key=lambda r: f"{r.get('unit')}\t{r.get('slot')}") if rejects_path else None
    done: set[str] = set(writer.done_keys)
    if rejects_writer is not None:
        for k in rejects_writer.done_keys:
            unit, _, slot = k.partition("\t")
            done.add(unit if isinstance(task, DocsTask) else slot)
    skipped: list[int] = []  # passages already complete (queries task), counted as the generator passes them
    try:
        if isinstance(task, DocsTask):
            units = docs_units(queries, task, shard, done)
            done_inputs = sum(1 for qid, _ in queries if _in(qid, shard) and qid in done)
        else:
            docs_iter = docs_list if source == "-" else _limited(iter_corpus(source), opts.limit)
            units = queries_units(docs_iter, task, shard, done, on_skip=lambda: skipped.append(1))
            done_inputs = 0
        if done:
            info(f"resuming {opts.out}: {len(done)} records already done are skipped")

        if opts.model == "smollm2" and backend_name != "openai":
            info(DEMO_NOTE)
        set_seed(opts.seed)
        if backend_name == "transformers":
            set_threads(opts.threads)
        engine_args: dict[str, Any] = {}
        if opts.max_model_len:
            engine_args["max_model_len"] = opts.max_model_len
        t0 = time.perf_counter()
        backend = create_backend(
            backend_name,
            BackendOptions(
                model=opts.model,
                device=opts.device,
                dtype=opts.dtype,
                seed=opts.seed,
                trust_remote_code=opts.trust_remote_code,
                batch_tokens=opts.batch_tokens,
                batch_size=opts.batch_size,
                tensor_parallel_size=opts.tensor_parallel_size,
                data_parallel_size=opts.data_parallel_size,
                gpu_memory_utilization=opts.gpu_memory_utilization,
                engine_args=engine_args,
                base_url=opts.base_url,
                api_key_env=opts.api_key_env,
                concurrency=opts.concurrency,
                http_attempts=opts.http_retries,
                prefill=opts.prefill,
                threads=opts.threads,
                slots=opts.slots,
                ctx_size=opts.ctx_size,
            ),
        )
        load_seconds = time.perf_counter() - t0
        backend_info = backend.info()
        meta = {"model": opts.model, "backend": backend_name, **{k: v for k, v in sampling.as_dict().items()}}
        if isinstance(task, DocsTask):
            meta.update(template=task.template.name, levels=task.levels)
        manifest = make_manifest("generate", model=opts.model, config=config, backend=backend_info)
        if manifest_path is not None:
            write_manifest(manifest, manifest_path)
        min_words = opts.min_words if opts.min_words >= 0 else MIN_WORDS[opts.task]
        engine = SlotEngine(
            backend, sampling, max_retries=opts.max_retries, dedup_threshold=opts.dedup_threshold, min_words=min_words
        )
        chunk = opts.chunk_size or DEFAULT_CHUNK.get(backend_name, 64)
        if backend_name == "openai" and not opts.chunk_size:
            chunk = max(chunk, 4 * opts.concurrency)
        unit_name = "queries" if isinstance(task, DocsTask) else "passages"
        t1 = time.perf_counter()
        # The bar is for people at a terminal; in pipelines and logs it would only add noise to stderr.
        with make_progress(unit_name, disable=not sys.stderr.isatty()) as progress:
            bar = progress.add_task(f"generate {opts.task}", total=total_inputs or None, completed=done_inputs)
            run_units(
                task,
                units,
                engine,
                writer,
                rejects_writer,
                meta=meta,
                chunk_prompts=chunk,
                on_unit=lambda _u: progress.advance(bar, 1 + _drain(skipped)),
            )
        gen_seconds = time.perf_counter() - t1
        backend.close()
    finally:
        writer.close()
        if rejects_writer is not None:
            rejects_writer.close()
    stats = engine.stats.as_dict()
    rate = stats["completion_tokens"] / gen_seconds if gen_seconds > 0 else 0.0
    if manifest_path is not None:
        manifest["stats"] = {**stats, "load_seconds": round(load_seconds, 2), "generate_seconds": round(gen_seconds, 2), "tokens_per_second": round(rate, 2), "records_written": writer.written}
        manifest["rejects"] = str(rejects_path) if rejects_path else None
        write_manifest(manifest, manifest_path)
    info(
        f"generated {stats['accepted']} {'passages' if isinstance(task, DocsTask) else 'queries'}, "
        f"rejected {stats['rejected']} after {opts.max_retries} retries"
        + (f" (see {rejects_path})" if rejects_path and stats["rejected"] else "")
        + f"; {stats['completion_tokens']} tokens in {gen_seconds:.1f}s ({rate:.1f} tokens/s)"
    )


def _drain(items: list[int]) -> int:
    n = len(items)
    items.clear()
    return n


def _in(key: str, shard: tuple[int, int]) -> bool:
    from synrank.generate.shard import in_shard

    return in_shard(key, shard)


def _norm(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str, sort_keys=True))
