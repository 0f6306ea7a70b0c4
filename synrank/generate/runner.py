"""The ``generate`` stage as a library call: :func:`run` (and :func:`preview`, :func:`merge`).

``run`` resolves the templates into a task, reads (and validates) the inputs before any model is
loaded, checks that an existing output was made with the same settings (then resumes it), opens the
backend as a context manager (so the engine is closed on success, error and Ctrl-C alike), generates
chunk by chunk, and writes the manifest with the run's statistics.
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synrank.errors import ConfigError
from synrank.generate.config import GenerateConfig, GenerateResult
from synrank.generate.task import GenerationTask
from synrank.llm.base import ChatRequest, SamplingConfig

DEMO_NOTE = (
    "note: smollm2 (SmolLM2-135M-Instruct) is a tiny test model whose texts are weak; on a CPU use the default "
    "qwen2.5-coder-0.5b (synrank models pull qwen2.5-coder-0.5b), on a GPU e.g. Qwen/Qwen2.5-7B-Instruct with backend vllm"
)
# Prompts read (and, for llamacpp, ordered by shared prefix) together when chunk_size is 0. For batch backends a
# chunk is one call, and what a kill can lose; llamacpp writes each record as it finishes.
DEFAULT_CHUNK = {"transformers": 64, "vllm": 4096, "openai": 64, "llamacpp": 2048}

if TYPE_CHECKING:
    from synrank.runtime.progress import ProgressArg

Info = Callable[[str], None]


# --- task --------------------------------------------------------------------------------------


def _template_overrides(cfg: GenerateConfig) -> dict[str | None, Path]:
    out: dict[str | None, Path] = {}
    for spec in map(str, cfg.template or []):
        name, sep, path = spec.partition("=")
        if sep and cfg.task == "queries":
            out[name.strip()] = Path(path)
        elif sep and not Path(spec).exists():
            raise ConfigError(f"{spec}: TYPE=FILE is for task queries; task docs takes one FILE", setting="template")
        else:
            out[None] = Path(spec)
    return out


def _query_types(cfg: GenerateConfig) -> list[str]:
    from synrank.generate.queries_task import PRESETS

    types: list[str] = []
    for name in (t.strip() for t in cfg.types.split(",")):
        if name:
            types.extend(PRESETS.get(name, (name,)))
    if len(set(types)) != len(types):
        raise ConfigError("lists a type twice", setting="types")
    return types


def _examples(cfg: GenerateConfig, types: list[str]):
    from synrank.generate.examples import read_examples

    out = []
    for spec in map(str, cfg.examples or []):
        name, sep, path = spec.partition("=")
        if sep and not Path(spec).exists():
            name = name.strip()
            if name not in types:
                raise ConfigError(f"{spec}: {name!r} is not one of the query types ({', '.join(types)})", setting="examples")
            out.extend(read_examples(path, qtype=name))
        else:
            out.extend(read_examples(spec))
    return tuple(out)


def build_task(cfg: GenerateConfig) -> GenerationTask:
    """The task ``cfg`` describes, with its templates, level definitions and examples loaded."""
    from synrank.generate.docs_task import DocsTask
    from synrank.generate.examples import packaged_examples
    from synrank.generate.levels import default_definitions, read_definitions
    from synrank.generate.passages import PassageCap
    from synrank.generate.queries_task import QueriesTask
    from synrank.generate.templates import load_packaged, load_template_file, packaged_names

    overrides = _template_overrides(cfg)
    if cfg.task == "docs":
        definitions = default_definitions(cfg.levels)
        if cfg.level_definitions is not None:
            definitions = read_definitions(cfg.level_definitions, cfg.levels)
        tpl = load_template_file(overrides[None], expected_task="docs") if None in overrides else load_packaged("docs")
        return DocsTask(tpl, cfg.levels, cfg.docs_per_level, definitions)
    types = _query_types(cfg)
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
            raise ConfigError(
                f"unknown query type {qtype!r} (packaged: {known}; add your own with --template {qtype}=FILE)", setting="types"
            )
    return QueriesTask(
        templates,
        cfg.per_doc,
        _examples(cfg, types),
        cfg.num_examples,
        cfg.seed,
        default_examples=tuple(packaged_examples()),
        passage_cap=PassageCap(cfg.max_passage_tokens),
    )


def template_digest(task: GenerationTask) -> dict[str, str]:
    """A short hash per template (what resume compares, so edited prompts are not mixed into one output)."""
    out = {}
    for name, t in task.templates().items():
        text = f"{t.system}\n{t.user}\n{t.prefix}\n{t.output}"
        if t.max_chars or t.label != "Query" or t.examples_as_turns:  # added later: left out when unset
            text += f"\n{t.max_chars}\n{t.label}\n{t.examples_as_turns}"
        out[name] = hashlib.sha256(text.encode()).hexdigest()[:16]
    return out


def sampling_for(cfg: GenerateConfig, task: GenerationTask) -> SamplingConfig:
    return SamplingConfig(
        temperature=task.default_temperature if cfg.temperature is None else cfg.temperature,
        top_p=task.default_top_p if cfg.top_p is None else cfg.top_p,
        max_new_tokens=cfg.max_new_tokens or task.default_max_new_tokens,
        seed=cfg.seed,
    )


# --- inputs --------------------------------------------------------------------------------------


def _source(cfg: GenerateConfig) -> str:
    if not cfg.input:
        raise ConfigError(f"missing input: a {'queries' if cfg.task == 'docs' else 'corpus'} file (or '-' for stdin)")
    return str(cfg.input)


def _limited(it, limit: int) -> Iterator[Any]:
    for i, x in enumerate(it):
        if limit and i >= limit:
            return
        yield x


class _Inputs:
    """The task's inputs after ``limit``; stdin is read once and kept, files are re-read per pass."""

    def __init__(self, task: GenerationTask, source: str, limit: int) -> None:
        self.task, self.source, self.limit = task, source, limit
        self._kept = list(self._read()) if source == "-" else None

    def _read(self):
        return _limited(self.task.iter_inputs(self.source), self.limit)

    def __iter__(self):
        return iter(self._kept) if self._kept is not None else self._read()


