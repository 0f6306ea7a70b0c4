"""`synrank index`: encode a corpus into a FAISS index folder."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from synrank.cli.common import DeviceOpt, DtypeOpt, OverwriteOpt, SeedOpt, ThreadsOpt, TrustOpt, info


@contextlib.contextmanager
def _spooled_stdin():
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


def register(app: typer.Typer) -> None:
    @app.command("index")
    def index_cmd(
        corpus: Annotated[
            str,
            typer.Argument(
                help="Corpus: a BEIR folder (corpus.jsonl), a JSONL/TSV corpus file, '-' for stdin, or an ir_datasets id."
            ),
        ],
        out: Annotated[Path, typer.Option("--out", "-o", help="Index folder to write (index.faiss, docids.txt, manifest.json).")],
        model: Annotated[
            str, typer.Option("--model", "-m", help="Bi-encoder: alias (see `synrank models`), local folder, checkpoint or hub id.")
        ] = "minilm",
        factory: Annotated[
            str,
            typer.Option(
                "--factory",
                help="FAISS index factory string: Flat (exact), HNSW32, IVF4096,PQ64, ... (IVF/PQ are trained on a sample).",
            ),
        ] = "Flat",
        no_title: Annotated[bool, typer.Option("--no-title", help="Encode only the text, not 'title + \" \" + text'.")] = False,
        doc_prefix: Annotated[str, typer.Option("--doc-prefix", help="Prefix added to every document (e.g. 'passage: ' for e5).")] = "",
        max_tokens: Annotated[int, typer.Option("--batch-tokens", help="Token budget per batch (batch size x longest text).")] = 16384,
        max_batch_size: Annotated[int, typer.Option("--max-batch-size", help="Upper bound on texts per batch.")] = 256,
        max_seq_length: Annotated[int, typer.Option("--max-seq-length", help="Truncate texts to this many tokens; 0 = the model's limit.")] = 0,
        chunk_size: Annotated[int, typer.Option("--chunk-size", help="Documents encoded and checkpointed together (resume granularity).")] = 4096,
        train_sample: Annotated[int, typer.Option("--train-sample", help="Vectors used to train IVF/PQ indexes.")] = 100_000,
        device: DeviceOpt = "auto",
        dtype: DtypeOpt = "auto",
        threads: ThreadsOpt = 0,
        seed: SeedOpt = 42,
        trust_remote_code: TrustOpt = False,
        overwrite: OverwriteOpt = False,
    ) -> None:
        """Encode a corpus with a bi-encoder into a FAISS index folder.

        Streams the corpus in chunks (memory does not grow with corpus size beyond the index itself) and is
        resumable: re-run the same command after an interruption and finished chunks are reused.
        """
        from synrank.errors import InputError
        from synrank.evaluate.datasets import iter_ir_datasets_docs
        from synrank.formats.corpus import iter_corpus
        from synrank.formats.manifest import make_manifest
        from synrank.index.encoder import Encoder, EncoderConfig
        from synrank.index.store import BuildConfig, build_index, discard_partial
        from synrank.runtime.progress import make_progress
        from synrank.runtime.seeding import set_seed, set_threads

        if out.exists() and not out.is_dir():
            raise InputError("--out must be a folder, and a file of that name exists", path=out)
        if out.exists() and any(out.iterdir()) and not overwrite:
            raise InputError("output folder exists and is not empty (pass --overwrite to replace it)", path=out)
        set_seed(seed)
        set_threads(threads)

        with contextlib.ExitStack() as stack:
            source = corpus
            if corpus == "-":
                source = stack.enter_context(_spooled_stdin())
            if source != "-" and not Path(source).exists() and "/" in source and not source.startswith((".", "/")):

                def docs_factory():
                    return iter_ir_datasets_docs(corpus)

                total = None
            else:
                # First pass: validate every line (fail fast, before any encoding) and count for the progress bar.
                total = sum(1 for _ in iter_corpus(source))

                def docs_factory():
                    return iter_corpus(source)

            encoder = Encoder(
                model,
                EncoderConfig(
                    device=device,
                    dtype=dtype,
                    max_tokens=max_tokens,
                    max_batch_size=max_batch_size,
                    max_seq_length=max_seq_length or None,
                    trust_remote_code=trust_remote_code,
                ),
            )
            minfo = encoder.info()
            config = BuildConfig(factory=factory, use_title=not no_title, doc_prefix=doc_prefix, chunk_size=chunk_size, train_sample=train_sample, seed=seed)
            manifest = make_manifest(
                "index",
                model=minfo,
                config={**config.__dict__, "batch_tokens": max_tokens, "max_batch_size": max_batch_size},
                corpus=str(corpus),
                similarity=minfo["similarity"],
                dimension=minfo["dimension"],
            )
            info(f"encoding {total if total is not None else 'all'} documents with {model} ({minfo['dtype']} on {minfo['device']}) into {out}")
            try:
                with make_progress("docs") as progress:
                    task = progress.add_task("index", total=total)
                    stats = build_index(
                        encoder,
                        docs_factory(),
                        out,
                        config,
                        manifest,
                        on_progress=lambda n: progress.advance(task, n),
                        overwrite=overwrite,
                    )
            except InputError:
                discard_partial(out)
                raise
        reused = f", {stats.chunks_reused} chunk(s) reused from an interrupted run" if stats.chunks_reused else ""
        info(f"indexed {stats.documents} documents into {out}{reused}")
