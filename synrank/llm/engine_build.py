"""The llama.cpp engine built for the CPU it runs on (`synrank models build-engine`, run by `make setup`).

xllamacpp's PyPI wheel is compiled for a generic x86-64 (AVX2 kernels at best): on a CPU with AVX-512,
VNNI or BF16 it leaves most of the prompt-processing speed unused. Its source distribution vendors the
same llama.cpp and, built without ``XLLAMACPP_RELEASE``, compiles it with ``GGML_NATIVE=ON``
(``-march=native``), so the kernels match this CPU. Same package, same version, same in-process server:
only the machine code differs.

We build that sdist with pip (``pip wheel --no-binary xllamacpp``) instead of driving CMake ourselves:
xllamacpp's build script knows which llama.cpp targets and link order its extension needs. Two CMake
options are switched off because their sources are downloaded at configure time, which a machine that
reaches only package registries cannot do: BoringSSL (the embedded server never serves HTTPS here) and
llguidance (JSON-schema answers use llama.cpp's own grammar converter).

A native build runs only on CPUs with the instructions it was compiled for, so the wheel is cached under
a key made of the engine version and this CPU's instruction-set flags
(``$SYNRANK_CACHE/engine/xllamacpp-<version>-<key>/``): a second ``make setup`` on the same machine is a
no-op, a fresh clone installs the cached wheel in seconds, and a machine with other flags builds its own.
A marker in the environment (``<prefix>/share/synrank/engine.json``) records which wheel is installed and
the flags it needs; :func:`check_native_engine` refuses, in one line, to load it on a CPU that lacks one
(instead of the process dying of SIGILL). llama.cpp's AMX kernels stay out of the native build (see
``compile_flags``); a build that has them is refused on an AMX CPU the same way. Whenever the build cannot
happen (no compiler, no network, a compile error), the generic wheel stays and one line says so: setup never
fails for this.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synrank.config import setting
from synrank.errors import ConfigError

if TYPE_CHECKING:
    from synrank.runtime.progress import ProgressArg

ENGINE_PACKAGE = "xllamacpp"
# Downloaded at configure time by default; see the module docstring.
CMAKE_ARGS = ("-DGGML_NATIVE=ON", "-DLLAMA_BUILD_BORINGSSL=OFF", "-DLLAMA_OPENSSL=OFF", "-DLLAMA_LLGUIDANCE=OFF")
# The x86 / Arm features ggml has kernels for (what `synrank models engine` compares with the build's own list).
KERNEL_FLAGS = ("avx", "avx2", "f16c", "fma", "bmi2", "avx_vnni", "avx512f", "avx512bw", "avx512vl", "avx512vbmi",
                "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16", "asimd", "sve", "i8mm", "asimddp")

# llama.cpp's AMX matrix kernels crash on some CPUs that have AMX: a segfault in ggml_backend_amx_mul_mat at the
# first forward pass with Q4_K_M weights (ggml-org/llama.cpp#20824, closed upstream as stale without a fix; dspy
# dropped ggml's AMX variant for the same crash, stanfordnlp/dspy#10079). Seen here on a 2-core Xeon with amx_tile,
# amx_int8 and amx_bf16: `synrank generate` died before its first answer. -march=native turns the kernels on, so
# the native build turns them off again (an explicit -mno-* wins over -march's defaults in gcc and clang, whatever
# the order); the AVX512-VNNI kernels do the same work. Names: /proc/cpuinfo flag -> compiler ISA option.
AMX_FLAGS = {"amx_tile": "amx-tile", "amx_int8": "amx-int8", "amx_bf16": "amx-bf16"}
AMX_REFERENCE = "ggml-org/llama.cpp#20824"

Log = Callable[[str], None]


def compile_flags(flags: list[str] | None = None) -> list[str]:
    """The C/C++ flags the native build adds for a CPU with these features: AMX off where the CPU has it."""
    flags = cpu_flags() if flags is None else flags
    if not any(f in flags for f in AMX_FLAGS):
        return []
    return [f"-mno-{isa}" for isa in AMX_FLAGS.values()]


def engine_folder(version: str, key: str, flags: list[str]) -> Path:
    """Where this CPU's wheel is cached; the name also says what the build left out, so a wheel compiled before
    AMX was switched off is never taken for one without it."""
    suffix = "-noamx" if compile_flags(flags) else ""
    return engine_cache_dir() / f"{ENGINE_PACKAGE}-{version}-{key}{suffix}"


# The xllamacpp release synrank is written against (pyproject's `llamacpp` extra pins the same); the backend
# reads it from here, the build below the backend.
ENGINE_VERSION = "2026.10.11549"


def engine_version() -> str:
    return ENGINE_VERSION


def cpu_flags() -> list[str]:
    """This CPU's instruction-set flags (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return []
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):  # x86 | Arm
            return sorted(set(value.split()))
    return []


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            name, _, value = line.partition(":")
            if name.strip() in ("model name", "CPU part"):
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_key(flags: list[str] | None = None) -> str:
    """What a ``-march=native`` build depends on: the architecture and the full flag set."""
    flags = cpu_flags() if flags is None else flags
    digest = hashlib.sha256(f"{platform.machine()}\n{' '.join(sorted(flags))}".encode()).hexdigest()[:12]
    return f"{platform.machine()}-{digest}"


