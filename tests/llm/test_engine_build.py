"""The llama.cpp engine built for this CPU (`synrank models build-engine`, issue 28): the per-CPU cache key, the
refusal to load a build made for another CPU, the fallback to the generic wheel, the report, and (in CI, where
`make setup` ran on a machine with a compiler) that the installed engine really uses this CPU's kernels."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from synrank.errors import ConfigError
from synrank.llm import engine_build as eb


def test_system_info_line_is_parsed_into_the_features_set_to_one():
    line = "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | AVX512 = 0 | AVX512_VNNI = 1 | LLAMAFILE = 1 | \n"
    assert eb._parse_system_info(line) == ["SSE3", "SSSE3", "AVX", "AVX2", "AVX512_VNNI", "LLAMAFILE"]


def test_cache_key_follows_the_cpu_flags():
    a = eb.cpu_key(["avx2", "fma"])
    assert a == eb.cpu_key(["fma", "avx2"])  # order does not matter
    assert a != eb.cpu_key(["avx2", "fma", "avx512f"])  # another CPU, another wheel
    assert eb.cpu_key() == eb.cpu_key(eb.cpu_flags())


@pytest.fixture
def marker(tmp_path, monkeypatch):
    """A marker file in a temporary prefix, valid for the engine installed here."""
    path = tmp_path / "share" / "synrank" / "engine.json"
    monkeypatch.setattr(eb, "marker_path", lambda: path)
    monkeypatch.setattr(eb, "_installed_record", lambda: "rec")

    def write(flags, record="rec"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"cpu_flags": flags, "cpu_key": eb.cpu_key(flags), "record": record, "wheel": "w.whl"}))

    return write


def test_a_build_for_another_cpu_is_refused_in_one_line(marker, monkeypatch):
    monkeypatch.setattr(eb, "cpu_flags", lambda: ["avx", "avx2", "fma", "f16c"])
    marker(["avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni"])
    with pytest.raises(ConfigError, match=r"compiled for another CPU \(it may use avx512_vnni, avx512f"):
        eb.check_native_engine()
    marker(["avx", "avx2", "fma"])  # a build for this CPU (or an older one): fine
    eb.check_native_engine()
    marker(["avx512f"], record="another")  # the user reinstalled another wheel since: the marker is stale, ignored
    eb.check_native_engine()


def test_the_backend_checks_before_importing_the_engine(marker, monkeypatch):
    from synrank.llm import llamacpp_backend

    monkeypatch.setattr(eb, "cpu_flags", lambda: ["avx2"])
    marker(["avx2", "avx512f"])
    with pytest.raises(ConfigError, match="another CPU"):
        llamacpp_backend.import_engine()


AMX_CPU = ["avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16"]


def test_amx_is_switched_off_only_on_cpus_that_have_it():
    assert eb.compile_flags(AMX_CPU) == ["-mno-amx-tile", "-mno-amx-int8", "-mno-amx-bf16"]
    assert eb.compile_flags(["avx2", "avx512f", "avx512_vnni"]) == []
    # a wheel cached before AMX was switched off lives in another folder: it is never taken for one without it
    assert eb.engine_folder("v", "k", AMX_CPU).name == "xllamacpp-v-k-noamx"
    assert eb.engine_folder("v", "k", ["avx2"]).name == "xllamacpp-v-k"


@pytest.mark.skipif(shutil.which("gcc") is None or os.uname().machine != "x86_64", reason="needs gcc on x86-64")
@pytest.mark.parametrize("order", ["before", "after"])
def test_the_compiler_drops_amx_whatever_the_order_of_march(order):
    """ggml compiles with -march=native after our CFLAGS; an AMX CPU is simulated with -march=sapphirerapids."""
    import subprocess

    def macros(*opts):
        out = subprocess.run(["gcc", *opts, "-dM", "-E", "-"], input="", capture_output=True, text=True, check=True)
        return {line.split()[1] for line in out.stdout.splitlines() if line.startswith("#define")}

    flags = eb.compile_flags(AMX_CPU)
    assert "__AMX_INT8__" in macros("-march=sapphirerapids")
    built = macros(*flags, "-march=sapphirerapids") if order == "before" else macros("-march=sapphirerapids", *flags)
    assert not {"__AMX_TILE__", "__AMX_INT8__", "__AMX_BF16__"} & built
    assert {"__AVX512VNNI__", "__AVX512BF16__"} <= built  # the kernels that do the work instead stay on


def test_the_build_passes_the_flags_to_the_compiler_and_bypasses_pips_wheel_cache(monkeypatch, tmp_path):
    seen = {}

    def fake_pip(*args, log, capture=None, env=None):
        seen.update(args=args, env=env)
        out = Path(args[args.index("-w") + 1])
        (out / f"xllamacpp-{eb.engine_version()}-cp310-abi3-linux_x86_64.whl").write_bytes(b"w")

    monkeypatch.setattr(eb, "_pip", fake_pip)
    monkeypatch.setenv("CXXFLAGS", "-O2")
    monkeypatch.delenv("CFLAGS", raising=False)
    wheel = eb._compile(tmp_path, eb.engine_version(), 2, print, eb.compile_flags(AMX_CPU))
    assert wheel.parent == tmp_path and wheel.is_file()
    assert seen["env"]["CXXFLAGS"] == "-O2 -mno-amx-tile -mno-amx-int8 -mno-amx-bf16"  # the user's flags kept
    assert seen["env"]["CFLAGS"] == "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
    assert "--no-cache-dir" in seen["args"]  # pip's cache would return a wheel compiled with other flags


def test_an_amx_build_is_refused_on_an_amx_cpu(marker, monkeypatch):
    monkeypatch.setattr(eb, "cpu_flags", lambda: AMX_CPU)
    marker(AMX_CPU)  # built before AMX was switched off: its marker has no compile flags
    with pytest.raises(ConfigError, match=r"compiled with llama.cpp's AMX kernels, which crash on this CPU"):
        eb.check_native_engine()
    path = eb.marker_path()
    path.write_text(json.dumps({**json.loads(path.read_text()), "compile_flags": eb.compile_flags(AMX_CPU)}))
    eb.check_native_engine()
    monkeypatch.setattr(eb, "cpu_flags", lambda: ["avx2", "avx512f"])
    marker(["avx2", "avx512f"])  # no AMX on the CPU: nothing to switch off
    eb.check_native_engine()


def test_a_build_that_still_has_amx_falls_back_to_the_generic_wheel(marker, monkeypatch, tmp_path):
    monkeypatch.setenv("SYNRANK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(eb, "cpu_flags", lambda: AMX_CPU)
    monkeypatch.setattr(eb, "_compiler_missing", lambda: None)
    monkeypatch.setattr(eb, "_compile", lambda folder, *a: (folder / "xllamacpp-1-cp310-abi3-linux_x86_64.whl"))
    monkeypatch.setattr(eb, "_pip", lambda *a, **k: None)
    installs: list[str] = []
    monkeypatch.setattr(eb, "_install_generic", lambda version, log: installs.append(version))
    monkeypatch.setattr(eb, "compiled_kernels", lambda: ["AVX2", "AVX512", "AMX_INT8"])
    result = eb.build_engine(eb.EngineBuildConfig())
    assert result.status == "fallback" and "still has llama.cpp's AMX kernels" in result.reason
    assert installs == [eb.engine_version()] and not eb.marker_path().exists()


@pytest.mark.parametrize("installed_generic", [True, False])
def test_without_a_compiler_the_generic_wheel_stays(marker, monkeypatch, tmp_path, installed_generic):
    monkeypatch.setenv("SYNRANK_CACHE", str(tmp_path / "cache"))
    marker(eb.cpu_flags())  # a native build was installed before: it must not be claimed any more
    real_which = shutil.which
    monkeypatch.setattr(eb.shutil, "which", lambda name: None if name == "cmake" else real_which(name))
    installs: list[str] = []
    monkeypatch.setattr(eb, "_install_generic", lambda version, log: installs.append(version))
    monkeypatch.setattr(eb, "_installed_is_generic", lambda version: installed_generic)
    monkeypatch.setattr(eb, "compiled_kernels", lambda: ["AVX2"])
    result = eb.build_engine(eb.EngineBuildConfig())
    assert result.status == "fallback" and result.reason == "cmake is not installed"
    assert "could not build a native engine (cmake is not installed); using the generic wheel" in result.line()
    assert installs == ([] if installed_generic else [eb.engine_version()])
    assert not eb.marker_path().exists()


def test_a_cached_wheel_for_this_cpu_is_installed_without_compiling(marker, monkeypatch, tmp_path):
    monkeypatch.setenv("SYNRANK_CACHE", str(tmp_path / "cache"))
    folder = eb.engine_folder(eb.engine_version(), eb.cpu_key(), eb.cpu_flags())
    folder.mkdir(parents=True)
    wheel = folder / f"xllamacpp-{eb.engine_version()}-cp310-abi3-linux_x86_64.whl"
    wheel.write_bytes(b"not really a wheel")
    calls: list[tuple] = []
    monkeypatch.setattr(eb, "_pip", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(eb, "_compile", lambda *a, **k: pytest.fail("must not compile when a wheel is cached"))
    monkeypatch.setattr(eb, "compiled_kernels", lambda: ["AVX2", "AVX512"])
    result = eb.build_engine()
    assert result.status == "installed" and result.wheel == wheel
    assert calls == [("install", "--quiet", "--no-deps", "--force-reinstall", str(wheel))]
    assert json.loads(eb.marker_path().read_text())["wheel"] == str(wheel)
    assert eb.build_engine().status == "present"  # the second run is a no-op
    assert len(calls) == 1


def test_models_engine_reports_the_build(cli):
    res = cli("models", "engine", "--json")
    assert res.code == 0, res.stderr
    rep = json.loads(res.stdout)
    assert rep["pinned"] == eb.engine_version()
    assert set(rep) >= {"build", "kernels", "cpu_features", "unused_cpu_features", "native"}
    if rep["version"]:
        assert "AVX2" in rep["kernels"] or "avx2" not in eb.cpu_flags()


@pytest.mark.skipif(os.environ.get("CI") != "true", reason="checks what `make setup` installed (CI)")
def test_setup_installed_an_engine_that_uses_this_cpus_kernels():
    """In CI `make setup` ran `synrank models build-engine` on this machine: with cmake and a compiler present
    the installed engine is the native build, and llama.cpp itself reports this CPU's AVX-512 kernels."""
    if shutil.which("cmake") is None:
        pytest.skip("no cmake: the generic wheel is the expected engine")
    rep = eb.engine_report()
    assert rep["native"], rep
    flags = set(eb.cpu_flags())
    if "avx512f" in flags:
        assert "AVX512" in rep["kernels"]
    if "avx512_vnni" in flags:
        assert "AVX512_VNNI" in rep["kernels"]
    if "amx_int8" in flags:  # switched off: its kernels crash (engine_build.AMX_FLAGS)
        assert "AMX_INT8" not in rep["kernels"] and rep["off_cpu_features"]
    assert Path(rep["marker"]["wheel"]).is_file()