# --- library entry points -------------------------------------------------------------------------


def preview(cfg: GenerateConfig) -> list[tuple[Any, ChatRequest]]:
    """The prompts of the first input as ``(slot, request)`` pairs; no model is loaded (so a passage cap
    counts tokens with the whitespace approximation)."""
    task = build_task(cfg)
    key, payload = next(iter(_Inputs(task, _source(cfg), 1)))
    return [(slot, slot.request()) for slot in task.slots(key, payload)]


def merge(inputs: list[str | Path], out: Path | None) -> int:
    """Join shard outputs (refusing duplicate records) into ``out`` (stdout when None); returns the count."""
    from synrank.formats.io import write_jsonl
    from synrank.formats.manifest import make_manifest
    from synrank.formats.outputs import guarded_output
    from synrank.generate.merge import iter_merged

    if not inputs:
        raise ConfigError("merge needs the shard files to join")
    # Written whole through a temporary file: a duplicate found halfway leaves no half-merged output.
    with guarded_output(out, inputs=inputs, kind="file") as target:
        n = write_jsonl(iter_merged(inputs), target.path)
        target.manifest = make_manifest("generate-merge", config={"inputs": [str(p) for p in inputs]})
    return n


@contextlib.contextmanager
def _opened(backend: Any) -> Iterator[Any]:
    """The backend as a context manager, closed in every path (backends without ``__enter__`` too)."""
    if hasattr(backend, "__enter__"):
        with backend as b:
            yield b
    else:
        with contextlib.closing(backend) as b:
            yield b


def _backend_options(cfg: GenerateConfig):
    from synrank.llm.factory import BackendOptions

    return BackendOptions(
        model=cfg.model,
        device=cfg.device,
        dtype=cfg.dtype,
        seed=cfg.seed,
        trust_remote_code=cfg.trust_remote_code,
        batch_tokens=cfg.batch_tokens,
        batch_size=cfg.batch_size,
        tensor_parallel_size=cfg.tensor_parallel_size,
        data_parallel_size=cfg.data_parallel_size,
        gpu_memory_utilization=cfg.gpu_memory_utilization,
        engine_args={"max_model_len": cfg.max_model_len} if cfg.max_model_len else {},
        base_url=cfg.base_url,
        api_key_env=cfg.api_key_env,
        concurrency=cfg.concurrency,
        http_attempts=cfg.http_retries,
        prefill=cfg.prefill,
        threads=cfg.threads,
        slots=1 if cfg.deterministic else cfg.slots,
        ctx_size=cfg.ctx_size,
        cache_ram=cfg.cache_ram,
    )