def engine_cache_dir() -> Path:
    """``$SYNRANK_CACHE/engine``, else ``$XDG_CACHE_HOME/synrank/engine``, else ``~/.cache/synrank/engine``."""
    from synrank.models import models_cache_dir

    return models_cache_dir().parent / "engine"


def marker_path() -> Path:
    return Path(sys.prefix) / "share" / "synrank" / "engine.json"


def _installed_record() -> str | None:
    """A fingerprint of the installed engine's files (its RECORD), so a marker left behind after the user
    reinstalls another wheel is recognised as stale."""
    from importlib import metadata

    try:
        text = metadata.distribution(ENGINE_PACKAGE).read_text("RECORD")
    except metadata.PackageNotFoundError:
        return None
    return hashlib.sha256((text or "").encode()).hexdigest()[:16]


def read_marker() -> dict[str, Any] | None:
    """The marker of the native build installed here, or None (generic wheel, stale marker, none)."""
    try:
        data = json.loads(marker_path().read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("record") != _installed_record():
        return None
    return data


def check_native_engine() -> None:
    """Refuse, in one line, an installed native build that needs instructions this CPU lacks."""
    marker = read_marker()
    if marker is None:
        return
    flags = cpu_flags()
    missing = sorted(set(marker.get("cpu_flags") or []) - set(flags) & set(KERNEL_FLAGS))
    if missing:
        raise ConfigError(
            f"the llama.cpp engine in this environment was compiled for another CPU (it may use {', '.join(missing)}, "
            "which this CPU lacks): run `synrank models build-engine` (or make setup) to build one for this CPU"
        )
    if not set(compile_flags(flags)) <= set(marker.get("compile_flags") or []):
        raise ConfigError(
            "the llama.cpp engine in this environment was compiled with llama.cpp's AMX kernels, which crash on "
            f"this CPU ({AMX_REFERENCE}): run `synrank models build-engine` to build one without them"
        )


@dataclass
class EngineBuildConfig:
    force: bool = setting(False, help="Compile again even when a wheel for this CPU is cached.")
    jobs: int = setting(0, help="Parallel compile jobs; 0 = every core.")
    generic: bool = setting(
        False, help="Install the generic PyPI wheel instead (AVX2 kernels; no compiler needed) and drop the native one."
    )

    def __post_init__(self) -> None:
        if self.jobs < 0:
            raise ConfigError("must be 0 (every core) or more", setting="jobs")


@dataclass
class EngineBuildResult:
    status: str  # "present" | "installed" (cached wheel) | "built" | "generic" (asked) | "fallback" (build failed)
    version: str
    wheel: Path | None = None
    cpu_key: str = ""
    seconds: float = 0.0
    reason: str = ""  # why a fallback happened
    kernels: list[str] = field(default_factory=list)

    def line(self) -> str:
        what = {
            "present": "native build for this CPU already installed",
            "installed": "native build for this CPU installed from the cache",
            "built": f"native build for this CPU compiled and installed in {self.seconds / 60:.1f} min",
            "generic": "generic wheel installed",
            "fallback": f"could not build a native engine ({self.reason}); using the generic wheel",
        }[self.status]
        kernels = f"; kernels: {', '.join(self.kernels)}" if self.kernels else ""
        return f"llama.cpp engine (xllamacpp {self.version}): {what}{kernels}"


def _pip(*args: str, log: Log, capture: Path | None = None, env: dict[str, str] | None = None) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    if capture is None:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        output = (proc.stderr or proc.stdout or "").splitlines()
    else:
        with capture.open("w") as fh:
            proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, text=True, env=env)
        output = capture.read_text(errors="replace").splitlines()
    if proc.returncode != 0:
        lines = [ln.strip() for ln in output if ln.strip() and "warning" not in ln.lower()]
        raise _BuildError(lines[-1][:200] if lines else f"pip exit {proc.returncode}")


class _BuildError(Exception):
    pass


def _write_marker(wheel: Path, key: str, flags: list[str]) -> None:
    path = marker_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"version": engine_version(), "wheel": str(wheel), "cpu_key": key, "cpu_flags": flags,
            "compile_flags": compile_flags(flags),
            "cpu_model": cpu_model(), "installed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "record": _installed_record()}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def compiled_kernels() -> list[str]:
    """The CPU features the installed engine was compiled with (llama.cpp's own system-info line), in a
    child process: importing a build made for another CPU must not kill this one."""
    code = "import xllamacpp; print(xllamacpp.get_system_info())"
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if proc.returncode != 0:
        return []
    return _parse_system_info(proc.stdout)


