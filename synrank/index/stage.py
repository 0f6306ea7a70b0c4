"""The `index` stage: encode a corpus with a bi-encoder into a FAISS index folder, as a library call.

``run(IndexConfig(...))`` streams the corpus in chunks into ``out`` (resumable through the hidden
``.NAME.partial`` folder of :mod:`synrank.index.store`); ``synrank index`` is a thin command over it.
This module stays light (no torch, numpy or faiss at import) because the CLI reads its config at start-up.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synrank.config import check_positive, default_of, overwrite_setting, setting, setting_from
from synrank.errors import ConfigError, InputError
from synrank.index.settings import DEVICE_HELP, DTYPE_HELP, SEED_HELP, THREADS_HELP, TRUST_HELP, BuildConfig, EncoderConfig
from synrank.runtime.config import RuntimeConfig, UsesRuntime

if TYPE_CHECKING:
    from synrank.runtime.progress import ProgressArg

# The runtime help strings are imported from here by older code, as before.
__all__ = ["DEVICE_HELP", "DTYPE_HELP", "IndexConfig", "IndexResult", "SEED_HELP", "THREADS_HELP", "TRUST_HELP", "build", "run"]


@dataclass
class IndexConfig(UsesRuntime):
    corpus: str = setting(
        help="Corpus: a BEIR folder (corpus.jsonl), a JSONL/TSV corpus file, '-' for stdin, or an ir_datasets id.",
        positional=True,
    )
    out: Path = setting(help="Index folder to write (index.faiss, docids.txt, manifest.json).", short="-o", folder=True)
    model: str = setting("minilm", help="Bi-encoder: alias (see `synrank models`), local folder, checkpoint or hub id.", short="-m")
    factory: str = setting_from(BuildConfig, "factory")
    no_title: bool = setting(not default_of(BuildConfig, "use_title"), help="Encode only the text, not 'title + \" \" + text'.")
    doc_prefix: str = setting_from(BuildConfig, "doc_prefix")
    batch_tokens: int = setting_from(EncoderConfig, "max_tokens")
    max_batch_size: int = setting_from(EncoderConfig, "max_batch_size")
    max_seq_length: int = setting(0, help="Truncate texts to this many tokens; 0 = the model's limit.")
    chunk_size: int = setting_from(BuildConfig, "chunk_size")
    train_sample: int = setting_from(BuildConfig, "train_sample")
    device: str = setting_from(RuntimeConfig, "device")
    dtype: str = setting_from(RuntimeConfig, "dtype")
    threads: int = setting_from(RuntimeConfig, "threads")
    seed: int = setting_from(RuntimeConfig, "seed")
    trust_remote_code: bool = setting_from(RuntimeConfig, "trust_remote_code")
    overwrite: bool = overwrite_setting()

    def __post_init__(self) -> None:
        self.corpus, self.out = str(self.corpus), Path(self.out)
        check_positive(self, "batch_tokens", "max_batch_size", "chunk_size", "train_sample")
        if self.max_seq_length < 0:
            raise ConfigError(f"must be 0 (the model's limit) or more (got {self.max_seq_length})", setting="max_seq_length")


@dataclass
class IndexResult:
    out: Path
    documents: int
    empty_documents: int  # read but not indexed: an empty document never matches
    chunks_reused: int  # from an interrupted run with the same settings
    chunks_encoded: int
    model: dict[str, Any]  # the encoder as recorded in the manifest
    manifest: dict[str, Any] = field(repr=False)


@contextlib.contextmanager
def _spooled_stdin() -> Iterator[str]:
    """Copy stdin to a temporary file so the corpus can be read twice (validate + count, then encode)."""
    fd, tmp = tempfile.mkstemp(prefix="synrank-stdin-", suffix=".corpus")
    try:
        with os.fdopen(fd, "wb") as fh:
            shutil.copyfileobj(sys.stdin.buffer, fh)
        with open(tmp, "rb") as fh:
            first = fh.read(64).lstrip()
        new = tmp + (".jsonl" if first.startswith(b"{") else ".tsv")
        os.replace(tmp, new)
        tmp = new
        yield tmp
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _is_ir_datasets_id(source: str) -> bool:
    return source != "-" and not Path(source).exists() and "/" in source and not source.startswith((".", "/"))


def _fingerprint(cfg: IndexConfig) -> dict[str, Any]:
    """The settings that change what is indexed, as the manifest's ``config`` records them."""
    return {
        "corpus": cfg.corpus, "model": cfg.model, "factory": cfg.factory, "use_title": not cfg.no_title, "doc_prefix": cfg.doc_prefix,
        "train_sample": cfg.train_sample, "seed": cfg.seed, "max_seq_length": cfg.max_seq_length, "dtype": cfg.dtype,
    }


