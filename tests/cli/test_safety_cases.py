"""Issue 15, case by case through the CLI: exit code, the one-line message, and the user's files untouched.

Each case builds its files in a fresh folder, runs ``synrank ARGS`` in-process and checks:
- the exit code and that stderr (or stdout) holds the expected fragment on one ``synrank: error:`` line;
- every file that existed before the run is byte-identical afterwards (inputs are sacred);
- a failed run (exit != 0) leaves nothing behind: no new file, folder or hidden partial.

Cases whose fix lives in a stage that has not yet adopted ``synrank.formats.outputs`` (or validated its own
options) are marked ``xfail(strict=True)`` naming the stage: the lead flips them once the branches are merged.
"""

from __future__ import annotations

import errno
import gzip
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers import head_file

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "examples" / "data" / "sample"


def _snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` (hidden ones too): bytes for files, None for folders."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@dataclass
class Case:
    id: str
    argv: Callable[[Path, dict], list[str]]  # (folder, fixtures) -> argv; files are set up by the callable
    code: int
    fragment: str
    needs: str | None = None  # the stage whose adoption fixes this case (xfail until merged)
    stream: str = "stderr"
    creates: tuple[str, ...] = field(default=())  # outputs a successful run may add


def _mini(d: Path) -> Path:
    shutil.copytree(SAMPLE, d / "mini")
    return d / "mini"


def _file(d: Path, name: str, data: bytes | str) -> Path:
    p = d / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    return p


def _run(d: Path) -> Path:
    lines = [f"{q} Q0 {doc} {r} {10 - r}.5 t" for q in ("1", "2") for r, doc in enumerate(["a", "b", "c"], start=1)]
    return _file(d, "run.trec", "\n".join(lines) + "\n")


def _with_empty_doc(d: Path) -> Path:
    m = _mini(d)
    with open(m / "corpus.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"_id": "empty-1", "title": "", "text": ""}\n')
    return m


def _corrupt_index(d: Path) -> Path:
    idx = d / "idx"
    _file(d, "idx/index.faiss", b"not a faiss index")
    _file(d, "idx/docids.txt", "a\nb\n")
    _file(d, "idx/manifest.json", '{"kind": "index", "model": {"name": "minilm"}}\n')
    return idx


def _lists(d: Path, score: str = "1.0") -> Path:
    return _file(d, "lists.jsonl", f'{{"query_id": "1", "query": "q", "candidates": [{{"doc_id": "s1", "score": {score}}}, {{"doc_id": "s2", "score": 0.5}}]}}\n')


def _train_lists(d: Path) -> Path:
    cands = ", ".join(f'{{"doc_id": "s{i}", "text": "passage {i}", "score": {5 - i}}}' for i in range(1, 5))
    return _file(d, "train.jsonl", f'{{"query_id": "1", "query": "q", "candidates": [{cands}]}}\n')


BM25 = ["search", "--bm25", "--no-cache"]

CASES = [
    # --- 1-4: data loss ---
    Case("search-out-is-its-input", lambda d, f: [*BM25, _mini(d), _file(d, "q.jsonl", (SAMPLE / "queries.jsonl").read_bytes()), "-k", "3", "-o", d / "q.jsonl"], 2, "is also an input"),
    Case("search-out-is-a-foreign-file", lambda d, f: [*BM25, _mini(d), d / "mini" / "queries.jsonl", "-o", _file(d, "notes.jsonl", "my notes\n")], 2, "not written by synrank"),
    Case("search-trec-out-is-a-foreign-file", lambda d, f: [*BM25, _mini(d), d / "mini" / "queries.jsonl", "-o", _file(d, "notes.trec", "my notes\n")], 2, "not written by synrank"),
    Case("generate-out-is-its-input-overwrite", lambda d, f: ["generate", "--task", "docs", _file(d, "q.tsv", "1\tfirst\n2\tsecond\n"), "-o", d / "q.tsv", "--overwrite", "--backend", "transformers", "--model", d / "no-model"], 2, "is also an input"),
    Case("generate-jsonl-out-is-its-input", lambda d, f: ["generate", "--task", "docs", _file(d, "q.jsonl", '{"_id": "1", "text": "first"}\n'), "-o", d / "q.jsonl", "--backend", "transformers", "--model", d / "no-model"], 2, "is also an input"),
    Case("index-replaces-a-beir-folder", lambda d, f: ["index", _mini(d), "-o", d / "mini", "--overwrite", "--model", f["model"]], 2, "is also an input"),
    Case("index-out-contains-the-corpus", lambda d, f: ["index", _mini(d) / "corpus.jsonl", "-o", d / "mini", "--overwrite", "--model", f["model"]], 2, "contains the input"),
    Case("index-chunk-size-0", lambda d, f: ["index", _mini(d), "-o", d / "idx", "--chunk-size", "0", "--model", f["model"]], 2, "--chunk-size"),
    # --- 6-9: input hygiene ---
    Case("doc-id-with-space", lambda d, f: [*BM25, _file(d, "c.jsonl", '{"_id": "1", "text": "a"}\n{"_id": "a b", "text": "x"}\n'), SAMPLE / "queries.jsonl"], 2, "c.jsonl:2: document id 'a b' contains whitespace"),
    Case("doc-id-with-newline", lambda d, f: ["check", "--corpus", _file(d, "c.jsonl", '{"_id": "a\\nb", "text": "x"}\n')], 2, "c.jsonl:1: document id"),
    Case("bom-queries-tsv", lambda d, f: [*BM25, _mini(d), _file(d, "q.tsv", b"\xef\xbb\xbf1\tsome query\n"), "-k", "1"], 0, '"query_id":"1"', stream="stdout"),
    Case("bom-beir-qrels", lambda d, f: ["check", "--qrels", _file(d, "qrels.tsv", b"\xef\xbb\xbfquery-id\tcorpus-id\tscore\n1\td1\t1\n")], 0, "1 judgments", stream="stdout"),
    Case("invalid-utf8-line-3", lambda d, f: [*BM25, _mini(d), _file(d, "q.tsv", b"1\ta\n2\tb\n3\t\xff\n")], 2, "q.tsv:3: not valid UTF-8"),
    Case("nan-in-trec-run", lambda d, f: ["fuse", _run(d), _file(d, "nan.trec", "1 Q0 a 1 1.0 t\n1 Q0 b 2 nan t\n"), "-o", d / "f.trec"], 2, "nan.trec:2: score 'nan' is not a finite number"),
    Case("inf-in-score-list", lambda d, f: ["score", _lists(d, "Infinity"), "--teacher", "bm25", "--corpus", _mini(d)], 2, "lists.jsonl:1: bad JSON (Infinity is not allowed"),
    Case("nan-qrels-grade", lambda d, f: ["compare", _run(d), _file(d, "run2.trec", (d / "run.trec").read_text()), "--qrels", _file(d, "nan.qrels", "1 0 a nan\n")], 2, "nan.qrels:1: relevance 'nan' is not a finite number"),
    # --- 10: empty documents ---
    Case("empty-doc-bm25-search", lambda d, f: [*BM25, _with_empty_doc(d), SAMPLE / "queries.jsonl", "-k", "3"], 0, "1 document(s) have an empty title and text (ids empty-1)"),
    Case("empty-doc-index", lambda d, f: ["index", _with_empty_doc(d), "-o", d / "idx", "--model", f["model"]], 0, "indexed 21 documents", creates=("idx",)),
    Case("empty-doc-check", lambda d, f: ["check", _with_empty_doc(d)], 0, "21 documents (1 empty)", stream="stdout"),
    # --- 11: exit 2 with one line, not "internal error" ---
    Case("corrupt-gz", lambda d, f: [*BM25, _file(d, "c.jsonl.gz", gzip.compress(b"".join(b'{"_id": "%d", "text": "a"}\n' % i for i in range(500)))[:200]), SAMPLE / "queries.jsonl"], 2, "c.jsonl.gz: corrupt or truncated gzip file"),
    Case("not-gzip", lambda d, f: ["check", "--corpus", _file(d, "c.jsonl.gz", "plain text\n")], 2, "corrupt or truncated gzip file"),
    Case("corrupt-index-faiss", lambda d, f: ["search", _corrupt_index(d), SAMPLE / "queries.jsonl"], 2, "index.faiss"),
    Case("fuse-out-existing-dir", lambda d, f: ["fuse", _run(d), _run(d), "-o", _mini(d)], 2, "a folder of that name exists"),
    Case("fuse-out-under-file", lambda d, f: ["fuse", _run(d), _run(d), "-o", _file(d, "notes.txt", "x") / "f.trec"], 2, "notes.txt is a file, not a folder"),
    Case("search-out-under-file", lambda d, f: [*BM25, _mini(d), SAMPLE / "queries.jsonl", "-o", _file(d, "notes.txt", "x") / "c.jsonl"], 2, "notes.txt is a file, not a folder"),
    Case("search-trec-out-under-file", lambda d, f: [*BM25, _mini(d), SAMPLE / "queries.jsonl", "-o", _file(d, "notes.txt", "x") / "r.trec"], 2, "notes.txt is a file, not a folder"),
    Case("score-out-under-file", lambda d, f: ["score", _lists(d), "--teacher", "bm25", "--corpus", _mini(d), "-o", _file(d, "notes.txt", "x") / "l.jsonl"], 2, "notes.txt is a file, not a folder"),
    Case("index-out-under-file", lambda d, f: ["index", _mini(d), "-o", _file(d, "notes.txt", "x") / "idx", "--model", f["model"]], 2, "notes.txt is a file, not a folder"),
    Case("train-out-under-file", lambda d, f: ["train", _train_lists(d), "-o", _file(d, "notes.txt", "x") / "m", "--model", f["model"]], 2, "notes.txt is a file, not a folder"),
    Case("generate-out-under-file", lambda d, f: ["generate", "--task", "docs", _file(d, "q.tsv", "1\tq\n"), "-o", _file(d, "notes.txt", "x") / "g.jsonl", "--backend", "transformers", "--model", d / "no-model"], 2, "notes.txt is a file, not a folder"),
    Case("index-chunk-size-negative", lambda d, f: ["index", _mini(d), "-o", d / "idx", "--chunk-size", "-1", "--model", f["model"]], 2, "--chunk-size"),
    Case("train-lr-negative", lambda d, f: ["train", _train_lists(d), "-o", d / "m", "--lr", "-1", "--model", f["model"]], 2, "--lr"),
    # --- 12: validate before work, leave nothing behind ---
    Case("train-epochs-0", lambda d, f: ["train", _train_lists(d), "-o", d / "m", "--epochs", "0", "--model", f["model"]], 2, "--epochs"),
    Case("score-llm-levels-0", lambda d, f: ["score", _lists(d), "--teacher", "bm25", "--corpus", _mini(d), "--llm-levels", "0", "-o", d / "l.jsonl"], 2, "--llm-levels"),
    Case("index-bad-factory", lambda d, f: ["index", _mini(d), "-o", d / "idx", "--factory", "NoSuchIndex", "--model", f["model"]], 2, "NoSuchIndex"),
    # --- 14: secrets in --base-url ---
    Case("base-url-secret-redacted", lambda d, f: ["generate", "--task", "docs", _file(d, "q.tsv", "1\tq\n"), "--backend", "openai", "--base-url", "http://bob:hunter2@127.0.0.1:9/v1?key=SECRET123", "--model", "m", "--http-retries", "1"], 2, "http://***@127.0.0.1:9/v1?***"),
]


# --- issue 31, output safety: every path a command writes goes through synrank.formats.outputs -------------


def _queries_folder(d: Path) -> Path:
    """A folder of queries synrank generated (a manifest beside them): `search CORPUS Q` reads Q/queries.jsonl."""
    _file(d, "Q/queries.jsonl", (SAMPLE / "queries.jsonl").read_bytes())
    _file(d, "Q/queries.jsonl.manifest.json", '{"kind": "generate", "config": {}}\n')
    return d / "Q"


def _fifo(d: Path, name: str) -> Path:
    os.mkfifo(d / name)
    return d / name


GEN = ["generate", "--task", "docs", "--backend", "transformers", "--model", "no-model"]

CASES += [
    Case("search-out-is-a-file-of-its-queries-folder", lambda d, f: [*BM25, _mini(d), _queries_folder(d), "-o", d / "Q" / "queries.jsonl", "--overwrite"], 2, "queries.jsonl, read from the folder"),
    Case("search-out-is-the-corpus-of-its-folder", lambda d, f: [*BM25, _mini(d), SAMPLE / "queries.jsonl", "-o", d / "mini" / "corpus.jsonl"], 2, "is also an input"),
    Case("generate-rejects-is-a-foreign-file", lambda d, f: [*GEN, _file(d, "q.tsv", "1\tq\n"), "-o", d / "g.jsonl", "--rejects", _file(d, "notes.jsonl", '{"mine": 1}\n')], 2, "notes.jsonl: file exists and was not written by synrank"),
    Case("generate-rejects-is-the-output", lambda d, f: [*GEN, _file(d, "q.tsv", "1\tq\n"), "-o", d / "g.jsonl", "--rejects", d / "g.jsonl"], 2, "is also the output"),
    Case("generate-rejects-is-an-input", lambda d, f: [*GEN, _file(d, "q.tsv", "1\tq\n"), "-o", d / "g.jsonl", "--rejects", d / "q.tsv"], 2, "is also an input"),
    Case("generate-stdout-rejects-foreign", lambda d, f: [*GEN, _file(d, "q.tsv", "1\tq\n"), "--rejects", _file(d, "notes.jsonl", '{"mine": 1}\n')], 2, "not written by synrank"),
    Case("search-trec-out-is-a-fifo", lambda d, f: [*BM25, _mini(d), SAMPLE / "queries.jsonl", "-o", _fifo(d, "run.trec")], 2, "run.trec: is a FIFO, not a regular file"),
    Case("fuse-out-is-a-fifo", lambda d, f: ["fuse", _run(d), _run(d), "-o", _fifo(d, "f.trec")], 2, "is a FIFO"),
    Case("search-jsonl-gz-out", lambda d, f: [*BM25, _mini(d), SAMPLE / "queries.jsonl", "-o", d / "s.jsonl.gz"], 2, "cannot be gzip-compressed"),
    Case("search-out-trailing-slash", lambda d, f: [*BM25, _mini(d), SAMPLE / "queries.jsonl", "-o", f"{d}/newdir/"], 2, "newdir/: ends with '/'"),
    Case("fuse-out-trailing-slash", lambda d, f: ["fuse", _run(d), _run(d), "-o", f"{d}/newdir/"], 2, "ends with '/'"),
    Case("generate-fails-before-any-record", lambda d, f: ["generate", "--task", "docs", _file(d, "q.tsv", "1\tq\n"), "-o", d / "new" / "g.jsonl", "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--http-retries", "1"], 2, "127.0.0.1:9"),
]


def _param(case: Case):
    marks = [pytest.mark.xfail(strict=True, reason=f"needs {case.needs} to adopt outputs.py")] if case.needs else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.fixture(scope="module")
def fixtures(tiny_bi_encoder) -> dict:
    return {"model": tiny_bi_encoder}


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_issue15_case(case: Case, tmp_path, cli, fixtures):
    work = tmp_path / "w"
    work.mkdir()
    argv = [str(a) for a in case.argv(work, fixtures)]
    before = _snapshot(work)
    res = cli(*argv)
    text = res.stdout if case.stream == "stdout" else res.stderr
    assert res.code == case.code, f"exit {res.code}, stderr: {res.stderr[-600:]}"
    assert case.fragment in text, f"{case.fragment!r} not in {case.stream}: {text[-600:]}"
    assert "internal error" not in res.stderr and "Traceback" not in res.stderr
    if case.code == 2:
        errors = [ln for ln in res.stderr.splitlines() if ln.startswith("synrank: error:")]
        assert len(errors) == 1 and case.fragment in errors[0]
    after = _snapshot(work)
    changed = [p for p, data in before.items() if after.get(p, b"<gone>") != data]
    assert not changed, f"input files changed: {changed}"
    new = sorted(set(after) - set(before))
    if case.code != 0:
        assert not new, f"a failed run left files behind: {new}"
    else:
        stray = [p for p in new if p.split("/")[0] not in case.creates and not p.startswith(tuple(f"{c}." for c in case.creates))]
        assert not stray, f"unexpected new files: {stray}"
    for secret in ("hunter2", "SECRET123"):
        assert secret not in res.stderr + res.stdout
        for p, data in after.items():
            assert data is None or secret.encode() not in data, f"{secret} leaked into {p}"


# --- 5: one writer per output ----------------------------------------------------------------------------

_HOLDER = textwrap.dedent(
    """
    import sys, time
    from synrank.formats.outputs import OutputLock
    with OutputLock(sys.argv[1]):
        print("ready", flush=True)
        time.sleep(60)
    """
)


def test_second_search_on_the_same_out_is_refused(tmp_path, cli):
    out = tmp_path / "c.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(out)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "ready"
        res = cli(*BM25, SAMPLE, SAMPLE / "queries.jsonl", "-o", out)
    finally:
        holder.kill()
        holder.wait()
    assert res.code == 2 and f"pid {holder.pid}" in res.stderr, res.stderr
    assert not out.exists()


# --- 13: Ctrl-C ------------------------------------------------------------------------------------------


def _wait_until_main_runs(proc: subprocess.Popen, timeout: float = 120) -> None:
    """Wait until ``synrank.cli.main.main`` has installed its SIGTERM handler (Linux: the process's SigCgt mask).

    A fixed sleep raced interpreter start-up on a loaded machine: a SIGINT that arrives before Python installs
    its own handler kills the process (returncode -2) instead of exercising our cleanup.
    """
    bit = 1 << (signal.SIGTERM - 1)
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        status = Path(f"/proc/{proc.pid}/status").read_text(encoding="utf-8")
        caught = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), 16)
        if caught & bit:
            return
        time.sleep(0.05)
    raise AssertionError(f"synrank did not reach main() (returncode {proc.poll()})")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the signal mask from /proc (Linux)")
def test_ctrl_c_prints_how_to_resume_and_ends_by_sigint(tmp_path):
    """Ctrl-C ends synrank the way it ends CPython, by SIGINT (a shell's $? is 130), so calling scripts stop too.

    search waits on its stdin queries: a long command we can interrupt at a known point. It used to exit 130
    or die by SIGINT at random, depending on whether the interrupt passed through an eval()/exec() frame.
    """
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "synrank", *BM25, str(SAMPLE), "-"],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
        # Children of a non-interactive shell may inherit SIGINT ignored; Ctrl-C must reach Python.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    _wait_until_main_runs(proc)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGINT, err[-600:]
    assert err.strip().splitlines()[-1] == "synrank: interrupted; re-run the same command to resume (outputs written so far are kept)"
    assert "Traceback" not in err


def test_run_reraises_an_interrupt_without_a_traceback_and_exits_with_other_codes(monkeypatch, capsys):
    """The deterministic half of the test above: whatever CPython's own bookkeeping did, an interrupted
    command leaves run() as an unhandled KeyboardInterrupt (CPython then ends by SIGINT), printed by nobody."""
    import synrank.cli.main as cli_main

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setitem(cli_main._EXIT, "by_sigint", False)  # restored after the test: pytest must not die by SIGINT
    monkeypatch.setattr(cli_main, "main", lambda: 130)
    with pytest.raises(KeyboardInterrupt) as info:
        cli_main.run()
    sys.excepthook(KeyboardInterrupt, info.value, None)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(cli_main, "main", lambda: 2)
    with pytest.raises(SystemExit) as exited:
        cli_main.run()
    assert exited.value.code == 2


def test_sigterm_cleans_up_like_ctrl_c_and_exits_143(tmp_path, fixtures, scifact_dir):
    """`kill` (a scheduler's time limit) during `index`: the half-built folder is removed, as after Ctrl-C.

    Python's default SIGTERM action ends the process without unwinding, which once left `.idx.*.tmp` behind.
    """
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    head_file(scifact_dir / "corpus.jsonl", 1500, corpus / "corpus.jsonl")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "synrank", "index", str(corpus), "--model", str(fixtures["model"]), "--max-batch-size", "1",
         "--out", str(tmp_path / "idx")],
        stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not list(tmp_path.glob(".idx.*.tmp")):
        time.sleep(0.05)
    assert proc.poll() is None, "index finished before it could be terminated"
    time.sleep(0.5)  # inside the encoding loop, not at the folder's creation
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err[-600:]
    assert err.strip().splitlines()[-1] == "synrank: interrupted; re-run the same command to resume (outputs written so far are kept)"
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus"]


def test_empty_document_is_kept_but_never_retrieved_by_dense_search(tmp_path, cli, fixtures):
    """Issue 15.10: an empty document is read (and counted) but has no vector, so no query can retrieve it."""
    corpus = _with_empty_doc(tmp_path)
    n_docs = sum(1 for line in (corpus / "corpus.jsonl").read_text(encoding="utf-8").splitlines() if line.strip())
    res = cli("index", str(corpus), "-o", str(tmp_path / "idx"), "--model", fixtures["model"])
    assert res.code == 0, res.stderr
    assert f"indexed {n_docs} documents (1 empty, never retrieved)" in res.stderr
    ids = (tmp_path / "idx" / "docids.txt").read_text(encoding="utf-8").split("\n")[:-1]
    assert "empty-1" not in ids and len(ids) == n_docs - 1
    res = cli("search", str(tmp_path / "idx"), str(SAMPLE / "queries.jsonl"), "-k", str(n_docs), "-o", str(tmp_path / "run.trec"))
    assert res.code == 0, res.stderr
    hits = [line.split()[2] for line in (tmp_path / "run.trec").read_text(encoding="utf-8").splitlines() if line.strip()]
    assert hits and "empty-1" not in hits


# --- issue 31, output safety: cases that need two runs or a full disk -----------------------------------


def _enospc(path: object = None) -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), None if path is None else str(path))


def _assert_untouched(before: dict, root: Path) -> None:
    after = _snapshot(root)
    changed = [p for p, data in before.items() if after.get(p, b"<gone>") != data]
    assert not changed, f"files changed: {changed}"
    assert not sorted(set(after) - set(before)), f"a failed run left files behind: {sorted(set(after) - set(before))}"


def _one_error(res, fragment: str) -> None:
    assert res.code == 2, f"exit {res.code}, stderr: {res.stderr[-600:]}"
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("synrank: error:")]
    assert len(errors) == 1 and fragment in errors[0], res.stderr[-600:]
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr


@pytest.mark.parametrize("where", ["first-record", "resume-stamp"])
def test_overwrite_on_a_full_disk_puts_the_old_output_back(tmp_path, cli, monkeypatch, where):
    """Issue 31.1: starting over (--overwrite) and failing, at any point, leaves the old output under its own
    name, byte-identical, with its stamp and manifest; no hidden `.s.jsonl.previous` and no empty lock."""
    from synrank.formats import io as fio
    from synrank.formats import outputs

    out = tmp_path / "s.jsonl"
    assert cli(*BM25, SAMPLE, SAMPLE / "queries.jsonl", "-k", "3", "-o", out).code == 0
    before = _snapshot(tmp_path)
    real_write = fio.AppendJsonlWriter.write
    calls = []

    def full_after_one(self, record):
        calls.append(1)
        if len(calls) > 1:
            raise _enospc(self.path)
        real_write(self, record)

    def full(*_a, **_k):
        raise _enospc()

    if where == "first-record":
        monkeypatch.setattr(fio.AppendJsonlWriter, "write", full_after_one)
    else:
        monkeypatch.setattr(outputs.ResumeState, "start", full)
    monkeypatch.setattr(outputs.os, "write", full)  # the lock's pid cannot be written either
    res = cli(*BM25, SAMPLE, SAMPLE / "queries.jsonl", "-k", "5", "-o", out, "--overwrite")
    _one_error(res, "no space left on device")
    _assert_untouched(before, tmp_path)


def test_search_trec_gz_and_fuse_gz_write_gzip(tmp_path, cli):
    """Issue 31.10: an output named *.gz is gzip (synrank's readers take it back), and `-o run.trec.gz` is TREC."""
    run = tmp_path / "run.trec.gz"
    res = cli(*BM25, SAMPLE, SAMPLE / "queries.jsonl", "-k", "3", "-o", run)
    assert res.code == 0, res.stderr
    lines = gzip.decompress(run.read_bytes()).decode().splitlines()
    assert lines and all(line.split()[1] == "Q0" for line in lines)
    res = cli("fuse", run, run, "-o", tmp_path / "f.trec.gz")
    assert res.code == 0, res.stderr
    assert gzip.decompress((tmp_path / "f.trec.gz").read_bytes()).decode().split("\n")[0].split()[1] == "Q0"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.trec.gz", "f.trec.gz.manifest.json", "run.trec.gz", "run.trec.gz.manifest.json"]


def test_index_into_a_folder_of_its_corpus_can_be_rebuilt(tmp_path, cli, fixtures):
    """Issue 31.13: `index CORPUS -o CORPUS/idx --overwrite` replaces its own earlier index: the index is not read."""
    corpus = _mini(tmp_path)
    for _ in range(2):
        res = cli("index", corpus, "-o", corpus / "idx", "--overwrite", "--model", fixtures["model"])
        assert res.code == 0, res.stderr
    assert sorted(p.name for p in corpus.iterdir()) == ["corpus.jsonl", "idx", "qrels", "queries.jsonl"]


def test_index_that_cannot_train_keeps_vectors_for_the_next_run(tmp_path, cli, fixtures):
    """Issue 31.12: an IVF index that cannot be trained on so few vectors fails in one line; the next run with
    another --factory reuses the encoded vectors and leaves nothing behind."""
    corpus = _mini(tmp_path)
    res = cli("index", corpus, "-o", tmp_path / "idx", "--factory", "IVF64,Flat", "--model", fixtures["model"])
    _one_error(res, "cannot train FAISS index 'IVF64,Flat'")
    res = cli("index", corpus, "-o", tmp_path / "idx", "--model", fixtures["model"])
    assert res.code == 0, res.stderr
    assert "chunk(s) reused" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx", "mini"]


@pytest.mark.skipif(os.geteuid() != 0, reason="making a character device needs root")
def test_output_that_is_a_character_device_is_never_replaced(tmp_path, cli):
    """Issue 31.4: as root, `-o /dev/null` used to replace the system's /dev/null with a regular file."""
    null = tmp_path / "null"
    try:
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("mknod not permitted here")
    for out in (null, tmp_path / "link.trec"):
        if out.name == "link.trec":
            out.symlink_to(null)
        res = cli(*BM25, SAMPLE, SAMPLE / "queries.jsonl", "-o", out)
        _one_error(res, "is a character device")
    assert stat.S_ISCHR(null.lstat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.trec", "null"]

# === Issue 31: train, signals, bad input =====================================================================
# Table rows beside issue 15's (same checks: exit code, the one line, inputs byte-identical, nothing left).


def _index_folder(d: Path, ids: list[str], model: dict | None, *, dim: int = 32) -> Path:
    """An index folder written directly (FAISS + docids.txt + manifest): shapes `synrank index` never writes."""
    import json

    import faiss
    import numpy as np

    idx = d / "idx"
    idx.mkdir()
    index = faiss.IndexFlatIP(dim)
    if ids:
        index.add(np.random.default_rng(0).standard_normal((len(ids), dim)).astype("float32"))
    faiss.write_index(index, str(idx / "index.faiss"))
    (idx / "docids.txt").write_text("".join(i + "\n" for i in ids), encoding="utf-8")
    (idx / "manifest.json").write_text(json.dumps({"kind": "index", "model": model}), encoding="utf-8")
    return idx


def _model_entry(f: dict) -> dict:
    return {"name": str(f["model"]), "path": str(f["model"])}


CASES_31 = [
    # --- 8: grades outside -1000..1000 refused at read time ---
    Case("qrels-grade-1e20", lambda d, f: ["check", "--qrels", _file(d, "q.qrels", "1 0 a 1\n1 0 b 1e20\n")], 2, "q.qrels:2: relevance '1e20' is outside the grades synrank accepts (-1000..1000)"),
    Case("qrels-grade-2-31", lambda d, f: ["check", "--qrels", _file(d, "q.tsv", "query-id\tcorpus-id\tscore\n1\ta\t2147483648\n")], 2, "q.tsv:2: relevance '2147483648' is outside"),
    Case("qrels-grade-2-31-minus-1", lambda d, f: ["check", "--qrels", _file(d, "q.jsonl", '{"query_id": "1", "doc_id": "a", "relevance": 2147483647}\n')], 2, "q.jsonl:1: relevance 2147483647 is outside"),
    Case("qrels-grade-negative", lambda d, f: ["check", "--qrels", _file(d, "q.qrels", "1 0 a -1001\n")], 2, "q.qrels:1: relevance '-1001' is outside"),
    # --- 9: user situations that were internal errors ---
    Case("search-index-of-empty-documents", lambda d, f: ["search", _index_folder(d, [], _model_entry(f)), SAMPLE / "queries.jsonl"], 2, "the index holds no documents"),
    Case("search-index-manifest-without-model", lambda d, f: ["search", _index_folder(d, ["a", "b"], {"dimension": 32}), SAMPLE / "queries.jsonl"], 2, "manifest.json: records no model"),
    Case("search-index-manifest-model-null", lambda d, f: ["search", _index_folder(d, ["a", "b"], None), SAMPLE / "queries.jsonl"], 2, "records no model"),
    # --- 11: credentials of a --base-url without a scheme ---
    Case("base-url-without-scheme-redacted", lambda d, f: ["generate", "--task", "docs", _file(d, "q.tsv", "1\tq\n"), "--backend", "openai", "--base-url", "bob:hunter2@127.0.0.1:9/v1?key=SECRET123", "--model", "m"], 2, "(got '***@127.0.0.1:9/v1?***')"),
    Case("base-url-mistyped-scheme-redacted", lambda d, f: ["generate", "--task", "docs", _file(d, "q.tsv", "1\tq\n"), "--backend", "openai", "--base-url", "http:/bob:hunter2@127.0.0.1:9/v1", "--model", "m"], 2, "--base-url must start with http://"),
    # --- 12 (train): nothing left behind by a train that fails on a bad model or bad lists ---
    Case("train-bad-model-leaves-no-stamp", lambda d, f: ["train", _train_lists(d), "-o", d / "m", "--model", d / "no-model", "--batch-size", "1", "--group-size", "2"], 2, "no-model"),
    Case("train-bad-lists-leave-no-stamp", lambda d, f: ["train", _train_lists(d), "-o", d / "m", "--model", f["model"], "--group-size", "8"], 2, "fewer than --group-size 8"),
    # --- 15: index ids, titles, NUL bytes ---
    Case("index-duplicate-docids", lambda d, f: ["search", _index_folder(d, ["a", "b", "a"], _model_entry(f)), SAMPLE / "queries.jsonl"], 2, "docids.txt:3: duplicate document id 'a'"),
    Case("title-zero", lambda d, f: ["check", "--corpus", _file(d, "c.jsonl", '{"_id": "1", "title": "t", "text": "x"}\n{"_id": "2", "title": 0, "text": "x"}\n')], 2, "c.jsonl:2: document text and title must be strings"),
    Case("title-false", lambda d, f: ["check", "--corpus", _file(d, "c.jsonl", '{"_id": "1", "title": false, "text": "x"}\n')], 2, "c.jsonl:1: document text and title must be strings"),
    Case("title-empty-list", lambda d, f: ["check", "--corpus", _file(d, "c.jsonl", '{"_id": "1", "title": [], "text": "x"}\n')], 2, "c.jsonl:1: document text and title must be strings"),
    Case("title-null-is-no-title", lambda d, f: ["check", "--corpus", _file(d, "c.jsonl", '{"_id": "1", "title": null, "text": "x"}\n')], 0, "1 documents", stream="stdout"),
    Case("nul-in-doc-id", lambda d, f: ["check", "--corpus", _file(d, "c.jsonl", '{"_id": "a\\u0000b", "text": "x"}\n')], 2, "c.jsonl:1: document id 'a\\x00b' contains the control character U+0000"),
    Case("nul-in-query-id", lambda d, f: ["check", "--queries", _file(d, "q.tsv", "1\tok\na\x00b\tq\n")], 2, "q.tsv:2: query id"),
    Case("nul-in-qrels-doc-id", lambda d, f: ["check", "--qrels", _file(d, "q.qrels", "1 0 a\x00 1\n")], 2, "U+0000"),
]


@pytest.mark.parametrize("case", [_param(c) for c in CASES_31])
def test_issue31_case(case: Case, tmp_path, cli, fixtures):
    test_issue15_case(case, tmp_path, cli, fixtures)


_TRAIN_FAST = ("--batch-size", "4", "--group-size", "3", "--dtype", "fp32", "--threads", "1", "--logging-steps", "1", "--lr", "1e-3", "--seed", "7")


def _synth(d: Path, n: int = 8) -> Path:
    from helpers import write_synth

    return write_synth(d / "s.jsonl", n=n)


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
def test_issue31_second_train_on_the_same_out_is_refused_before_any_work(tmp_path, cli, fixtures, overwrite):
    """Item 5: the lock is taken before the training state is touched, not only when the model is written."""
    src, out = _synth(tmp_path), tmp_path / "m"
    before = _snapshot(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(out)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "ready"
        res = cli("train", src, "--model", fixtures["model"], "-o", out, "--max-steps", "2", *_TRAIN_FAST, *(["--overwrite"] if overwrite else []))
    finally:
        holder.kill()
        holder.wait()
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("synrank: error:")]
    assert res.code == 2 and len(errors) == 1 and f"another synrank process (pid {holder.pid})" in errors[0], res.stderr
    assert "trained" not in res.stderr  # refused before training, not after
    after = _snapshot(tmp_path)
    assert {p: d for p, d in after.items() if p != ".m.lock"} == before  # no state folder, no stamp


def test_issue31_train_on_a_full_disk_is_one_line(tmp_path, cli, fixtures, monkeypatch):
    """Item 9: safetensors reports a full disk as SafetensorError; it was an internal error (exit 1)."""
    from safetensors import SafetensorError
    from sentence_transformers import SentenceTransformer

    def full(self, *a, **k):
        raise SafetensorError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })')

    monkeypatch.setattr(SentenceTransformer, "save", full)
    src, out = _synth(tmp_path), tmp_path / "m"
    before = _snapshot(tmp_path)
    res = cli("train", src, "--model", fixtures["model"], "-o", out, "--max-steps", "2", *_TRAIN_FAST)
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("synrank: error:")]
    assert res.code == 2, res.stderr[-600:]
    assert errors == [f"synrank: error: {out}: no space left on device"], res.stderr[-600:]
    assert _snapshot(tmp_path) == before  # no half-written folder, no state without a checkpoint, no lock


def test_issue31_ascii_terminal_does_not_crash(tmp_path):
    """Item 9: under PYTHONIOENCODING=ascii, non-ASCII data and messages raised UnicodeEncodeError."""
    corpus = _file(tmp_path, "c.jsonl", '{"_id": "d1", "text": "caf\u00e9 cr\u00e8me br\u00fbl\u00e9e"}\n{"_id": "d2", "text": "tea"}\n')
    queries = _file(tmp_path, "q.tsv", "1\tcaf\u00e9 cr\u00e8me\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONIOENCODING": "ascii"}
    res = subprocess.run([sys.executable, "-m", "synrank", *BM25, str(corpus), str(queries), "-k", "1"], capture_output=True, env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr.decode()[-600:]
    assert "caf\u00e9 cr\u00e8me" in res.stdout.decode("utf-8")  # data stays UTF-8, as in files
    missing = tmp_path / "donn\u00e9es.jsonl"
    res = subprocess.run([sys.executable, "-m", "synrank", "check", "--corpus", str(missing)], capture_output=True, env=env, cwd=tmp_path)
    err = res.stderr.decode("utf-8")  # click writes UTF-8 when the stream claims ascii; the rest escapes
    assert res.returncode == 2 and err.startswith("synrank: error:") and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and ("donn\u00e9es.jsonl" in err or "donn\\xe9es.jsonl" in err), err


def test_issue31_eval_says_which_judged_queries_it_cannot_search(tmp_path, cli, fixtures):
    """Item 14: a judged query without text was dropped silently (num_queries 2 of 3)."""
    import json

    res = cli("index", SAMPLE, "-o", tmp_path / "idx", "--model", fixtures["model"])
    assert res.code == 0, res.stderr
    queries = _file(tmp_path, "q.jsonl", '{"_id": "1", "text": "how do plants make sugar"}\n{"_id": "2", "text": "what produces ATP"}\n')
    qrels = _file(tmp_path, "q.qrels", "1 0 s1 1\n2 0 s2 1\n9 0 s3 1\n")
    res = cli("eval", tmp_path / "idx", "--queries", queries, "--qrels", qrels, "-o", tmp_path / "e.json")
    assert res.code == 0, res.stderr
    assert "note: 1 of 3 judged queries have no text in the queries (ids 9); they are left out of the averages" in res.stderr
    record = json.loads((tmp_path / "e.json").read_text())
    assert record["num_queries"] == 2 and record["manifest"]["dataset"]["judged_without_text"] == 1


def _until_checkpoint(proc: subprocess.Popen, state: Path, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if list(state.glob("checkpoint-*/synrank-checkpoint-complete")):
            return
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint before the end (returncode {proc.poll()}): {proc.stderr.read()[-800:]}")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the signal mask from /proc (Linux)")
def test_issue31_ctrl_c_in_train_ends_by_sigint_and_resume_reports_the_whole_run(tmp_path, cli, fixtures):
    """Items 6 and 7: Ctrl-C during train exited 1 with a hint the same command refused; after --resume the
    weights matched an uninterrupted run but final_loss and the log's train_loss covered only the resumed steps."""
    import json

    from helpers import weights

    src = _synth(tmp_path, n=32)
    args = ["train", str(src), "--model", str(fixtures["model"]), "--max-steps", "40", "--save-steps", "2", *_TRAIN_FAST]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    part = tmp_path / "part"
    proc = subprocess.Popen(
        [sys.executable, "-m", "synrank", *args, "-o", str(part)], stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    _until_checkpoint(proc, tmp_path / "part.train-state")
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode in (-signal.SIGINT, 130), err[-600:]
    assert err.strip().splitlines()[-1] == "synrank: interrupted; re-run the same command to resume (outputs written so far are kept)"
    assert not part.exists() and not (tmp_path / ".part.lock").exists()

    res = cli(*args, "-o", part)  # what the hint says: the same command
    assert res.code == 0 and "resuming from" in res.stderr, res.stderr[-600:]
    full = tmp_path / "full"
    res = cli(*args, "-o", full)
    assert res.code == 0, res.stderr[-600:]

    a, b = weights(full), weights(part)
    assert all(torch_equal(a[k], b[k]) for k in a)

    def reported(folder: Path) -> tuple[float, float]:
        manifest = json.loads((folder / "manifest.json").read_text())
        log = [json.loads(x) for x in (folder / "training_log.jsonl").read_text().splitlines()]
        return manifest["result"]["final_loss"], next(r["train_loss"] for r in log if "train_loss" in r)

    assert reported(part) == pytest.approx(reported(full), rel=1e-6, abs=0)


def torch_equal(x, y) -> bool:
    import torch

    return bool(torch.equal(x, y))
