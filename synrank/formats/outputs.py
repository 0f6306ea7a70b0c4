"""The one way a stage opens its output: guard, lock, atomic or appending writer, resume.

The rule users read (docs/formats.md, "Outputs, resume and --overwrite"; every ``overwrite`` setting's help is
:data:`synrank.config.OVERWRITE_HELP`): the same command with the same settings continues where it stopped and
keeps what is finished (:func:`finished_output`); other settings over an output, partial or finished, are refused
naming them; ``overwrite`` starts over, discarding only what synrank wrote, never an input.

Every command that writes a file or folder goes through :func:`guarded_output`::

    from synrank.formats.outputs import guarded_output

    with guarded_output(cfg.out, inputs=[cfg.corpus, cfg.queries], overwrite=cfg.overwrite, kind="file") as target:
        write_trec_run(run, target.path)          # target.path is a temporary sibling (None = stdout)
        target.manifest = make_manifest("fuse", config=...)   # written next to the output on success

``kind`` says how the output is written:

``"file"``   built in a temporary sibling (``target.path``, same suffix as the output) and renamed over the
             output when the block ends without an exception; on any exception (Ctrl-C included) the temporary
             file is removed and the old output is left byte-identical. An output named ``*.gz`` is
             gzip-compressed at the end (stages write text; every reader accepts gzip).
``"dir"``    the same for a folder: ``target.path`` is an empty temporary sibling folder, swapped in at the end.
``"append"`` a resumable JSONL file appended record by record (``AppendJsonlWriter(target.path, key=...)``).
             ``fingerprint`` (a JSON-able dict of the settings that must match to resume) is required;
             ``target.resume.action`` is ``"fresh"``, ``"resume"`` or ``"restart"`` (see :class:`ResumeState`).

``out`` of ``None`` or ``"-"`` means stdout (``target.path is None``): no guard, no lock, no manifest;
``kind="dir"`` cannot go to stdout.

Before any work, the guard refuses, with an :class:`InputError` naming the output (exit 2, one line):

* an output (or its manifest, stamp or lock) that *is* a file the command reads (same real file: symlinks
  resolved, hard links caught by ``(st_dev, st_ino)``), or a folder that *contains* one (or a hard link to one).
  A folder input counts by the files read from it (:func:`files_read`): a dataset folder by its known names
  (so ``index CORPUS -o CORPUS/idx`` may replace its own index), any other folder whole;
* an output that is a FIFO, a device or a socket (never written into, never replaced: ``-o /dev/null`` as root
  would otherwise replace /dev/null); a file output given with a trailing ``/``; a ``*.gz`` ``"append"`` output
  (record-by-record appends and resuming need plain text);
* an output under a regular file (``-o notes.txt/run.trec``), a folder where a file is expected and vice versa;
* an existing, non-empty output that synrank did not write: it is never replaced, even with ``--overwrite``;
* an existing folder synrank wrote, without ``overwrite`` (a folder is expensive: an index, a model; a stage
  calls :func:`finished_output` first, so one finished with the same settings is kept instead of refused).

An existing *file* synrank wrote is replaced by a re-run as before (a re-run of a make step: ``eval -o``,
``fuse -o``, ``score -o``); ``overwrite`` matters for files only for ``"append"`` outputs (start over).

"synrank wrote it" means its manifest is there and parses (:func:`written_by_synrank`): a folder holds
``manifest.json``; a file has the sidecar ``<name>.manifest.json``; a resumable file may instead have its
resume stamp ``.<name>.resume.json``. Empty files and empty folders hold nothing to lose and are replaced freely.
Because every output made through :func:`guarded_output` gets a manifest (``target.manifest`` if the stage set
one, else a minimal one), a command can always replace its own earlier output.

A second process on the same output is refused for the whole run: the guard holds an advisory
``fcntl.flock`` on ``.<name>.lock`` beside the output (holding the pid) and the loser exits 2 naming that pid.

Resuming (one policy for every stage, :class:`ResumeState`): the settings that must match are the stage's
``fingerprint``. Same settings -> resume. An output whose stamp is gone (copied without its dot-file) is
compared with the ``config`` of its manifest instead. Different settings (or an output with neither) -> refuse
with one line naming the settings that differ, unless ``overwrite`` -> start over. A work folder (index chunks,
training checkpoints) is a partial output and follows the same rule; a work folder without a stamp is not
synrank's and is refused even with ``overwrite``. Only a cache of the inputs (score's teacher scores, keyed by
its inputs' contents) passes ``on_change="restart"``: it is refreshed when they change.
When an ``"append"`` output is started over, the old file is moved aside (``.<name>.previous``) and deleted only
when the run succeeds; if the run fails in any way, the old output, stamp and manifest are put back
byte-identical. A run that fails before writing a record leaves nothing (no empty output, stamp or manifest).
Sidecar outputs appended beside the output (generate's rejects) are passed as ``sidecars=``: same checks, their
own lock and stamp, resumed or started over with the output, put back with it; one may not be the output.
Folders the guard creates for an output are removed again when the run fails.
An output with neither stamp nor a manifest naming every fingerprint key cannot be resumed: the refusal says its
settings are unknown.

Adopting it, stage by stage (what each owner calls):

* ``eval -o``/``--run-out``, ``fuse -o``, ``compare -o``/plots, ``score -o``, ``search -o x.trec``: ``kind="file"``.
* ``search -o x.jsonl``, ``generate -o``: ``kind="append", fingerprint={...settings...}``; set ``target.manifest``
  and call ``target.write_manifest()`` before the first record; pass ``target.path`` to ``AppendJsonlWriter``.
  generate's rejects file: ``sidecars=[rejects]``.
* ``index -o``, ``train -o``: ``kind="dir"`` (write into ``target.path``); their hidden work folders
  (``.NAME.partial``, ``NAME.train-state``) use ``ResumeState.open(work, fingerprint, overwrite=...)``, and
  ``finished_output(out, fingerprint, kind=...)`` keeps a finished folder made with the same settings.
* score's teacher-score cache ``<out>.scored.jsonl``: ``ResumeState.open(cache, key, overwrite=..., on_change="restart")``.
* Always list every input path in ``inputs`` (corpus, queries, qrels, runs, lists, the model folder for train).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import gzip
import json
import os
import shutil
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from synrank.errors import ConfigError, InputError
from synrank.formats.io import STDIN, atomic_dir, atomic_path, check_writable

Kind = Literal["file", "dir", "append"]
Action = Literal["fresh", "resume", "restart"]

MANIFEST_NAME = "manifest.json"
# Inputs that are folders are scanned for hard links only up to this many entries (BEIR folders hold a handful).
_SCAN_LIMIT = 10_000


def is_stdout(out: str | Path | None) -> bool:
    return out is None or str(out) == STDIN


def manifest_location(out: str | Path, kind: Kind) -> Path:
    """Where the manifest of ``out`` lives: ``<out>/manifest.json`` for a folder, ``<out>.manifest.json`` else."""
    p = Path(out)
    return p / MANIFEST_NAME if kind == "dir" else p.with_name(p.name + ".manifest.json")


def stamp_location(state: str | Path) -> Path:
    """Where the resume fingerprint of ``state`` (a file or a folder) lives: ``.<name>.resume.json`` beside it.

    Beside, not inside: the stamp must be found whether or not the folder exists yet, and survive its swap."""
    p = Path(state)
    return p.with_name(f".{p.name}.resume.json")


def lock_location(out: str | Path) -> Path:
    p = Path(out)
    return p.with_name(f".{p.name}.lock")


def _is_manifest(path: Path) -> bool:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(obj, dict) and ("kind" in obj or "fingerprint" in obj)


def written_by_synrank(path: str | Path) -> bool:
    """True when ``path`` carries synrank's manifest (or resume stamp), i.e. synrank may replace it."""
    p = Path(path)
    if p.is_dir():
        return _is_manifest(p / MANIFEST_NAME) or _is_manifest(stamp_location(p))
    return _is_manifest(manifest_location(p, "file")) or _is_manifest(stamp_location(p))


