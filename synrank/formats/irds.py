"""Documents from an `ir_datasets <https://ir-datasets.com>`_ id: the loading and the one-line errors shared by
``index`` (documents) and ``eval`` (queries and qrels, in :mod:`synrank.evaluate.datasets`)."""

from __future__ import annotations

from collections.abc import Iterator

from synrank.errors import ConfigError, InputError
from synrank.formats.corpus import Document


def irds_dataset(dataset_id: str):
    try:
        import ir_datasets
    except ImportError:  # pragma: no cover - a declared dependency
        raise ConfigError("ir_datasets is not installed (pip install ir-datasets)") from None
    try:
        return ir_datasets.load(dataset_id)
    except KeyError:
        raise InputError(f"unknown dataset {dataset_id!r}: not a folder and not an ir_datasets id") from None


def irds_call(dataset_id: str, what: str, fn):
    try:
        return fn()
    except (OSError, ConnectionError) as exc:
        raise ConfigError(
            f"ir_datasets could not fetch {what} of {dataset_id!r} ({type(exc).__name__}: {' '.join(str(exc).split())[:200]}); "
            "offline? download once with network access or point IR_DATASETS_HOME at a filled cache"
        ) from None
    except Exception as exc:  # noqa: BLE001 - ir_datasets raises many download error types
        if "download" in type(exc).__name__.lower() or "download" in str(exc).lower():
            raise ConfigError(f"ir_datasets could not download {what} of {dataset_id!r}; offline?") from None
        raise


def iter_ir_datasets_docs(dataset_id: str) -> Iterator[Document]:
    ds = irds_dataset(dataset_id)
    if not ds.has_docs():
        raise InputError(f"ir_datasets id {dataset_id!r} has no documents")

    def gen():
        for d in ds.docs_iter():
            text = getattr(d, "text", None)
            if text is None:
                text = d.default_text()
            yield Document(doc_id=d.doc_id, text=text, title=getattr(d, "title", "") or "")

    it = gen()
    first = irds_call(dataset_id, "documents", lambda: next(it, None))
    if first is None:
        raise InputError(f"ir_datasets id {dataset_id!r} has no documents")
    yield first
    yield from it
