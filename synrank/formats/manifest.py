"""The small manifest written next to every output: what ran, with which versions, model and config.

Secrets never enter a manifest: command-line values of options whose name mentions a key, token,
secret or password are replaced, and environment variables are never recorded.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import platform
import re
import sys
from pathlib import Path
from typing import Any

from synrank import __version__
from synrank.formats.io import atomic_write

_SECRET_OPTION = re.compile(r"(key|token|secret|password|passwd|auth)", re.IGNORECASE)
_SECRET_VALUE = re.compile(r"^(sk-|hf_|Bearer\s)", re.IGNORECASE)
LIBRARIES = ("torch", "transformers", "sentence-transformers", "faiss-cpu", "numpy", "pytrec-eval-terrier", "POT", "bm25s", "vllm")
REDACTED = "***"


def redact_argv(argv: list[str]) -> list[str]:
    """Return argv with the values of secret-looking options (and secret-looking values) replaced.

    Options naming an environment variable (``--api-key-env``) are kept: they hold a name, not a secret.
    """
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        if arg.startswith("--") and _SECRET_OPTION.search(arg) and not arg.split("=")[0].endswith("-env"):
            if "=" in arg:
                out.append(arg.split("=", 1)[0] + "=" + REDACTED)
            else:
                out.append(arg)
                hide_next = True
            continue
        out.append(REDACTED if _SECRET_VALUE.match(arg) else arg)
    return out


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "synrank": __version__}
    for lib in LIBRARIES:
        try:
            versions[lib] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def make_manifest(kind: str, *, model: Any = None, config: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """Build a manifest dict for an output of ``kind`` (e.g. ``"index"``, ``"eval"``, ``"generate"``)."""
    return {
        "kind": kind,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(redact_argv(["synrank", *sys.argv[1:]])),
        "versions": library_versions(),
        "model": model,
        "config": config or {},
        **extra,
    }


def write_manifest(manifest: dict[str, Any], path: str | Path) -> None:
    with atomic_write(Path(path)) as fh:
        json.dump(manifest, fh, indent=2, ensure_ascii=False, default=str)
        fh.write("\n")


def read_manifest(path: str | Path) -> dict[str, Any]:
    from synrank.errors import InputError

    p = Path(path)
    if not p.exists():
        raise InputError("manifest.json not found", path=p)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"bad JSON in manifest ({exc.msg})", path=p, line=exc.lineno) from None


def manifest_path_for(output: str | Path) -> Path:
    """Where the manifest of a file output lives: ``<output>.manifest.json``; folders hold ``manifest.json``."""
    p = Path(output)
    return p / "manifest.json" if p.is_dir() else p.with_name(p.name + ".manifest.json")