def _is_empty(p: Path) -> bool:
    if p.is_dir():
        return not any(p.iterdir())
    return p.stat().st_size == 0


def _identity(p: Path) -> tuple[int, int] | None:
    try:
        st = p.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _walk_files(root: Path, *, skip_own: bool = False) -> Iterator[Path]:
    """Files under ``root``; ``skip_own`` leaves out synrank outputs stored inside it (and their sidecars)."""
    n = 0
    for dirpath, dirs, files in os.walk(root):
        here = Path(dirpath)
        if skip_own:
            dirs[:] = [d for d in dirs if not _is_manifest(here / d / MANIFEST_NAME)]
            own = {f for f in files if written_by_synrank(here / f)}
            files = [f for f in files if f not in own and not _is_sidecar_name(f, own)]
        for f in files:
            n += 1
            if n > _SCAN_LIMIT:
                return
            yield here / f


def _is_sidecar_name(name: str, owners: set[str]) -> bool:
    if name.endswith(".manifest.json") and name[: -len(".manifest.json")] in owners:
        return True
    return name.startswith(".") and name.endswith((".resume.json", ".lock", ".previous"))


# What synrank's readers take from a dataset folder (synrank.formats.corpus/queries, synrank.evaluate.datasets).
_DATASET_FILES = ("corpus.jsonl", "corpus.jsonl.gz", "corpus.tsv", "queries.jsonl")
_QRELS_DIR = "qrels"