def chunk_prompts(cfg: GenerateConfig, backend_name: str) -> int:
    """Prompts per backend call: enough to keep the engine's parallelism busy, few enough to lose little on a kill."""
    if cfg.chunk_size:
        return cfg.chunk_size
    chunk = DEFAULT_CHUNK.get(backend_name, 64)
    if backend_name == "openai":
        chunk = max(chunk, 4 * cfg.concurrency)
    return chunk


def _tokenizer_of(backend: Any) -> Any:
    """The generator's Hugging Face tokenizer when the backend exposes a fast one (offsets needed), else None."""
    tok = getattr(backend, "tokenizer", None)
    return tok if tok is not None and getattr(tok, "is_fast", False) else None


def _user_files(cfg: GenerateConfig, source: str) -> list[str | Path | None]:
    """Every file the run reads: outputs may never be one of them."""
    files: list[str | Path | None] = [source, cfg.level_definitions]
    for spec in map(str, [*(cfg.examples or []), *(cfg.template or [])]):
        name, sep, path = spec.partition("=")
        files.append(path if sep and not Path(spec).exists() else spec)
    return files


@dataclass
class _Plan:
    """What a run settles before any model is loaded: the task, the inputs and the output's identity."""

    source: str
    task: GenerationTask
    shard: tuple[int, int]
    sampling: SamplingConfig
    min_words: int
    inputs: _Inputs
    total_inputs: int
    backend_name: str
    fingerprint: dict[str, Any]  # what must match for a re-run to resume the output
    config: dict[str, Any]  # the fingerprint and the settings the manifest records besides
    out: Path | None  # None: stdout
    rejects: Path | None


def _plan(cfg: GenerateConfig) -> _Plan:
    from synrank.formats.outputs import is_stdout
    from synrank.generate.shard import in_shard
    from synrank.llm.factory import resolve_backend_name

    source = _source(cfg)
    task = build_task(cfg)
    shard = cfg.shard_spec
    sampling = sampling_for(cfg, task)
    min_words = cfg.min_words if cfg.min_words >= 0 else task.default_min_words
    # Read (and validate) the input before loading a model: a bad line fails in a second, not a minute.
    inputs = _Inputs(task, source, cfg.limit)
    total_inputs = sum(1 for key, _ in inputs if in_shard(key, shard))
    fingerprint: dict[str, Any] = {
        "task": cfg.task,
        "shard": list(shard),
        "templates": template_digest(task),
        "sampling": sampling.as_dict(),
        **task.fingerprint(),
        "model": cfg.model,
    }
    config: dict[str, Any] = {
        **fingerprint,
        "input": source,
        "max_retries": cfg.max_retries,
        "dedup_threshold": cfg.dedup_threshold,
        "min_words": min_words,
        "examples": [str(e) for e in cfg.examples or []] or None,
        "num_examples": cfg.num_examples,
    }
    out = None if is_stdout(cfg.out) else cfg.out
    rejects = cfg.rejects
    if out is not None and rejects is None:
        rejects = out.with_name(out.name + ".rejects.jsonl")
    backend_name = resolve_backend_name(cfg.backend, cfg.model)
    return _Plan(source, task, shard, sampling, min_words, inputs, total_inputs, backend_name, fingerprint, config, out, rejects)


@dataclass
class _Tally:
    """What a run counts as it goes, for the result and the manifest."""

    done_before: int = 0  # inputs already complete in the output being resumed
    unshown_skips: int = 0  # of those, the ones the progress bar has not moved for yet
    reject_reasons: dict[str, int] = field(default_factory=dict)
    load_seconds: float = 0.0
    generate_seconds: float = 0.0
    before: dict[str, Any] | None = None  # the resumed output's manifest stats

    def skip(self) -> None:
        self.done_before += 1
        self.unshown_skips += 1

    def take_skips(self) -> int:
        n, self.unshown_skips = self.unshown_skips, 0
        return n


class _Writers:
    """The output and its rejects file, each resumable; also the reject sink :func:`run_units` writes to."""

    def __init__(self, path: Path | None, rejects: Path | None, tally: _Tally) -> None:
        from synrank.formats.io import AppendJsonlWriter

        self.tally = tally
        self.records = AppendJsonlWriter(path, key=lambda r: str(r.get("query_id")))
        self.rejects = AppendJsonlWriter(rejects, key=lambda r: f"{r.get('unit')}\t{r.get('slot')}") if rejects else None

    def done(self, task: GenerationTask) -> set[str]:
        """The done-keys of every slot either file already holds: a rejected slot is final too."""
        done: set[str] = set(self.records.done_keys)
        for k in self.rejects.done_keys if self.rejects is not None else ():
            unit, _, slot = k.partition("\t")
            done.add(task.done_key(unit, slot))
        return done

    def write(self, record: dict[str, Any]) -> None:
        assert self.rejects is not None
        self.tally.reject_reasons[record["reason"]] = self.tally.reject_reasons.get(record["reason"], 0) + 1
        self.rejects.write(record)

    def close(self) -> None:
        self.records.close()
        if self.rejects is not None:
            self.rejects.close()