def _parse_system_info(text: str) -> list[str]:
    """``CPU : SSE3 = 1 | AVX2 = 1 | ... |`` -> ["SSE3", "AVX2", ...] (features set to 1)."""
    out = []
    for part in text.replace("\n", "|").split("|"):
        name, sep, value = part.rpartition("=")
        name = name.split(":")[-1].strip()
        if sep and value.strip() == "1" and name:
            out.append(name)
    return out


def _compiler_missing() -> str | None:
    if shutil.which("cmake") is None:
        return "cmake is not installed"
    if not any(shutil.which(c) for c in (os.environ.get("CXX") or "c++", "g++", "clang++")):
        return "no C++ compiler (c++, g++ or clang++) is installed"
    return None


def build_engine(cfg: EngineBuildConfig | None = None, *, progress: ProgressArg = None, log: Log | None = None) -> EngineBuildResult:
    """Install the best llama.cpp engine for this CPU (see the module docstring). Never raises for a failed
    build: the result says ``fallback`` with the reason, and the generic wheel is (re)installed.
    ``progress``: see :data:`synrank.runtime.progress.ProgressArg` (``log=`` is its older spelling)."""
    from synrank.runtime.progress import reporter

    log = reporter(progress, info=log).say
    cfg = cfg or EngineBuildConfig()
    version = engine_version()
    flags = cpu_flags()
    key = cpu_key(flags)
    if cfg.generic:
        try:
            _install_generic(version, log)
        except _BuildError as exc:
            raise ConfigError(f"the generic xllamacpp=={version} wheel could not be installed: {exc}") from None
        marker_path().unlink(missing_ok=True)
        return EngineBuildResult("generic", version, cpu_key=key, kernels=compiled_kernels())
    extra = compile_flags(flags)
    folder = engine_folder(version, key, flags)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent setup on this machine builds once; the other finds the wheel
        wheel = _cached_wheel(folder, version)
        marker = read_marker()
        if not cfg.force and wheel is not None and marker is not None and marker.get("wheel") == str(wheel):
            return EngineBuildResult("present", version, wheel, key, kernels=compiled_kernels())
        status, seconds = "installed", 0.0
        if cfg.force or wheel is None:
            missing = _compiler_missing()
            if missing is not None:
                return _fallback(version, key, missing, log)
            log(f"compiling llama.cpp for this CPU ({cpu_model()}); about 7-12 minutes on 2 cores, once per machine")
            t0 = time.perf_counter()
            try:
                wheel = _compile(folder, version, cfg.jobs or (os.cpu_count() or 1), log, extra)
            except _BuildError as exc:
                return _fallback(version, key, str(exc), log)
            status, seconds = "built", time.perf_counter() - t0
        assert wheel is not None
        try:
            _pip("install", "--quiet", "--no-deps", "--force-reinstall", str(wheel), log=log)
        except _BuildError as exc:
            return _fallback(version, key, f"installing {wheel.name} failed: {exc}", log)
        kernels = compiled_kernels()
        if not kernels:  # it installed but does not load here (e.g. a runtime library is missing)
            return _fallback(version, key, f"{wheel.name} does not load in this environment", log, reinstall=True)
        if extra and "AMX_INT8" in kernels:  # the flags did not reach the compiler
            return _fallback(version, key, f"{wheel.name} still has llama.cpp's AMX kernels ({AMX_REFERENCE})", log,
                             reinstall=True)
        _write_marker(wheel, key, flags)
        return EngineBuildResult(status, version, wheel, key, seconds, kernels=kernels)


def _cached_wheel(folder: Path, version: str) -> Path | None:
    found = sorted(folder.glob(f"{ENGINE_PACKAGE}-{version}-*.whl"))
    return found[-1] if found else None