def files_read(inp: str | Path) -> list[Path]:
    """Every file a command may read from the input ``inp``: the file itself, or the files found in a folder.

    A dataset folder is read through its known names only, so a synrank output stored beside them (an index in
    ``CORPUS/idx``, a run in ``CORPUS/run.trec``) is not an input and may be replaced. Any other folder (an index,
    a model, a template folder) counts as read whole, except synrank outputs stored inside it."""
    p = Path(inp)
    if not p.is_dir():
        return [p]
    known = [p / n for n in _DATASET_FILES if (p / n).exists()]
    if known or (p / _QRELS_DIR).is_dir():
        return known + list(_walk_files(p / _QRELS_DIR))
    return list(_walk_files(p, skip_own=True))


def _input_paths(inputs: Iterable[str | Path | None]) -> list[Path]:
    out = []
    for i in inputs:
        if i is None or str(i) == STDIN:
            continue
        p = Path(i)
        if p.exists():
            out.append(p)
    return out


def _special(p: Path) -> str | None:
    """What ``p`` is when it is neither a regular file nor a folder (it would be replaced by a regular file)."""
    try:
        mode = p.stat().st_mode
    except OSError:
        return None
    for test, what in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return what
    return None


def is_gzip_name(out: str | Path) -> bool:
    return str(out).endswith(".gz")


def written_paths(out: str | Path, kind: Kind) -> list[Path]:
    """Every path the guard writes for ``out``: the output, its manifest, resume stamp and lock."""
    p = Path(out)
    paths = [p, lock_location(p)]
    if kind != "dir":
        paths.append(manifest_location(p, kind))
    if kind == "append":
        paths.append(stamp_location(p))
    return paths