def _prepare(cfg: GenerateConfig, plan: _Plan, done: set[str], info: Info) -> None:
    """The notes and process settings that come before the model is loaded."""
    from synrank.runtime.seeding import set_seed, set_threads

    if done:
        info(f"resuming {cfg.out}: {len(done)} records already done are skipped")
    if cfg.model == "smollm2" and plan.backend_name != "openai":
        info(DEMO_NOTE)
    set_seed(cfg.seed)
    if plan.backend_name == "transformers":
        set_threads(cfg.threads)


def _generate(cfg: GenerateConfig, plan: _Plan, target: Any, writers: _Writers, tally: _Tally,
              info: Info, bars: bool) -> tuple[Any, GenerationTask]:
    """Load the backend, start the manifest and generate every slot still to do; returns the engine (its
    statistics) and the task as bound to the generator's tokenizer."""
    from synrank.formats.manifest import make_manifest
    from synrank.generate.engine import SlotEngine
    from synrank.llm.factory import create_backend

    done = writers.done(plan.task)
    _prepare(cfg, plan, done, info)
    t0 = time.perf_counter()
    with _opened(create_backend(plan.backend_name, _backend_options(cfg))) as backend:
        tally.load_seconds = time.perf_counter() - t0
        if plan.backend_name == "llamacpp":
            from synrank.llm.engine_build import generic_engine_note

            note = generic_engine_note()
            if note:
                info(note)
        task = plan.task.with_tokenizer(_tokenizer_of(backend))
        tally.before = _stats_of(target.manifest_path) if done else None  # read before it is rewritten
        target.manifest = make_manifest("generate", model=cfg.model, config=plan.config, backend=backend.info())
        target.write_manifest()  # before the first record: a killed run's output is recognisably synrank's
        engine = SlotEngine(backend, plan.sampling, max_retries=cfg.max_retries, dedup_threshold=cfg.dedup_threshold,
                            min_words=plan.min_words, in_flight=1 if cfg.deterministic else 0)
        t1 = time.perf_counter()
        _run_with_bar(cfg, plan, task, engine, writers, done, tally, bars)
        tally.generate_seconds = time.perf_counter() - t1
    return engine, task


def _run_with_bar(cfg: GenerateConfig, plan: _Plan, task: GenerationTask, engine: Any, writers: _Writers,
                  done: set[str], tally: _Tally, bars: bool) -> None:
    from synrank.generate.pipeline import run_units, units
    from synrank.runtime.progress import make_progress

    meta = {"model": cfg.model, "backend": plan.backend_name, **plan.sampling.as_dict(), **task.record_meta()}
    todo = units(plan.inputs, task, plan.shard, done, on_skip=tally.skip)
    show = bars and sys.stderr.isatty()
    # The bar is for people at a terminal; in pipelines and logs it would only add noise to stderr.
    with make_progress(task.input_noun, disable=not show) as bar_display:
        bar = bar_display.add_task(f"generate {cfg.task}", total=plan.total_inputs or None)
        run_units(
            task,
            todo,
            engine,
            writers.records,
            writers if writers.rejects is not None else None,
            meta=meta,
            chunk_prompts=chunk_prompts(cfg, plan.backend_name),
            # A finished slot moves the bar by its share of the input: with prompts ordered by prefix,
            # an input's slots finish at different times.
            on_slot=lambda u: bar_display.advance(bar, 1 / len(u.slots) + tally.take_skips()),
        )


def _result(cfg: GenerateConfig, plan: _Plan, task: GenerationTask, stats: dict[str, Any], written: int,
            tally: _Tally, manifest: Path | None) -> GenerateResult:
    return GenerateResult(
        task=cfg.task,
        output_noun=task.output_noun,
        backend=plan.backend_name,
        out=plan.out,
        rejects=plan.rejects,
        manifest=manifest,
        inputs=plan.total_inputs,
        inputs_done_before=tally.done_before,
        records_written=written,
        accepted=stats["accepted"],
        rejected=stats["rejected"],
        retried=stats["retried"],
        prompts=stats["prompts"],
        prompt_tokens=stats["prompt_tokens"],
        completion_tokens=stats["completion_tokens"],
        load_seconds=tally.load_seconds,
        generate_seconds=tally.generate_seconds,
        reject_reasons=tally.reject_reasons,
        cached_prompt_tokens=stats["cached_prompt_tokens"],
        task_info=task.manifest_info(),
    )


