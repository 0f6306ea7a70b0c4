"""Find and load a causal LM with transformers: bundled alias, ``.gguf`` file, local folder or hub id.

GGUF files are what the bundled SmolLM2 ships as; transformers reads them with
``from_pretrained(folder, gguf_file=name)``, keeping packed weights whose kernels compute in float32,
so ``--dtype auto`` means fp32 for GGUF (bf16 would only add casts).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synrank.errors import ConfigError
from synrank.models import ALIASES, alias_path

DEFAULT_MODEL = "smollm2"


@dataclass(frozen=True)
class ModelSource:
    """Where weights come from: ``location`` is a folder or hub id; ``gguf_file`` a file name inside it."""

    name: str  # what the user typed
    location: str
    gguf_file: str | None = None

    @property
    def is_gguf(self) -> bool:
        return self.gguf_file is not None

    def describe(self) -> str:
        return f"{self.location}/{self.gguf_file}" if self.gguf_file else self.location


def resolve_model_source(name: str) -> ModelSource:
    """Map a user's ``--model`` to a :class:`ModelSource` without loading anything."""
    if name in ALIASES:
        if ALIASES[name].kind != "llm":
            raise ConfigError(f"model alias {name!r} is a {ALIASES[name].kind}, not a text generator (try smollm2)")
        path = alias_path(name)
        return ModelSource(name, str(path.parent), path.name)
    p = Path(name).expanduser()
    if p.is_file():
        if p.suffix.lower() != ".gguf":
            raise ConfigError(f"model file {name!r} is not a .gguf file (pass a model folder, a .gguf file or a hub id)")
        return ModelSource(name, str(p.resolve().parent), p.name)
    if p.is_dir():
        return ModelSource(name, str(p.resolve()))
    if name.startswith((".", "/", "~")):
        raise ConfigError(f"model path {name!r} does not exist")
    return ModelSource(name, name)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_tokenizer(source: ModelSource, *, trust_remote_code: bool = False) -> Any:
    from transformers import AutoTokenizer

    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if source.gguf_file:
        kwargs["gguf_file"] = source.gguf_file
    try:
        tok = AutoTokenizer.from_pretrained(source.location, **kwargs)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load the tokenizer of {source.name!r}: {_first_line(exc)}") from None
    # Decoder-only batched generation needs left padding; many chat models ship no pad token.
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
    return tok


@contextlib.contextmanager
def _quiet_gguf_conversion() -> Iterator[None]:
    """transformers' GGUF reader draws a raw tqdm bar that ignores its progress-bar switch; it would
    interleave with our own bar on stderr, so it is disabled while loading (and restored after)."""
    try:
        import transformers.modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:  # pragma: no cover - older transformers
        yield
        return
    original = getattr(gguf_utils, "tqdm", None)
    if original is None:
        yield
        return
    gguf_utils.tqdm = functools.partial(original, disable=True)
    try:
        yield
    finally:
        gguf_utils.tqdm = original


def load_causal_lm(source: ModelSource, *, device: Any, dtype: Any, trust_remote_code: bool = False) -> Any:
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # per-tensor bars are noise; synrank shows its own progress
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code, "dtype": dtype}
    if source.gguf_file:
        kwargs["gguf_file"] = source.gguf_file
    try:
        with _quiet_gguf_conversion():
            model = AutoModelForCausalLM.from_pretrained(source.location, **kwargs)
    except (OSError, ValueError) as exc:
        msg = _first_line(exc)
        if "trust_remote_code" in msg:
            raise ConfigError(f"model {source.name!r} needs its own code; pass --trust-remote-code if you trust it") from None
        raise ConfigError(f"cannot load model {source.name!r}: {msg}") from None
    model.to(device)
    model.eval()
    # Generation runs under torch.inference_mode(); grad mode is never switched off globally, because the
    # same process may train afterwards (library use, the in-process CLI in tests).
    return model