def check_output(
    out: str | Path | None,
    *,
    inputs: Iterable[str | Path | None] = (),
    overwrite: bool = False,
    kind: Kind = "file",
    owner: str | Path | None = None,
) -> None:
    """Refuse (InputError, one line naming ``out``) an output that would destroy or mix with user data.

    Checks only; nothing is written. ``kind="append"`` leaves the settings to resuming (:class:`ResumeState`).
    ``owner``: the main output a sidecar belongs to (``<out>.rejects.jsonl``, ``<out>.scored.jsonl``).
    """
    if is_stdout(out):
        if kind == "dir":
            raise InputError("a folder output cannot go to stdout; give a folder path", path=STDIN)
        return
    # pathlib drops a trailing "/", so it is looked at before the path is made a Path.
    if str(out).endswith(("/", os.sep)) and kind != "dir":
        raise InputError("ends with '/' (a folder), but this output is a file: give a file name", path=out)
    target = Path(out)  # type: ignore[arg-type]
    what = _special(target)
    if what is not None:
        # Never unlinked or written into: as root, -o /dev/null would otherwise replace the system's /dev/null.
        raise InputError(f"is {what}, not a regular file; synrank never writes into or replaces it (use -o - for stdout)", path=target)
    if kind == "append" and is_gzip_name(target):
        raise InputError(
            "a resumable output is written record by record and cannot be gzip-compressed: write it without .gz and compress it afterwards",
            path=target,
        )
    check_writable(target, folder=kind == "dir")
    exists = target.exists()

    read: list[tuple[Path, Path]] = []  # (the input as given, a file read from it)
    for inp in _input_paths(inputs):
        read.append((inp, inp))
        if inp.is_dir():
            read.extend((inp, f) for f in files_read(inp))
    for written in written_paths(target, kind):
        real_w = Path(os.path.realpath(written))
        w_id = _identity(written)
        for inp, f in read:
            if f.is_dir() and written != target:
                continue
            if real_w == Path(os.path.realpath(f)) or (w_id is not None and _identity(f) == w_id):
                shown = inp if f == inp else f"{f}, read from the folder {inp}"
                raise InputError(f"is also an input ({shown}); refusing to overwrite it", path=target)
    real_out = Path(os.path.realpath(target))
    out_id = _identity(target)
    for inp, f in read:
        # The output contains the input when the output is its folder or any folder above it.
        real_in = Path(os.path.realpath(f))
        if real_out in real_in.parents or (out_id is not None and any(_identity(a) == out_id for a in real_in.parents)):
            raise InputError(f"contains the input {f}; refusing to replace it", path=target)
    if exists and target.is_dir():
        # A hard link to an input inside the output folder would be deleted along with the folder.
        wanted: dict[tuple[int, int], Path] = {}
        for _inp, f in read:
            ident = _identity(f) if not f.is_dir() else None
            if ident is not None:
                wanted[ident] = f
        if wanted:
            for f in _walk_files(target):
                ident = _identity(f)
                if ident in wanted:
                    raise InputError(f"holds {f.name}, a hard link to the input {wanted[ident]}; refusing to replace it", path=target)

    if not exists or _is_empty(target):
        return
    if not (written_by_synrank(target) or _named_after(target, owner)):
        what = "folder" if target.is_dir() else "file"
        verb = "append to" if kind == "append" else "replace"
        raise InputError(
            f"{what} exists and was not written by synrank (no manifest); refusing to {verb} it: "
            "choose another output or remove it yourself",
            path=target,
        )
    if kind != "append" and not overwrite and target.is_dir():
        raise InputError("output folder exists and is not empty (pass --overwrite to replace it)", path=target)


def _named_after(side: Path, owner: str | Path | None) -> bool:
    """A sidecar named after an output synrank wrote (``<out>.rejects.jsonl`` before sidecars had stamps)."""
    if owner is None or is_stdout(owner):
        return False
    o = Path(owner)
    return side.parent == o.parent and side.name.startswith(o.name + ".") and written_by_synrank(o)


