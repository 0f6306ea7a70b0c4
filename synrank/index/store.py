"""FAISS index folders: build from a corpus stream, load, search.

A folder holds ``index.faiss``, ``docids.txt`` (row i of the index is the i-th id) and ``manifest.json``.
Building is resumable: encoded chunks are kept in a hidden ``.<name>.partial`` sibling folder until the
index is complete, so an interrupted run re-encodes only the unfinished chunk.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from synrank.errors import ConfigError, InputError
from synrank.formats.corpus import Document, doc_text
from synrank.formats.io import atomic_dir, atomic_write
from synrank.formats.manifest import read_manifest, write_manifest
from synrank.index.settings import BuildConfig

INDEX_FILE = "index.faiss"
IDS_FILE = "docids.txt"
MANIFEST = "manifest.json"


def _faiss():
    import faiss

    return faiss


def metric_for(similarity: str) -> int:
    faiss = _faiss()
    if similarity in ("cosine", "dot"):
        return faiss.METRIC_INNER_PRODUCT
    if similarity == "euclidean":
        return faiss.METRIC_L2
    raise ConfigError(f"similarity {similarity!r} is not supported by the FAISS index (cosine, dot, euclidean)")


def make_index(factory: str, dim: int, similarity: str):
    faiss = _faiss()
    try:
        return faiss.index_factory(dim, factory, metric_for(similarity))
    except RuntimeError as exc:
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else "invalid"
        raise ConfigError(f"invalid FAISS factory string {factory!r}: {msg}") from None


@dataclass
class BuildStats:
    documents: int = 0
    chunks_reused: int = 0
    chunks_encoded: int = 0
    empty: int = 0  # documents with no text: read and counted, not indexed
    extra: dict[str, Any] = field(default_factory=dict)


def _chunks(docs: Iterable[Document], size: int) -> Iterator[list[Document]]:
    it = iter(docs)
    while chunk := list(islice(it, size)):
        yield chunk


def partial_dir(out: Path) -> Path:
    return out.with_name(f".{out.name}.partial")


def build_index(
    encoder: Any,
    docs: Iterable[Document],
    out: str | Path,
    config: BuildConfig,
    manifest: dict[str, Any],
    *,
    on_progress: Callable[[int], None] | None = None,
    dest: str | Path | None = None,
    overwrite: bool = False,
) -> BuildStats:
    """Encode ``docs`` chunk by chunk for the index folder ``out``; safe to interrupt and re-run with the
    same arguments.

    Encoded chunks are saved as ``.npy`` in the partial folder of ``out``; the FAISS index is assembled at
    the end (training IVF/PQ on the first ``train_sample`` vectors) into ``dest``, an empty folder the
    caller puts in place (:func:`synrank.index.build` passes its guarded output's), or else a folder
    renamed over ``out``.
    """
    from synrank.formats.outputs import ResumeState

    out = Path(out)
    # A bad factory string must fail before anything is encoded or left on disk.
    make_index(config.factory, encoder.dimension, encoder.similarity)
    work = partial_dir(out)
    # The chunks of an interrupted build are its partial output: continued with the same settings, refused
    # with others (naming them) unless ``overwrite`` starts over, as every command's. Only what changes the
    # vectors counts: after a --factory that cannot be trained, the next run reuses them.
    vectors = {k: v for k, v in config.__dict__.items() if k in ("use_title", "doc_prefix", "chunk_size")}
    state = ResumeState.open(
        work, {"model": encoder.info(), **vectors}, overwrite=overwrite, name=f"{out} (the chunks of an interrupted build in {work.name})"
    )
    work.mkdir(parents=True, exist_ok=True)

    stats = BuildStats()
    parts = [_encode_chunk(encoder, chunk, work / f"chunk-{n:06d}", config, stats, on_progress)
             for n, chunk in enumerate(_chunks(docs, config.chunk_size))]
    index = _assemble(encoder, [emb for emb, _ids in parts], config, work, stats)
    manifest = {**manifest, "documents": stats.documents, "empty_documents": stats.empty, "index": {"factory": config.factory, "ntotal": int(index.ntotal), **stats.extra}}

    def write(folder: Path) -> None:
        _faiss().write_index(index, str(folder / INDEX_FILE))
        with open(folder / IDS_FILE, "w", encoding="utf-8") as fh:
            for _emb, ids in parts:
                fh.write(ids.read_text(encoding="utf-8"))
        write_manifest(manifest, folder / MANIFEST)

    if dest is not None:
        write(Path(dest))
    else:
        with atomic_dir(out, overwrite=True) as tmp:
            write(tmp)
    state.discard()
    return stats


def _encode_chunk(encoder: Any, chunk_all: list[Document], stem: Path, config: BuildConfig, stats: BuildStats,
                  on_progress: Callable[[int], None] | None) -> tuple[Path, Path]:
    """The chunk's vectors and ids as ``<stem>.npy`` and ``<stem>.ids``, reused when a killed run left them."""
    emb_path, ids_path = stem.with_suffix(".npy"), stem.with_suffix(".ids")
    # An empty document has no text to embed: it stays out of the vectors so it never matches, as it
    # never matches under BM25 (the reader has already warned about it).
    chunk = [d for d in chunk_all if doc_text(d, config.use_title).strip()]
    stats.empty += len(chunk_all) - len(chunk)
    stats.documents += len(chunk_all)
    ids = [d.doc_id for d in chunk]
    if emb_path.exists() and ids_path.exists() and ids_path.read_text(encoding="utf-8").split("\n")[:-1] == ids:
        stats.chunks_reused += 1
        if on_progress is not None:
            on_progress(len(chunk))  # reused: count the whole chunk at once
        return emb_path, ids_path
    if not chunk:
        emb = np.zeros((0, encoder.dimension), dtype=np.float32)
    else:
        emb = encoder.encode([doc_text(d, config.use_title) for d in chunk], prefix=config.doc_prefix, on_progress=on_progress)
        if encoder.similarity == "cosine" and not encoder.normalized:
            emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        stats.chunks_encoded += 1
    with atomic_write(emb_path, "wb") as fh:
        np.save(fh, emb.astype(np.float32))
    with atomic_write(ids_path) as fh:
        fh.write("".join(i + "\n" for i in ids))
    return emb_path, ids_path


def _assemble(encoder: Any, emb_parts: list[Path], config: BuildConfig, work: Path, stats: BuildStats) -> Any:
    """The FAISS index of every saved chunk, trained first (on the first ``train_sample`` vectors) when its
    factory needs training."""
    index = make_index(config.factory, encoder.dimension, encoder.similarity)
    if not index.is_trained:
        sample: list[np.ndarray] = []
        have = 0
        for p in emb_parts:
            if have >= config.train_sample:
                break
            arr = np.load(p)[: config.train_sample - have]
            sample.append(arr)
            have += len(arr)
        train = np.concatenate(sample)
        try:
            index.train(train)
        except RuntimeError as exc:
            last = str(exc).strip().splitlines()[-1]
            raise ConfigError(
                f"cannot train FAISS index {config.factory!r} on {len(train)} vectors: {last} "
                f"(the encoded vectors are kept in {work.name} and reused by the next run with another --factory)"
            ) from None
        stats.extra["trained_on"] = len(train)
    for p in emb_parts:
        index.add(np.load(p))
    return index


def discard_partial(out: str | Path) -> None:
    """Remove the partial build of ``out`` (after bad input: nothing half-written is left behind)."""
    from synrank.formats.outputs import stamp_location

    work = partial_dir(Path(out))
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(work)
    stamp_location(work).unlink(missing_ok=True)


class DenseIndex:
    """A loaded index folder: FAISS index, doc ids and the manifest describing the model that built it."""

    def __init__(self, index: Any, doc_ids: list[str], manifest: dict[str, Any], path: Path) -> None:
        self.index = index
        self.doc_ids = doc_ids
        self.manifest = manifest
        self.path = path
        self._encoder: Any = None

    @classmethod
    def load(cls, path: str | Path) -> DenseIndex:
        p = Path(path)
        if not p.is_dir():
            raise InputError("index folder not found (build one with `synrank index`)", path=p)
        for name in (INDEX_FILE, IDS_FILE, MANIFEST):
            if not (p / name).exists():
                raise InputError(f"not a synrank index folder: {name} is missing", path=p)
        manifest = read_manifest(p / MANIFEST)
        try:
            index = _faiss().read_index(str(p / INDEX_FILE))
        except RuntimeError:
            raise InputError(f"cannot read {INDEX_FILE} (corrupt or truncated; rebuild it with `synrank index`)", path=p) from None
        doc_ids = (p / IDS_FILE).read_text(encoding="utf-8").split("\n")[:-1]
        if len(doc_ids) != index.ntotal:
            raise InputError(f"{IDS_FILE} has {len(doc_ids)} ids but the index holds {index.ntotal} vectors", path=p)
        seen: set[str] = set()
        for lineno, doc_id in enumerate(doc_ids, start=1):
            # Two rows under one id would count a document twice in every run and metric.
            if doc_id in seen:
                raise InputError(f"duplicate document id {doc_id!r} (rebuild the index with `synrank index`)", path=p / IDS_FILE, line=lineno)
            seen.add(doc_id)
        if index.ntotal == 0:
            raise InputError(
                "the index holds no documents (every document of its corpus was empty): nothing can be retrieved", path=p
            )
        return cls(index, doc_ids, manifest, p)

    @property
    def model_name(self) -> str | None:
        model = self.manifest.get("model") if isinstance(self.manifest, dict) else None
        if not isinstance(model, dict):
            return None
        name = model.get("name") or model.get("path")
        return name if isinstance(name, str) and name else None

    def set_search_params(self, *, nprobe: int | None = None, ef_search: int | None = None) -> None:
        faiss = _faiss()
        params = []
        if nprobe:
            params.append(f"nprobe={nprobe}")
        if ef_search:
            params.append(f"efSearch={ef_search}")
        if params:
            try:
                faiss.ParameterSpace().set_index_parameters(self.index, ",".join(params))
            except RuntimeError as exc:
                raise ConfigError(f"cannot set {', '.join(params)} on this index: {str(exc).strip().splitlines()[-1]}") from None

    def encoder(self, model: str | None = None, config: Any = None) -> Any:
        """The query encoder: the model recorded in the manifest unless ``model`` overrides it."""
        from synrank.index.encoder import Encoder, EncoderConfig

        if self._encoder is None or model is not None:
            name = model or self.model_name
            if name is None:
                raise InputError("records no model (model.name or model.path); give the query encoder with --model", path=self.path / MANIFEST)
            self._encoder = Encoder(name, config or EncoderConfig())
        return self._encoder

    def search_embeddings(self, queries: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        k = min(k, self.index.ntotal)
        scores, rows = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        if self.index.metric_type == _faiss().METRIC_L2:
            scores = -scores  # higher is better everywhere in synrank
        results = []
        for srow, irow in zip(scores, rows):
            results.append([(self.doc_ids[i], float(s)) for s, i in zip(srow, irow) if i >= 0])
        return results

    def search(self, query_texts: Sequence[str], k: int, *, query_prefix: str = "", encoder: Any = None) -> list[list[tuple[str, float]]]:
        """Encode queries with the index's model (or ``encoder``) and return the top ``k`` (doc_id, score) each."""
        enc = encoder or self.encoder()
        emb = enc.encode(list(query_texts), prefix=query_prefix)
        if enc.similarity == "cosine" and not enc.normalized:
            emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        return self.search_embeddings(emb, k)
