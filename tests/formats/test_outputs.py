"""synrank.formats.outputs: the guard, lock, atomic writers and resume policy every stage uses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from synrank.errors import ConfigError, InputError
from synrank.formats.io import AppendJsonlWriter
from synrank.formats.outputs import (
    OutputLock,
    ResumeState,
    check_output,
    guarded_output,
    lock_location,
    manifest_location,
    stamp_location,
    written_by_synrank,
)

REPO = Path(__file__).resolve().parents[2]


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (hidden ones included) with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _ours(path: Path, text: str = "old\n") -> Path:
    """A file output synrank wrote earlier (it has its sidecar manifest)."""
    with guarded_output(path, kind="file", overwrite=True) as t:
        t.path.write_text(text)
    return path


# --- the guard -------------------------------------------------------------------------------------------


def test_output_that_is_an_input_is_refused_by_path_symlink_and_hard_link(tmp_path):
    q = tmp_path / "q.tsv"
    q.write_text("1\tquery\n")
    link = tmp_path / "link.tsv"
    link.symlink_to(q)
    hard = tmp_path / "hard.tsv"
    os.link(q, hard)
    for out in (q, link, hard, tmp_path / "sub" / ".." / "q.tsv"):
        for overwrite in (False, True):
            with pytest.raises(InputError, match="is also an input"):
                check_output(out, inputs=[q], overwrite=overwrite)
    assert q.read_text() == "1\tquery\n"


def test_output_folder_containing_an_input_is_refused(tmp_path):
    beir = tmp_path / "mini"
    beir.mkdir()
    (beir / "corpus.jsonl").write_text('{"_id":"1","text":"a"}\n')
    (beir / "manifest.json").write_text('{"kind": "index"}')  # even a folder that looks like ours
    with pytest.raises(InputError, match="contains the input"):
        check_output(beir, inputs=[beir / "corpus.jsonl"], overwrite=True, kind="dir")
    with pytest.raises(InputError, match="contains the input"):
        check_output(tmp_path, inputs=[beir], overwrite=True, kind="dir")
    with pytest.raises(InputError, match="is also an input"):
        check_output(beir, inputs=[beir], overwrite=True, kind="dir")


def test_output_folder_holding_a_hard_link_to_an_input_is_refused(tmp_path):
    src = tmp_path / "corpus.jsonl"
    src.write_text('{"_id":"1","text":"a"}\n')
    out = tmp_path / "idx"
    out.mkdir()
    (out / "manifest.json").write_text('{"kind": "index"}')
    os.link(src, out / "docs.jsonl")
    with pytest.raises(InputError, match="hard link to the input"):
        check_output(out, inputs=[src], overwrite=True, kind="dir")


def test_output_under_a_regular_file_is_refused(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("x")
    with pytest.raises(InputError, match="notes.txt is a file, not a folder") as err:
        check_output(f / "run.trec")
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="is a file, not a folder"):
        check_output(f / "deeper" / "idx", kind="dir")


def test_kind_mismatch_is_refused(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    with pytest.raises(InputError, match="folder of that name exists"):
        check_output(d, kind="file", overwrite=True)
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(InputError, match="file of that name exists"):
        check_output(f, kind="dir", overwrite=True)
    with pytest.raises(InputError, match="cannot go to stdout"):
        check_output("-", kind="dir")


def test_foreign_outputs_are_never_replaced_even_with_overwrite(tmp_path):
    f = tmp_path / "results.json"
    f.write_text("my notes\n")
    d = tmp_path / "folder"
    d.mkdir()
    (d / "thesis.tex").write_text("x")
    for overwrite in (False, True):
        with pytest.raises(InputError, match="not written by synrank"):
            check_output(f, overwrite=overwrite)
        with pytest.raises(InputError, match="not written by synrank"):
            check_output(d, overwrite=overwrite, kind="dir")
    assert f.read_text() == "my notes\n" and (d / "thesis.tex").read_text() == "x"


def test_empty_file_and_folder_are_replaced_freely(tmp_path):
    f = tmp_path / "out.jsonl"
    f.touch()
    d = tmp_path / "idx"
    d.mkdir()
    check_output(f)
    check_output(d, kind="dir")


def test_our_own_file_is_replaced_but_our_folder_needs_overwrite(tmp_path):
    out = _ours(tmp_path / "run.trec")
    assert written_by_synrank(out)
    check_output(out)  # a re-run replaces synrank's own file, as a make step would
    d = tmp_path / "idx"
    with guarded_output(d, kind="dir") as t:
        (t.path / "index.faiss").write_bytes(b"v")
    assert written_by_synrank(d)
    with pytest.raises(InputError, match="pass --overwrite"):
        check_output(d, kind="dir")
    check_output(d, kind="dir", overwrite=True)


# --- atomic file and folder outputs ----------------------------------------------------------------------


def test_file_output_is_swapped_in_at_the_end_with_a_manifest(tmp_path):
    out = tmp_path / "sub" / "run.trec"
    with guarded_output(out, kind="file") as t:
        assert t.final == out and t.path != out and t.path.parent == out.parent
        assert t.path.name.endswith("run.trec")  # suffix kept for writers that look at it
        t.path.write_text("new\n")
        assert not out.exists()
        assert lock_location(out).exists()
    assert out.read_text() == "new\n"
    assert json.loads(manifest_location(out, "file").read_text())["kind"] == "output"
    assert not lock_location(out).exists()
    assert sorted(p.name for p in out.parent.iterdir()) == ["run.trec", "run.trec.manifest.json"]


def test_failed_run_leaves_old_file_output_byte_identical(tmp_path):
    out = _ours(tmp_path / "run.trec", "old bytes\n")
    before = _snapshot(tmp_path)
    for exc in (RuntimeError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with guarded_output(out, kind="file", overwrite=True) as t:
                t.path.write_text("half")
                t.manifest = {"kind": "new"}
                raise exc
        assert _snapshot(tmp_path) == before


def test_stage_manifest_is_written_beside_the_file(tmp_path):
    out = tmp_path / "fused.trec"
    with guarded_output(out, kind="file") as t:
        t.path.write_text("x\n")
        t.manifest = {"kind": "fuse", "queries": 3}
    assert json.loads((tmp_path / "fused.trec.manifest.json").read_text()) == {"kind": "fuse", "queries": 3}


def test_dir_output_and_failed_run_leaves_old_folder(tmp_path):
    out = tmp_path / "idx"
    with guarded_output(out, kind="dir") as t:
        (t.path / "index.faiss").write_bytes(b"v1")
        t.manifest = {"kind": "index"}
    assert json.loads((out / "manifest.json").read_text()) == {"kind": "index"}
    before = _snapshot(tmp_path)
    with pytest.raises(InputError, match="pass --overwrite"):
        with guarded_output(out, kind="dir"):
            pass
    with pytest.raises(RuntimeError):
        with guarded_output(out, kind="dir", overwrite=True) as t:
            (t.path / "index.faiss").write_bytes(b"v2")
            raise RuntimeError("encoder died")
    assert _snapshot(tmp_path) == before
    with guarded_output(out, kind="dir", overwrite=True) as t:
        (t.path / "index.faiss").write_bytes(b"v2")
    assert (out / "index.faiss").read_bytes() == b"v2"
    assert json.loads((out / "manifest.json").read_text())["kind"] == "output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]


def test_stdout_target(capsys):
    with guarded_output("-", kind="file") as t:
        assert t.path is None and t.final is None
        fh = t.open()
        fh.write("to stdout\n")
    assert capsys.readouterr().out == "to stdout\n"


# --- one writer per output -------------------------------------------------------------------------------

_HOLDER = textwrap.dedent(
    """
    import sys, time
    from synrank.formats.outputs import guarded_output
    with guarded_output(sys.argv[1], kind=sys.argv[2], fingerprint={"k": 1}) as t:
        print("ready", flush=True)
        time.sleep(30)
    """
)


@pytest.mark.parametrize("kind", ["file", "append", "dir"])
def test_second_process_on_same_output_is_refused_naming_the_pid(tmp_path, kind):
    out = tmp_path / ("idx" if kind == "dir" else "out.jsonl")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(out), kind], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(InputError, match=rf"another synrank process \(pid {holder.pid}\)"):
            with guarded_output(out, kind=kind, fingerprint={"k": 1}):
                pass
    finally:
        holder.kill()
        holder.wait()
    # The holder died without releasing (kill -9): the kernel dropped its lock, so the output is free again.
    with OutputLock(out):
        pass


def test_lock_is_released_and_reacquired_in_process(tmp_path):
    out = tmp_path / "a.jsonl"
    with OutputLock(out):
        with pytest.raises(InputError, match=f"pid {os.getpid()}"):
            OutputLock(out).acquire()
    with OutputLock(out):
        pass
    assert not lock_location(out).exists()


# --- resume policy ---------------------------------------------------------------------------------------


def test_resume_state_policy(tmp_path):
    state = tmp_path / "out.jsonl"
    fp = {"model": "m", "k": 10}
    assert ResumeState.open(state, fp, overwrite=False).action == "fresh"
    state.write_text('{"query_id":"1"}\n')
    assert ResumeState.open(state, fp, overwrite=False).action == "resume"
    assert state.exists()
    with pytest.raises(ConfigError, match=r"different settings \(k, model\)"):
        ResumeState.decide(state, {"model": "other", "k": 20}, overwrite=False)
    with pytest.raises(ConfigError, match="no resume stamp"):
        foreign = tmp_path / "foreign.jsonl"
        foreign.write_text("x\n")
        ResumeState.decide(foreign, fp, overwrite=False)
    st = ResumeState.open(state, {"model": "other", "k": 20}, overwrite=True)
    assert st.action == "restart" and st.changed == ["k", "model"] and not state.exists()
    # synrank's own work folders are rebuilt silently when settings change
    work = tmp_path / ".idx.partial"
    assert ResumeState.open(work, {"a": 1}, overwrite=False).action == "fresh"  # the folder does not exist yet
    work.mkdir()
    (work / "chunk-0.npy").write_bytes(b"x")
    assert ResumeState.open(work, {"a": 1}, overwrite=False).action == "resume"
    st = ResumeState.open(work, {"a": 2}, overwrite=False, on_change="restart")
    assert st.action == "restart" and st.changed == ["a"] and not (work / "chunk-0.npy").exists()


def test_append_output_copied_without_its_stamp_resumes_from_its_manifest(tmp_path):
    # `cp gen.jsonl* elsewhere/` leaves the dot-file stamp behind; the manifest's config still names the settings.
    out = tmp_path / "gen.jsonl"
    fp = {"model": "m", "shard": [0, 1]}
    out.write_text('{"id":"a"}\n')
    manifest = manifest_location(out, "append")
    manifest.write_text(json.dumps({"kind": "generate", "config": {"model": "m", "shard": [0, 1], "input": "x"}}))
    assert not stamp_location(out).exists()
    assert ResumeState.decide(out, fp, overwrite=False).action == "resume"
    assert _append_run(out, fp, ["a", "b"]) == {"a"}
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == ["a", "b"]
    # other settings are still refused, by name
    stamp_location(out).unlink()
    with pytest.raises(ConfigError, match=r"different settings \(model\)"):
        ResumeState.decide(out, {"model": "n", "shard": [0, 1]}, overwrite=False)
    # a manifest that does not record every fingerprint key proves nothing
    with pytest.raises(ConfigError, match="no resume stamp"):
        ResumeState.decide(out, {**fp, "seed": 1}, overwrite=False)


def _append_run(out: Path, fp: dict, records: list[str], *, overwrite=False, fail_after: int | None = None) -> set[str]:
    with guarded_output(out, kind="append", fingerprint=fp, overwrite=overwrite) as t:
        with AppendJsonlWriter(t.path, key=lambda r: r["id"]) as w:
            done = set(w.done_keys)
            for n, rid in enumerate(r for r in records if r not in done):
                if fail_after is not None and n >= fail_after:
                    raise KeyboardInterrupt
                w.write({"id": rid})
    return done


def test_append_output_resumes_refuses_and_restarts(tmp_path):
    out = tmp_path / "gen.jsonl"
    fp = {"model": "m"}
    with pytest.raises(KeyboardInterrupt):
        _append_run(out, fp, ["a", "b", "c"], fail_after=2)
    assert _append_run(out, fp, ["a", "b", "c"]) == {"a", "b"}
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == ["a", "b", "c"]
    assert written_by_synrank(out)
    with pytest.raises(ConfigError, match=r"different settings \(model\)"):
        _append_run(out, {"model": "n"}, ["x"])
    before = _snapshot(tmp_path)
    # --overwrite with other settings, failing before the first record: the old output comes back untouched
    with pytest.raises(KeyboardInterrupt):
        _append_run(out, {"model": "n"}, ["x"], overwrite=True, fail_after=0)
    assert _snapshot(tmp_path) == before
    assert _append_run(out, {"model": "n"}, ["x"], overwrite=True) == set()
    assert out.read_text() == '{"id":"x"}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == [".gen.jsonl.resume.json", "gen.jsonl", "gen.jsonl.manifest.json"]


def test_append_refuses_a_foreign_file_and_an_input(tmp_path):
    out = tmp_path / "q.jsonl"
    out.write_text('{"_id":"1","text":"q"}\n')
    with pytest.raises(InputError, match="is also an input"):
        with guarded_output(out, kind="append", fingerprint={}, inputs=[out], overwrite=True):
            pass
    with pytest.raises(InputError, match="not written by synrank"):
        with guarded_output(out, kind="append", fingerprint={}, overwrite=True):
            pass
    assert out.read_text() == '{"_id":"1","text":"q"}\n'