class OutputLock:
    """Advisory exclusive lock on ``.<name>.lock`` beside ``out`` (works for files and folders).

    The lock file holds the holder's pid and is removed on release. A second process gets InputError naming it.
    ``reentrant=True`` lets the same thread lock it again while held: a stage that locks its output for the
    whole run (train, from before its first checkpoint) still writes it through :func:`guarded_output`,
    which locks it again. Otherwise a second acquire is refused even in the same process.
    """

    # (lock file, thread) -> nesting depth of a reentrant holder; flock would refuse our own second descriptor.
    _held: dict[tuple[str, int], int] = {}

    def __init__(self, out: str | Path, *, reentrant: bool = False) -> None:
        self.out = Path(out)
        self.path = lock_location(self.out)
        self.reentrant = reentrant
        self._fd: int | None = None
        self._nested = False

    def _key(self) -> tuple[str, int]:
        import threading

        return os.path.abspath(self.path), threading.get_ident()

    def acquire(self) -> None:
        key = self._key()
        if key in OutputLock._held:
            OutputLock._held[key] += 1
            self._nested = True
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                holder = ""
                with contextlib.suppress(OSError, ValueError):
                    holder = f" (pid {int(self.path.read_text().strip())})"
                raise InputError(
                    f"another synrank process{holder} is writing this output; wait for it to finish or choose another output",
                    path=self.out,
                ) from None
            # The holder we waited on may have unlinked the lock file on release: lock the file that is there now.
            if self._same(fd):
                break
            os.close(fd)
        self._fd = fd
        # The pid only names the holder in the loser's message; the lock holds without it. On a full disk the
        # write fails, and the run must then fail on its own output (naming it), not here leaving an empty lock.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        if self.reentrant:
            OutputLock._held[key] = 1

    def _same(self, fd: int) -> bool:
        st = os.fstat(fd)
        return _identity(self.path) == (st.st_dev, st.st_ino)

    def release(self) -> None:
        if self._nested:
            self._nested = False
            OutputLock._held[self._key()] -= 1
            return
        if self._fd is None:
            return
        OutputLock._held.pop(self._key(), None)
        # Unlink while still holding the lock, so a waiter that opened the old file retries on a fresh one.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _norm(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str, sort_keys=True))


def _fingerprint_from_manifest(state: Path, fingerprint: Mapping[str, Any], manifest_of: Path | None = None) -> dict[str, Any] | None:
    """The fingerprint a file's manifest records in its ``config``, when its hidden stamp is gone.

    ``cp out.jsonl* elsewhere/`` (or a commit) carries the manifest but not the dot-file stamp; every append
    output's manifest config holds the fingerprint keys, so an output moved with its manifest stays resumable.
    None unless the manifest names every key of ``fingerprint`` (then the settings are unknown, as before)."""
    if state.is_dir():
        return None
    with contextlib.suppress(OSError, ValueError):
        manifest = json.loads(manifest_location(manifest_of or state, "file").read_text(encoding="utf-8"))
        config = manifest.get("config") if isinstance(manifest, dict) else None
        if isinstance(config, dict) and all(k in config for k in fingerprint):
            return _norm({k: config[k] for k in fingerprint})
    return None


@dataclass
class ResumeState:
    """The resume decision for a piece of resumable state (an appended file or a work folder).

    ``action``: ``"fresh"`` (nothing there), ``"resume"`` (same fingerprint: keep and continue) or
    ``"restart"`` (discarded: ``overwrite`` was given, or ``on_change="restart"`` and settings differed).
    ``changed`` names the top-level fingerprint keys that differed (``["?"]`` when the old stamp is missing).
    """

    path: Path
    fingerprint: dict[str, Any]
    action: Action
    changed: list[str] = field(default_factory=list)

    @property
    def stamp(self) -> Path:
        return stamp_location(self.path)

    @classmethod
    def decide(
        cls,
        state: str | Path,
        fingerprint: Mapping[str, Any],
        *,
        overwrite: bool,
        on_change: Literal["refuse", "restart"] = "refuse",
        name: str | None = None,
        manifest_of: Path | None = None,
    ) -> ResumeState:
        """Decide without touching anything; raises ConfigError when settings differ and ``on_change="refuse"``.

        ``manifest_of``: whose manifest records the settings when the stamp is gone (a sidecar's main output)."""
        p = Path(state)
        fp = _norm(dict(fingerprint))
        if not p.exists() or _is_empty(p):
            return cls(p, fp, "fresh")
        old: dict[str, Any] | None = None
        stamp = stamp_location(p)
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads(stamp.read_text(encoding="utf-8"))
            if isinstance(loaded, dict) and isinstance(loaded.get("fingerprint"), dict):
                old = loaded["fingerprint"]
        if old is None:
            old = _fingerprint_from_manifest(p, fp, manifest_of)
        if old is None:
            changed = ["?"]
            if overwrite and p.is_dir() and not _is_manifest(p / MANIFEST_NAME):
                # A work folder synrank made carries its stamp from before its first file: without one, it is
                # someone else's folder under a name synrank uses, and starting over must not delete it.
                raise InputError(
                    "folder exists and was not written by synrank (no resume stamp); refusing to discard it: "
                    "choose another output or remove it yourself",
                    path=p,
                )
        else:
            changed = sorted(k for k in set(old) | set(fp) if old.get(k) != fp.get(k))
        if overwrite:
            return cls(p, fp, "restart", changed)
        if not changed:
            return cls(p, fp, "resume")
        if on_change == "restart":
            return cls(p, fp, "restart", changed)
        label = name or str(p)
        if old is None:
            why = "unknown settings (no resume stamp, and no manifest recording them)"
        else:
            why = f"different settings ({', '.join(changed)})"
        raise ConfigError(f"{label} was made with {why}; resuming would mix them (use another output, or --overwrite to start over)")

    def start(self) -> None:
        """Discard the old state when restarting, then record the fingerprint (marks the state as synrank's)."""
        if self.action == "restart":
            _remove(self.path)
            _remove(self.stamp)
        stamp = stamp_location(self.path)
        with atomic_path(stamp) as tmp:
            tmp.write_text(json.dumps({"fingerprint": self.fingerprint}, indent=1) + "\n", encoding="utf-8")

    def discard(self) -> None:
        """Remove the state and its stamp (a work folder whose content has been turned into the output)."""
        _remove(self.path)
        _remove(self.stamp)

    @classmethod
    def open(
        cls,
        state: str | Path,
        fingerprint: Mapping[str, Any],
        *,
        overwrite: bool,
        on_change: Literal["refuse", "restart"] = "refuse",
        name: str | None = None,
    ) -> ResumeState:
        """:meth:`decide` then :meth:`start`: the usual call for a stage's resumable state."""
        st = cls.decide(state, fingerprint, overwrite=overwrite, on_change=on_change, name=name)
        st.start()
        return st