def _finish_manifest(manifest: dict[str, Any], stats: dict[str, Any], result: GenerateResult, tally: _Tally,
                     rejects: Path | None) -> None:
    this_run = {
        **stats,
        "load_seconds": round(tally.load_seconds, 2),
        "generate_seconds": round(tally.generate_seconds, 2),
        "tokens_per_second": round(result.tokens_per_second, 2),
        "records_written": result.records_written,
        "reject_reasons": tally.reject_reasons,
    }
    # The manifest describes the whole output: a resumed run adds its counts to the earlier runs'.
    manifest["stats"] = _add_stats(tally.before, this_run)
    manifest["stats_last_run"] = this_run
    manifest["rejects"] = str(rejects) if rejects else None
    manifest.update(result.task_info)


def run(cfg: GenerateConfig, *, progress: ProgressArg = None, info: Info | None = None) -> GenerateResult:
    """Run the ``generate`` stage; returns counts, paths and timings. ``progress``: see
    :data:`synrank.runtime.progress.ProgressArg` (``info=`` is its older spelling); the bar is drawn only
    when stderr is a terminal (in pipelines and logs it would only add noise).

    The output is opened through :func:`synrank.formats.outputs.guarded_output` (``kind="append"``): a
    re-run with the same fingerprint (task, shard, templates, sampling, task settings, model) resumes, other
    settings are refused unless ``overwrite``, and files synrank did not write are never touched."""
    from synrank.formats.outputs import guarded_output
    from synrank.runtime.progress import reporter

    report = reporter(progress, info=info)
    info, bars = report.say, report.bars
    plan = _plan(cfg)
    tally = _Tally()
    # The rejects are guarded with the output: resumed with it, started over with it, put back with it.
    with guarded_output(
        plan.out,
        inputs=_user_files(cfg, plan.source),
        overwrite=cfg.overwrite,
        kind="append",
        fingerprint=plan.fingerprint,
        sidecars=[plan.rejects],
    ) as target:
        writers = _Writers(target.path, plan.rejects, tally)
        try:
            engine, task = _generate(cfg, plan, target, writers, tally, info, bars)
        finally:
            writers.close()
        stats = engine.stats.as_dict()
        result = _result(cfg, plan, task, stats, writers.records.written, tally, target.manifest_path)
        if target.manifest is not None:
            _finish_manifest(target.manifest, stats, result, tally, plan.rejects)
        # guarded_output writes the final manifest when the block ends.
    return result


def _stats_of(manifest: Path | None) -> dict[str, Any] | None:
    """The ``stats`` of an earlier run's manifest, if it has any (a run killed early has none)."""
    from synrank.errors import InputError
    from synrank.formats.manifest import read_manifest

    try:
        stats = read_manifest(manifest).get("stats") if manifest else None
    except (InputError, OSError, AttributeError):
        return None  # an unreadable earlier manifest: count from this run on
    return stats if isinstance(stats, dict) else None


def _add_stats(before: dict[str, Any] | None, run: dict[str, Any]) -> dict[str, Any]:
    """Totals over every run into one output: counts and seconds summed, tokens/s recomputed, ``runs`` counted."""
    if not before:
        return {**run, "runs": 1}
    total: dict[str, Any] = {}
    for key, value in run.items():
        prev = before.get(key)
        if key == "reject_reasons":
            prev = prev if isinstance(prev, dict) else {}
            total[key] = {k: prev.get(k, 0) + value.get(k, 0) for k in sorted({*prev, *value})}
        elif isinstance(value, (int, float)) and isinstance(prev, (int, float)) and key != "tokens_per_second":
            total[key] = round(prev + value, 2) if isinstance(value, float) else prev + value
        else:
            total[key] = value
    seconds = total.get("generate_seconds") or 0
    total["tokens_per_second"] = round(total.get("completion_tokens", 0) / seconds, 2) if seconds else 0.0
    total["runs"] = int(before.get("runs", 1)) + 1
    return total


__all__ = ["DEMO_NOTE", "build_task", "merge", "preview", "run"]
