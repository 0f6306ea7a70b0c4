"""The small manifest written next to every output: what ran, with which versions, model and config.

Secrets never enter a manifest: command-line values of options whose name mentions a key, token,
secret or password are replaced, the credentials and query strings of URLs (``--base-url
https://user:pw@host/v1?api_key=...``) are replaced wherever they appear, and environment variables are
never recorded. :func:`redact_text` applies the same rules to log lines and error messages.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.metadata
import json
import platform
import re
import sys
from pathlib import Path
from typing import Any

from synrank import __version__
from synrank.formats.io import atomic_write
# Re-exported: the redaction itself sits below every layer, so progress messages on stderr use it too.
from synrank.redact import _SECRET_VALUE, _URL, REDACTED, redact_text, redact_url

# Whole words of the option name: --hf-token and --api-key are secrets, --max-new-tokens and --keywords are not.
_SECRET_OPTION = re.compile(r"(^--|[-_])(key|token|secret|password|passwd|auth|credentials?)($|[-_=])", re.IGNORECASE)
LIBRARIES = ("torch", "transformers", "sentence-transformers", "faiss-cpu", "numpy", "pytrec-eval-terrier", "POT", "bm25s", "vllm")


def redact_value(value: Any) -> Any:
    """A manifest value with :func:`redact_text` applied to every string inside it."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v) for v in value]
    return value


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
        if arg.startswith("--") and _SECRET_OPTION.search(arg.split("=")[0]) and not arg.split("=")[0].endswith("-env"):
            if "=" in arg:
                out.append(arg.split("=", 1)[0] + "=" + REDACTED)
            else:
                out.append(arg)
                hide_next = True
            continue
        out.append(REDACTED if _SECRET_VALUE.match(arg) else _URL.sub(lambda m: redact_url(m.group(0)), arg))
    return out


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "synrank": __version__}
    for lib in LIBRARIES:
        try:
            versions[lib] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


# The settings file this process's command read (``--config FILE``), recorded in every manifest it writes.
_CONFIG_FILE: dict[str, Any] | None = None


def note_config_file(path: str | Path | None, section: str | None = None, values: dict[str, Any] | None = None) -> None:
    """Remember the ``--config`` file a command read: its path, sha256, section and the settings it gave
    (``None``: this command read none)."""
    global _CONFIG_FILE
    if path is None:
        _CONFIG_FILE = None
        return
    p = Path(path)
    _CONFIG_FILE = {
        "path": str(p.resolve()),
        "sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
        "section": section,
        "settings": json.loads(json.dumps(values or {}, default=str)),
    }


def make_manifest(kind: str, *, model: Any = None, config: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """Build a manifest dict for an output of ``kind`` (e.g. ``"index"``, ``"eval"``, ``"generate"``)."""
    manifest = {
        "kind": kind,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(redact_argv(["synrank", *sys.argv[1:]])),
        "versions": library_versions(),
        "model": redact_value(model),
        "config": redact_value(config or {}),
        **redact_value(extra),
    }
    if _CONFIG_FILE is not None:
        manifest["config_file"] = redact_value(_CONFIG_FILE)
    return manifest


def write_manifest(manifest: dict[str, Any], path: str | Path) -> None:
    """Write ``manifest`` atomically; URLs and secret-looking values in it are redacted on the way out."""
    with atomic_write(Path(path)) as fh:
        json.dump(redact_value(json.loads(json.dumps(manifest, default=str))), fh, indent=2, ensure_ascii=False)
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