def finished_output(
    out: str | Path | None,
    fingerprint: Mapping[str, Any],
    *,
    kind: str,
    inputs: Iterable[str | Path | None] = (),
    overwrite: bool = False,
) -> dict[str, Any] | None:
    """The manifest of ``out`` when it is a finished output of this command with these settings, else None.

    The rule for a finished output (docs/formats.md, "Outputs, resume and --overwrite"): a re-run with the same
    settings has nothing left to do and keeps it; other settings are refused, naming them, unless ``overwrite``.
    ``kind`` is the manifest's ``kind`` (``"train"``, ``"index"``); the settings are read from its ``config``
    (every key of ``fingerprint`` must be there). An input changed since (newer than the manifest, as ``make``
    judges) counts as a different setting: keeping the output would hide the change. None too when ``out``
    holds no such manifest: :func:`check_output` then decides (a folder synrank did not write stays refused)."""
    if overwrite or is_stdout(out):
        return None
    target = Path(out)  # type: ignore[arg-type]
    where = manifest_location(target, "dir" if target.is_dir() else "file")
    try:
        manifest = json.loads(where.read_text(encoding="utf-8"))
        written = where.stat().st_mtime_ns
    except (OSError, ValueError):
        return None
    config = manifest.get("config") if isinstance(manifest, dict) else None
    if manifest.get("kind") != kind or not isinstance(config, dict) or not all(k in config for k in fingerprint):
        return None
    fp = _norm(dict(fingerprint))
    old = _norm({k: config[k] for k in fp})
    changed = sorted(k for k in fp if old[k] != fp[k])
    newer = [str(f) for i in _input_paths(inputs) for f in files_read(i) if f.is_file() and f.stat().st_mtime_ns > written]
    if newer:
        changed.append(f"inputs changed since: {', '.join(newer[:3])}" + (" ..." if len(newer) > 3 else ""))
    if changed:
        raise ConfigError(
            f"{target} is finished, made with different settings ({'; '.join(changed)}); "
            "use another output, or --overwrite to make it again"
        )
    return manifest


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    else:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