def _documents(cfg: IndexConfig, source: str) -> tuple[int | None, Callable[[], Iterable[Any]]]:
    """The number of documents (None for an ir_datasets corpus, not counted) and a fresh reader of them."""
    from synrank.formats.corpus import iter_corpus
    from synrank.formats.irds import iter_ir_datasets_docs

    if _is_ir_datasets_id(source):
        return None, lambda: iter_ir_datasets_docs(cfg.corpus)
    # First pass: validate every line (fail fast, before any encoding) and count for the progress bar.
    return sum(1 for _ in iter_corpus(source)), lambda: iter_corpus(source)


def _encoder(cfg: IndexConfig) -> Any:
    from synrank.index.encoder import Encoder

    return Encoder(
        cfg.model,
        EncoderConfig(
            device=cfg.device,
            dtype=cfg.dtype,
            max_tokens=cfg.batch_tokens,
            max_batch_size=cfg.max_batch_size,
            max_seq_length=cfg.max_seq_length or None,
            trust_remote_code=cfg.trust_remote_code,
        ),
    )


def _build_settings(cfg: IndexConfig, minfo: dict[str, Any]) -> tuple[BuildConfig, dict[str, Any]]:
    """The store's build settings and the manifest that records them with the model."""
    from synrank.formats.manifest import make_manifest

    bconf = BuildConfig(
        factory=cfg.factory,
        use_title=not cfg.no_title,
        doc_prefix=cfg.doc_prefix,
        chunk_size=cfg.chunk_size,
        train_sample=cfg.train_sample,
        seed=cfg.seed,
    )
    manifest = make_manifest(
        "index",
        model=minfo,
        config={**bconf.__dict__, **_fingerprint(cfg), "batch_tokens": cfg.batch_tokens, "max_batch_size": cfg.max_batch_size},
        corpus=cfg.corpus,
        similarity=minfo["similarity"],
        dimension=minfo["dimension"],
    )
    return bconf, manifest


def run(cfg: IndexConfig, *, progress: ProgressArg = None, info: Callable[[str], None] | None = None) -> IndexResult:
    """Encode ``cfg.corpus`` into the index folder ``cfg.out``; re-running after an interruption reuses the
    finished chunks, and re-running over a finished index with the same settings does nothing. Bad input
    removes the partial build, so nothing half-written is left behind.

    ``progress``: see :data:`synrank.runtime.progress.ProgressArg` (``info=`` is its older spelling)."""
    from synrank.formats.manifest import read_manifest
    from synrank.formats.outputs import finished_output, guarded_output
    from synrank.index.store import MANIFEST, build_index, discard_partial
    from synrank.runtime.progress import reporter
    from synrank.runtime.seeding import set_seed, set_threads

    report = reporter(progress, info=info)
    out = cfg.out
    # stdin cannot be compared with what was indexed before: such an index is only ever replaced (--overwrite).
    if cfg.corpus != "-":
        done = finished_output(out, _fingerprint(cfg), kind="index", inputs=[cfg.corpus], overwrite=cfg.overwrite)
        if done is not None:
            report.say(f"{out} is already built with these settings: nothing to do (--overwrite builds it again)")
            return IndexResult(
                out=out,
                documents=done.get("documents", 0),
                empty_documents=done.get("empty_documents", 0),
                chunks_reused=0,
                chunks_encoded=0,
                model=done.get("model") or {},
                manifest=done,
            )
    # Guarded for the whole run (refused before any work, locked against a second build into the same
    # folder); the finished index is written into the guard's temporary folder and swapped in at the end.
    with guarded_output(out, inputs=[cfg.corpus], overwrite=cfg.overwrite, kind="dir") as target, contextlib.ExitStack() as stack:
        set_seed(cfg.seed)
        set_threads(cfg.threads)
        source = stack.enter_context(_spooled_stdin()) if cfg.corpus == "-" else cfg.corpus
        total, docs_factory = _documents(cfg, source)
        encoder = _encoder(cfg)
        minfo = encoder.info()
        bconf, manifest = _build_settings(cfg, minfo)
        shown = total if total is not None else "all"
        report.say(f"encoding {shown} documents with {cfg.model} ({minfo['dtype']} on {minfo['device']}) into {out}")
        try:
            with report.bar("docs") as bars:
                task = bars.add_task("index", total=total)
                stats = build_index(
                    encoder,
                    docs_factory(),
                    out,
                    bconf,
                    manifest,
                    on_progress=lambda n: bars.advance(task, n),
                    dest=target.path,
                    overwrite=cfg.overwrite,
                )
        except InputError:
            discard_partial(out)
            raise
    return IndexResult(
        out=out,
        documents=stats.documents,
        empty_documents=stats.empty,
        chunks_reused=stats.chunks_reused,
        chunks_encoded=stats.chunks_encoded,
        model=minfo,
        manifest=read_manifest(out / MANIFEST),
    )


def build(cfg: IndexConfig, *, info: Callable[[str], None] | None = None, progress: ProgressArg = None) -> IndexResult:
    """The older name of :func:`run`."""
    return run(cfg, progress=progress, info=info)