def _compile(folder: Path, version: str, jobs: int, log: Log, extra_flags: list[str] | None = None) -> Path:
    """``pip wheel`` of the sdist with native flags into a temporary folder, then moved into ``folder``
    (so the cache never holds a half-written wheel); the build log is kept beside it. ``extra_flags`` go to the
    compiler through CFLAGS/CXXFLAGS, which CMake reads when it configures the fresh build folder
    (xllamacpp splits CMAKE_ARGS on spaces, so a -DCMAKE_CXX_FLAGS with several flags cannot go there)."""
    env = {**os.environ, "CMAKE_ARGS": " ".join(CMAKE_ARGS), "NPROC": str(jobs)}
    for var in ("CFLAGS", "CXXFLAGS"):
        joined = " ".join([env.get(var, ""), *(extra_flags or [])]).strip()
        if joined:
            env[var] = joined
    env.pop("XLLAMACPP_RELEASE", None)  # that variable turns the native flags off
    build_log = folder / "build.log"
    with tempfile.TemporaryDirectory(dir=folder, prefix=".build-") as tmp:
        try:
            # --no-cache-dir: pip's wheel cache is keyed by the sdist alone, so it would hand back a wheel compiled
            # earlier with other flags (seen here: the AMX build again, in 0.0 min)
            _pip("wheel", "--no-deps", "--no-cache-dir", "--no-binary", ENGINE_PACKAGE, "-v", "-w", tmp,
                 f"{ENGINE_PACKAGE}=={version}",
                 log=log, capture=build_log, env=env)
        except _BuildError as exc:
            raise _BuildError(f"{exc}; the build log is {build_log}") from None
        built = _cached_wheel(Path(tmp), version)
        if built is None:
            raise _BuildError(f"pip reported success but wrote no wheel; the build log is {build_log}")
        final = folder / built.name
        os.replace(built, final)
    return final


def _install_generic(version: str, log: Log) -> None:
    _pip("install", "--quiet", "--no-deps", "--force-reinstall", "--only-binary", ENGINE_PACKAGE,
         f"{ENGINE_PACKAGE}=={version}", log=log)


def _fallback(version: str, key: str, reason: str, log: Log, *, reinstall: bool = False) -> EngineBuildResult:
    """Keep (or put back) the generic wheel; the marker goes, so nothing claims a native build."""
    marker_path().unlink(missing_ok=True)
    if not reinstall and _installed_is_generic(version):
        return EngineBuildResult("fallback", version, cpu_key=key, reason=reason, kernels=compiled_kernels())
    try:
        _install_generic(version, log)
    except _BuildError as exc:
        reason += f"; the generic wheel could not be installed either ({exc})"
    return EngineBuildResult("fallback", version, cpu_key=key, reason=reason, kernels=compiled_kernels())


def _installed_is_generic(version: str) -> bool:
    """The pinned version from the package index (a manylinux wheel), not a build made on some machine."""
    from importlib import metadata

    try:
        dist = metadata.distribution(ENGINE_PACKAGE)
    except metadata.PackageNotFoundError:
        return False
    return dist.version == version and "manylinux" in (dist.read_text("WHEEL") or "")


def generic_engine_note() -> str | None:
    """One line for a run on the generic wheel where this CPU has kernels it leaves unused (else None)."""
    if read_marker() is not None or not _installed_is_generic(engine_version()):
        return None
    better = [f for f in ("avx512f", "avx512_vnni", "avx512_bf16", "amx_tile") if f in cpu_flags()]
    if not better:
        return None
    return (f"note: the llama.cpp engine is the generic wheel, which leaves this CPU's {', '.join(better)} unused; "
            "`synrank models build-engine` compiles one for this CPU (once, about 8 minutes on 2 cores)")


def engine_report() -> dict[str, Any]:
    """What `synrank models engine` prints: the installed build, the kernels it uses, this CPU's features."""
    from importlib import metadata

    try:
        installed = metadata.version(ENGINE_PACKAGE)
    except metadata.PackageNotFoundError:
        installed = None
    marker = read_marker()
    flags = cpu_flags()
    kernels = compiled_kernels() if installed else []
    have = [f for f in KERNEL_FLAGS if f in flags]
    # llama.cpp names AVX-512 foundation "AVX512", the rest AVX512_VNNI, AVX512_BF16, ...; BW/VL come with "AVX512"
    used = {k.lower().replace("_", "") for k in kernels}
    # AMX left out on purpose (compile_flags): not "unused" (a build for this CPU would not use it either)
    off = [f for f in have if f in AMX_FLAGS] if compile_flags(flags) and "AMX_INT8" not in kernels else []
    unused = [f for f in have if f.replace("avx512f", "avx512").replace("_", "") not in used
              and not (f in ("avx512bw", "avx512vl") and "avx512" in used) and f not in off]
    if installed is None:
        build = "not installed"
    elif marker is not None:
        build = "native (compiled on this machine for its CPU)"
    else:
        build = "generic wheel (portable x86-64 kernels)"
    return {
        "engine": ENGINE_PACKAGE,
        "version": installed,
        "pinned": engine_version(),
        "build": build,
        "native": marker is not None,
        "kernels": kernels,
        "cpu": cpu_model(),
        "cpu_features": have,
        "unused_cpu_features": unused,
        "off_cpu_features": off,  # left out of the native build on purpose (AMX_FLAGS)
        "cpu_key": cpu_key(flags),
        "marker": marker,
    }


__all__ = ["EngineBuildConfig", "EngineBuildResult", "build_engine", "check_native_engine", "compile_flags",
           "cpu_flags", "cpu_key", "engine_report"]