@dataclass
class OutputTarget:
    """What :func:`guarded_output` yields.

    ``path``: where to write (a temporary sibling for ``"file"``/``"dir"``, the output itself for ``"append"``,
    ``None`` for stdout). ``final``: the user's output path (``None`` for stdout); decide formats by its suffix.
    ``manifest``: set it to the stage's manifest dict; it is written next to (or inside) the output on success.
    ``resume``: the :class:`ResumeState` of an ``"append"`` output.
    """

    path: Path | None
    final: Path | None
    kind: Kind
    manifest: dict[str, Any] | None = None
    resume: ResumeState | None = None

    def open(self, mode: str = "w") -> IO[Any]:
        """A handle on ``path`` (stdout when writing to stdout); the caller closes it (stdout is left open)."""
        import sys

        if self.path is None:
            return sys.stdout.buffer if "b" in mode else sys.stdout  # type: ignore[return-value]
        return open(self.path, mode, **({} if "b" in mode else {"encoding": "utf-8"}))

    @property
    def manifest_path(self) -> Path | None:
        """Where the manifest goes (inside the temporary folder for ``"dir"``); None for stdout."""
        if self.final is None:
            return None
        if self.kind == "dir" and self.path is not None:
            return self.path / MANIFEST_NAME
        return manifest_location(self.final, self.kind)

    def write_manifest(self) -> None:
        """Write ``manifest`` now (``"append"`` stages call it before their first record, so a killed run is
        recognisable). On success :func:`guarded_output` writes it again, or a minimal one if the stage set
        none and wrote none itself."""
        where = self.manifest_path
        if where is None:
            return
        from synrank.formats.manifest import make_manifest, write_manifest

        if self.manifest is not None:
            write_manifest(self.manifest, where)
        elif not where.exists():
            write_manifest(make_manifest("output"), where)


def _make_parents(paths: Iterable[Path]) -> list[Path]:
    """Create the missing folders above ``paths``; returns them (top first) so a failed run can remove them."""
    made: list[Path] = []
    for p in paths:
        for d in list(p.parents)[::-1]:
            if not d.exists():
                with contextlib.suppress(FileExistsError):
                    d.mkdir()
                    made.append(d)
    return made


def _check_all(final: Path | None, sides: list[Path], inputs: list[str | Path | None], overwrite: bool, kind: Kind) -> None:
    if final is not None:
        check_output(final, inputs=inputs, overwrite=overwrite, kind=kind)
    taken = {Path(os.path.realpath(p)): final for p in written_paths(final, kind)} if final is not None else {}
    for side in sides:
        other = taken.get(Path(os.path.realpath(side)))
        if other is not None:
            raise InputError(f"is also the output {other} (or one of its files); give it a file of its own", path=side)
        check_output(side, inputs=inputs, overwrite=overwrite, kind="append", owner=final)
        taken.update({Path(os.path.realpath(p)): side for p in written_paths(side, "append")})


@contextlib.contextmanager
def guarded_output(
    out: str | Path | None,
    *,
    inputs: Iterable[str | Path | None] = (),
    overwrite: bool = False,
    kind: Kind = "file",
    fingerprint: Mapping[str, Any] | None = None,
    sidecars: Iterable[str | Path | None] = (),
) -> Iterator[OutputTarget]:
    """Guard, lock and open ``out`` for the whole ``with`` block (see the module docstring for the rules).

    ``sidecars``: further files the run appends to beside an ``"append"`` output (generate's rejects), under
    the same rules: checked, locked, resumed or started over with the output, and put back if the run fails.
    They get a resume stamp but no manifest of their own."""
    inputs = list(inputs)
    if kind == "append" and fingerprint is None:
        raise TypeError("guarded_output(kind='append') needs the fingerprint of the settings that must match to resume")
    sides = [Path(x) for x in sidecars if not is_stdout(x)]
    if sides and kind != "append":
        raise TypeError("guarded_output(sidecars=...) goes with kind='append'")
    final = None if is_stdout(out) else Path(out)  # type: ignore[arg-type]
    if final is None:
        check_output(None, kind=kind)
        if not sides:
            yield OutputTarget(None, None, kind, resume=ResumeState(Path(STDIN), {}, "fresh") if kind == "append" else None)
            return
    _check_all(final, sides, inputs, overwrite, kind)
    written = [p for p in (final, *sides) if p is not None]
    made = _make_parents(written)
    try:
        with contextlib.ExitStack() as locks:
            for p in written:
                locks.enter_context(OutputLock(p))
            # Checked again under the lock: another process may have finished writing it meanwhile.
            _check_all(final, sides, inputs, overwrite, kind)
            if kind == "file":
                assert final is not None
                with atomic_path(final) as tmp:
                    target = OutputTarget(tmp, final, kind)
                    yield target
                    if is_gzip_name(final):
                        _gzip_in_place(tmp)
                    target.write_manifest()
            elif kind == "dir":
                assert final is not None
                with atomic_dir(final, overwrite=True) as tmp:
                    target = OutputTarget(tmp, final, kind)
                    yield target
                    target.write_manifest()
            else:
                yield from _append(final, sides, fingerprint or {}, overwrite)
    except BaseException:
        for d in made[::-1]:
            with contextlib.suppress(OSError):
                d.rmdir()  # only if still empty
        raise


