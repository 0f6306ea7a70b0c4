"""The one way a stage opens its output: guard, lock, atomic or appending writer, resume.

Every command that writes a file or folder goes through :func:`guarded_output`::

    from synrank.formats.outputs import guarded_output

    with guarded_output(cfg.out, inputs=[cfg.corpus, cfg.queries], overwrite=cfg.overwrite, kind="file") as target:
        write_trec_run(run, target.path)          # target.path is a temporary sibling (None = stdout)
        target.manifest = make_manifest("fuse", config=...)   # written next to the output on success

``kind`` says how the output is written:

``"file"``   built in a temporary sibling (``target.path``, same suffix as the output) and renamed over the
             output when the block ends without an exception; on any exception (Ctrl-C included) the temporary
             file is removed and the old output is left byte-identical.
``"dir"``    the same for a folder: ``target.path`` is an empty temporary sibling folder, swapped in at the end.
``"append"`` a resumable JSONL file appended record by record (``AppendJsonlWriter(target.path, key=...)``).
             ``fingerprint`` (a JSON-able dict of the settings that must match to resume) is required;
             ``target.resume.action`` is ``"fresh"``, ``"resume"`` or ``"restart"`` (see :class:`ResumeState`).

``out`` of ``None`` or ``"-"`` means stdout (``target.path is None``): no guard, no lock, no manifest;
``kind="dir"`` cannot go to stdout.

Before any work, the guard refuses, with an :class:`InputError` naming the output (exit 2, one line):

* an output that *is* one of ``inputs`` (same real file: symlinks resolved, hard links caught by
  ``(st_dev, st_ino)``) or a folder that *contains* one of them (or a hard link to one of their files);
* an output under a regular file (``-o notes.txt/run.trec``), a folder where a file is expected and vice versa;
* an existing, non-empty output that synrank did not write: it is never replaced, even with ``--overwrite``;
* an existing folder synrank wrote, without ``overwrite`` (a folder is expensive: an index, a model).

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
with one line naming the settings that differ, unless ``overwrite`` -> start over. For synrank's own hidden work files
(index chunks, score's teacher-score cache) a stage passes ``on_change="restart"``: they are silently rebuilt.
When an ``"append"`` output is started over, the old file is moved aside and deleted only when the run
succeeds; if the new run fails before writing a record, the old output is put back untouched.
Sidecar outputs (generate's ``.rejects.jsonl``) go through :func:`check_output` with the same inputs.
An output with neither stamp nor a manifest naming every fingerprint key cannot be resumed: the refusal says its
settings are unknown.

Adopting it, stage by stage (what each owner calls):

* ``eval -o``/``--run-out``, ``fuse -o``, ``compare -o``/plots, ``score -o``, ``search -o x.trec``: ``kind="file"``.
* ``search -o x.jsonl``, ``generate -o``: ``kind="append", fingerprint={...settings...}``; set ``target.manifest``
  and call ``target.write_manifest()`` before the first record; pass ``target.path`` to ``AppendJsonlWriter``.
  generate's rejects file: ``check_output(rejects, inputs=..., kind="append")``, and delete it when
  ``target.resume.action == "restart"``.
* ``index -o``, ``train -o``: ``kind="dir"`` (write into ``target.path``); their hidden work folders
  (``.NAME.partial``, ``NAME.train-state``) use ``ResumeState.open(work, fingerprint, overwrite=...,
  on_change="restart")`` (index) or the stage's own ``--resume`` rule (train).
* score's teacher-score cache ``<out>.scored.jsonl``: ``ResumeState.open(cache, key, overwrite=..., on_change="restart")``.
* Always list every input path in ``inputs`` (corpus, queries, qrels, runs, lists, the model folder for train).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
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


def _walk_files(root: Path) -> Iterator[Path]:
    n = 0
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            n += 1
            if n > _SCAN_LIMIT:
                return
            yield Path(dirpath) / f


def _input_paths(inputs: Iterable[str | Path | None]) -> list[Path]:
    out = []
    for i in inputs:
        if i is None or str(i) == STDIN:
            continue
        p = Path(i)
        if p.exists():
            out.append(p)
    return out


def check_output(out: str | Path | None, *, inputs: Iterable[str | Path | None] = (), overwrite: bool = False, kind: Kind = "file") -> None:
    """Refuse (InputError, one line naming ``out``) an output that would destroy or mix with user data.

    Checks only; nothing is written. ``kind="append"`` skips the "exists" rules (resuming decides those).
    """
    if is_stdout(out):
        if kind == "dir":
            raise InputError("a folder output cannot go to stdout; give a folder path", path=STDIN)
        return
    target = Path(out)  # type: ignore[arg-type]
    check_writable(target, folder=kind == "dir")
    exists = target.exists()

    real_out = Path(os.path.realpath(target))
    out_id = _identity(target)
    for inp in _input_paths(inputs):
        real_in = Path(os.path.realpath(inp))
        if real_in == real_out or (out_id is not None and _identity(inp) == out_id):
            raise InputError(f"is also an input ({inp}); refusing to overwrite it", path=target)
        # The output contains the input when the output is the input's folder or any folder above it.
        if real_out in real_in.parents or (out_id is not None and any(_identity(a) == out_id for a in real_in.parents)):
            raise InputError(f"contains the input {inp}; refusing to replace it", path=target)
    if exists and target.is_dir():
        # A hard link to an input inside the output folder would be deleted along with the folder.
        wanted: dict[tuple[int, int], Path] = {}
        for inp in _input_paths(inputs):
            for f in _walk_files(inp) if inp.is_dir() else [inp]:
                ident = _identity(f)
                if ident is not None:
                    wanted[ident] = f
        if wanted:
            for f in _walk_files(target):
                ident = _identity(f)
                if ident in wanted:
                    raise InputError(f"holds {f.name}, a hard link to the input {wanted[ident]}; refusing to replace it", path=target)

    if kind == "append" or not exists or _is_empty(target):
        return
    if not written_by_synrank(target):
        what = "folder" if target.is_dir() else "file"
        raise InputError(
            f"{what} exists and was not written by synrank (no manifest); refusing to replace it: "
            "choose another output or remove it yourself",
            path=target,
        )
    if not overwrite and target.is_dir():
        raise InputError("output folder exists and is not empty (pass --overwrite to replace it)", path=target)


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
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
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


def _fingerprint_from_manifest(state: Path, fingerprint: Mapping[str, Any]) -> dict[str, Any] | None:
    """The fingerprint a file's manifest records in its ``config``, when its hidden stamp is gone.

    ``cp out.jsonl* elsewhere/`` (or a commit) carries the manifest but not the dot-file stamp; every append
    output's manifest config holds the fingerprint keys, so an output moved with its manifest stays resumable.
    None unless the manifest names every key of ``fingerprint`` (then the settings are unknown, as before)."""
    if state.is_dir():
        return None
    with contextlib.suppress(OSError, ValueError):
        manifest = json.loads(manifest_location(state, "file").read_text(encoding="utf-8"))
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
    ) -> ResumeState:
        """Decide without touching anything; raises ConfigError when settings differ and ``on_change="refuse"``."""
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
            old = _fingerprint_from_manifest(p, fp)
        if old is None:
            changed = ["?"]
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


@contextlib.contextmanager
def guarded_output(
    out: str | Path | None,
    *,
    inputs: Iterable[str | Path | None] = (),
    overwrite: bool = False,
    kind: Kind = "file",
    fingerprint: Mapping[str, Any] | None = None,
) -> Iterator[OutputTarget]:
    """Guard, lock and open ``out`` for the whole ``with`` block (see the module docstring for the rules)."""
    inputs = list(inputs)
    if is_stdout(out):
        check_output(None, kind=kind)
        yield OutputTarget(None, None, kind, resume=ResumeState(Path(STDIN), {}, "fresh") if kind == "append" else None)
        return
    final = Path(out)  # type: ignore[arg-type]
    if kind == "append" and fingerprint is None:
        raise TypeError("guarded_output(kind='append') needs the fingerprint of the settings that must match to resume")
    check_output(final, inputs=inputs, overwrite=overwrite, kind=kind)
    final.parent.mkdir(parents=True, exist_ok=True)
    with OutputLock(final):
        # Checked again under the lock: another process may have finished writing it meanwhile.
        check_output(final, inputs=inputs, overwrite=overwrite, kind=kind)
        if kind == "file":
            with atomic_path(final) as tmp:
                target = OutputTarget(tmp, final, kind)
                yield target
                target.write_manifest()
        elif kind == "dir":
            with atomic_dir(final, overwrite=True) as tmp:
                target = OutputTarget(tmp, final, kind)
                yield target
                target.write_manifest()
        else:
            yield from _append(final, fingerprint or {}, overwrite)


def _append(final: Path, fingerprint: Mapping[str, Any], overwrite: bool) -> Iterator[OutputTarget]:
    if final.exists() and not _is_empty(final) and not written_by_synrank(final):
        raise InputError(
            "file exists and was not written by synrank (no manifest); refusing to append to it: "
            "choose another output or remove it yourself",
            path=final,
        )
    state = ResumeState.decide(final, fingerprint, overwrite=overwrite, name=str(final))
    backup: Path | None = None
    sidecars: dict[Path, bytes | None] = {}
    if state.action == "restart":
        # Keep the old output (and its stamp and manifest) until the new run has written a record.
        for side in (stamp_location(final), manifest_location(final, "append")):
            sidecars[side] = side.read_bytes() if side.exists() else None
        backup = final.with_name(f".{final.name}.previous")
        os.replace(final, backup)
        state.action = "fresh"  # start() has nothing left to discard
        state.start()
        state.action = "restart"
    else:
        state.start()
    target = OutputTarget(final, final, "append", resume=state)
    try:
        yield target
    except BaseException:
        if backup is not None:
            if not final.exists() or _is_empty(final):
                os.replace(backup, final)
                for side, data in sidecars.items():
                    if data is None:
                        _remove(side)
                    else:
                        side.write_bytes(data)
            else:
                _remove(backup)  # the new run wrote records: it is the output now (re-run to resume it)
        raise
    if backup is not None:
        _remove(backup)
    target.write_manifest()
