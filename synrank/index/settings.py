"""The index engine's settings: how texts are encoded (:class:`EncoderConfig`) and how an index is built
(:class:`BuildConfig`), with their defaults and help text.

The engines (:mod:`synrank.index.encoder`, :mod:`synrank.index.store`) take these; the ``index``, ``search`` and
``eval`` stage configs take their defaults and help from here, so each default is written once and the arrows
run from stage to engine. Light on purpose (no numpy, torch or faiss): the CLI reads it at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass

from synrank.config import help_of, setting, setting_from
from synrank.runtime.config import RuntimeConfig

# The runtime settings' help, kept under these names for code that imported them from here.
DEVICE_HELP = help_of(RuntimeConfig, "device")
DTYPE_HELP = help_of(RuntimeConfig, "dtype")
THREADS_HELP = help_of(RuntimeConfig, "threads")
SEED_HELP = help_of(RuntimeConfig, "seed")
TRUST_HELP = help_of(RuntimeConfig, "trust_remote_code")


@dataclass
class EncoderConfig:
    """How :class:`~synrank.index.encoder.Encoder` runs a bi-encoder."""

    device: str = setting_from(RuntimeConfig, "device")
    dtype: str = setting_from(RuntimeConfig, "dtype")
    max_tokens: int = setting(16384, help="Token budget per batch (batch size x longest text).")
    max_batch_size: int = setting(256, help="Upper bound on texts per batch.")
    max_seq_length: int | None = setting(None, help="Truncate texts to this many tokens; None: the model's limit.")
    trust_remote_code: bool = setting_from(RuntimeConfig, "trust_remote_code")


@dataclass
class BuildConfig:
    """How :func:`~synrank.index.store.build_index` builds an index folder."""

    factory: str = setting(
        "Flat", help="FAISS index factory string: Flat (exact), HNSW32, IVF4096,PQ64, ... (IVF/PQ are trained on a sample)."
    )
    use_title: bool = setting(True, help="Encode 'title + \" \" + text' (not only the text).")
    doc_prefix: str = setting("", help="Prefix added to every document (e.g. 'passage: ' for e5).")
    chunk_size: int = setting(4096, help="Documents encoded and checkpointed together (resume granularity).")
    train_sample: int = setting(100_000, help="Vectors used to train IVF/PQ indexes.")
    seed: int = setting_from(RuntimeConfig, "seed")


__all__ = ["BuildConfig", "DEVICE_HELP", "DTYPE_HELP", "EncoderConfig", "SEED_HELP", "THREADS_HELP", "TRUST_HELP"]