def _gzip_in_place(path: Path) -> None:
    """Compress what a stage wrote as text, for an output named ``*.gz`` (every reader accepts gzip)."""
    with open(path, "rb") as src:
        if src.read(2) == b"\x1f\x8b":
            return  # the stage wrote gzip itself
    with atomic_path(path) as tmp, open(path, "rb") as src, open(tmp, "wb") as raw:
        # No name and no time in the header: the same content gives the same bytes.
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)


@dataclass
class _Kept:
    """An appended file, its stamp and its manifest as they were before the run, to put back if it fails."""

    state: ResumeState
    size: int | None  # None: the file did not exist
    marks: dict[Path, bytes | None]
    backup: Path | None = None

    @classmethod
    def take(cls, state: ResumeState) -> _Kept:
        p = state.path
        marks = {m: (m.read_bytes() if m.exists() else None) for m in (stamp_location(p), manifest_location(p, "append"))}
        return cls(state, p.stat().st_size if p.exists() else None, marks)

    @property
    def _previous(self) -> Path:
        return self.state.path.with_name(f".{self.state.path.name}.previous")

    def begin(self) -> None:
        if self.state.action == "restart":
            # Kept aside, not deleted, until the new run succeeds.
            self.backup = self._previous
            os.replace(self.state.path, self.backup)
        self.state.start()

    def put_back(self) -> None:
        p = self.state.path
        if self.backup is not None:
            _remove(p)
            os.replace(self.backup, p)
        elif p.exists() and p.stat().st_size > (self.size or 0):
            return  # records were added: the output of a run to resume (it carries its stamp and manifest)
        elif self.size is None:
            _remove(p)
        for m, data in self.marks.items():
            now = m.read_bytes() if m.exists() else None
            if now == data:
                continue
            if data is None:
                _remove(m)
            else:
                with atomic_path(m) as tmp:
                    tmp.write_bytes(data)

    def drop(self) -> None:
        # Also an orphan of a run killed (kill -9) while starting over: this run's output replaces it.
        _remove(self._previous)


def _append(final: Path | None, sides: list[Path], fingerprint: Mapping[str, Any], overwrite: bool) -> Iterator[OutputTarget]:
    if final is not None:
        state = ResumeState.decide(final, fingerprint, overwrite=overwrite, name=str(final))
    else:
        state = ResumeState(Path(STDIN), _norm(dict(fingerprint)), "fresh")
    states = [state] if final is not None else []
    for side in sides:
        if state.action == "restart":
            # A sidecar describes its output's run: it starts over with it.
            states.append(ResumeState(side, state.fingerprint, "restart" if side.exists() and not _is_empty(side) else "fresh"))
        else:
            states.append(ResumeState.decide(side, fingerprint, overwrite=overwrite, name=str(side), manifest_of=final))
    kept = [_Kept.take(st) for st in states]
    target = OutputTarget(final, final, "append", resume=state)
    try:
        for k in kept:
            k.begin()
        yield target
    except BaseException:
        for k in kept[::-1]:
            k.put_back()
        raise
    for k in kept:
        k.drop()
    target.write_manifest()
