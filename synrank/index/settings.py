"""The index engine's settings: how texts are encoded (:class:`EncoderConfig`) and how an index is built
(:class:`BuildConfig`), with their defaults and help text.

The engines (:mod:`synrank.index.encoder`, :mod:`synrank.index.store`) take these; the ``index``, ``search`` and
``eval`` stage configs take their defaults and help from here, so each default is written once and the arrows
run from stage to engine. Light on purpose (no numpy, torch or faiss): the CLI reads it at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass

from synrank.config import setting

# Help of the runtime settings shared by the stages that encode (index, search, eval).
DEVICE_HELP = "Device: auto (cuda, then mps, then cpu), cpu, cuda, cuda:N, mps."
DTYPE_HELP = "Compute dtype: auto (bf16 where the hardware has it, else fp32), fp32, bf16, fp16."
THREADS_HELP = "CPU threads for torch; 0 = all cores available."
SEED_HELP = "Random seed (Python, NumPy, torch)."
TRUST_HELP = "Allow a model repository to run its own Python code (off by default)."


@dataclass
class EncoderConfig:
    """How :class:`~synrank.index.encoder.Encoder` runs a bi-encoder."""

    device: str = setting("auto", help=DEVICE_HELP)
    dtype: str = setting("auto", help=DTYPE_HELP)
    max_tokens: int = setting(16384, help="Token budget per batch (batch size x longest text).")
    max_batch_size: int = setting(256, help="Upper bound on texts per batch.")
    max_seq_length: int | None = setting(None, help="Truncate texts to this many tokens; None: the model's limit.")
    trust_remote_code: bool = setting(False, help=TRUST_HELP)


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
    seed: int = setting(42, help=SEED_HELP)


__all__ = ["BuildConfig", "DEVICE_HELP", "DTYPE_HELP", "EncoderConfig", "SEED_HELP", "THREADS_HELP", "TRUST_HELP"]
