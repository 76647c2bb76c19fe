"""Atomic writes: every output appears whole or not at all, and a stage's outputs appear together.

A stage killed mid-write must never leave a half-written file that DVC would then cache. Each writer
writes a temporary sibling (same directory, so the final ``os.replace`` is an atomic rename on one file
system), flushes it to disk, and only then renames it over the target. Temporaries are hidden files named
``.<target>.<random>.tmp*``, which ``.gitignore`` and ``.dvcignore`` exclude; the next write of the same
target sweeps away any a killed writer left.

Several outputs that must match each other (a crawl's profiles and its follow graph) are written inside
:func:`together`: their renames wait until every one is on disk, a journal lists them, they happen, the
journal goes. A writer killed between two renames leaves the journal behind: the next reader sees it
(:func:`check_together`) and stops instead of mixing a new file with an old one, and the next writer
finishes the renames before it starts.
"""

from __future__ import annotations

import contextlib
import contextvars
import glob
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from pipeline.core.errors import InputError

# mkstemp creates files readable by the owner only; outputs should get the usual umask-derived mode.
_UMASK = os.umask(0)
os.umask(_UMASK)
_FILE_MODE = 0o666 & ~_UMASK


def _sweep(target: Path) -> None:
    """Remove temporaries a killed writer of ``target`` left behind (each output has one writer)."""
    for stale in target.parent.glob(f".{glob.escape(target.name)}.*.tmp*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


# The renames an open together() block is holding back: (temporary, target) pairs.
_DEFERRED: contextvars.ContextVar[list[tuple[Path, Path]] | None] = contextvars.ContextVar("deferred", default=None)


@contextlib.contextmanager
def atomic_path(target: Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it onto ``target`` if the block succeeds.

    Inside :func:`together` the rename waits for the block's end, with the other outputs' renames.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep(target)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{suffix}", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    deferred = _DEFERRED.get()
    held = False
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, _FILE_MODE)
        if deferred is not None:
            deferred.append((tmp, target))
            held = True
        else:
            os.replace(tmp, target)
    finally:
        if not held:
            tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield a temporary directory next to ``target``; put it in ``target``'s place if the block succeeds.

    A directory output (``igfake score``'s Parquet parts) cannot be renamed over a non-empty directory, so
    a previous ``target`` is first renamed aside (a hidden temporary, swept like the others) and removed
    once the new one is in place: at no moment is a half-written directory at ``target``.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        for path in (*tmp.rglob("*"), tmp):
            if path.is_file():
                with open(path, "rb") as fh:
                    os.fsync(fh.fileno())
        os.chmod(tmp, 0o777 & ~_UMASK)
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp.old", dir=target.parent))
            os.replace(target, old / target.name)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def together(journal: Path) -> Iterator[None]:
    """Every :func:`atomic_path` write in the block is renamed into place at its end, as one commit.

    ``journal`` (outside git and DVC, named after the stage) lists the renames while they happen. If it
    is there when the block starts, an earlier writer was killed mid-commit: its temporaries are whole,
    so its renames are finished first, and any output it had not yet replaced then matches the others.
    """
    journal = Path(journal)
    finish_together(journal)
    pending: list[tuple[Path, Path]] = []
    token = _DEFERRED.set(pending)
    try:
        yield
    except BaseException:
        for tmp, _ in pending:
            tmp.unlink(missing_ok=True)
        raise
    finally:
        _DEFERRED.reset(token)
    write_text(journal, json.dumps({"renames": [[str(tmp), str(target)] for tmp, target in pending]}) + "\n")
    _rename_all(journal, pending)


def _rename_all(journal: Path, renames: Iterable[tuple[Path, Path]]) -> None:
    for tmp, target in renames:
        if tmp.exists():  # else renamed before the kill
            os.replace(tmp, target)
    journal.unlink(missing_ok=True)


def _journal_renames(journal: Path) -> list[tuple[Path, Path]] | None:
    try:
        data = json.loads(journal.read_text(encoding="utf-8"))
        return [(Path(tmp), Path(target)) for tmp, target in data["renames"]]
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        return []  # torn: the kill came before the journal was whole, so no rename had started


def finish_together(journal: Path) -> None:
    """Complete the commit a killed :func:`together` left in ``journal`` (nothing if there is none)."""
    renames = _journal_renames(Path(journal))
    if renames is not None:
        _rename_all(Path(journal), renames)


def check_together(journal: Path) -> None:
    """Stop (:class:`InputError`) if the outputs ``journal`` covers were left half-replaced by a killed writer."""
    renames = _journal_renames(Path(journal))
    if renames:
        names = ", ".join(os.path.relpath(target) for _, target in renames)
        raise InputError(f"{names}: the {Path(journal).stem} stage was killed while replacing these files "
                         f"together, so they may not belong together: run `dvc repro {Path(journal).stem}` "
                         f"(journal: {os.path.relpath(journal)})")


def write_text(target: Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def dumps_json(obj: Any, sort_keys: bool = True) -> str:
    """Canonical JSON: sorted keys (or, where the order is meant to be read, the order given), so equal
    data gives equal bytes."""
    return json.dumps(obj, indent=2, sort_keys=sort_keys, ensure_ascii=False, allow_nan=False) + "\n"


def write_json(target: Path, obj: Any, sort_keys: bool = True) -> None:
    write_text(target, dumps_json(obj, sort_keys))


def jsonl_line(record: Any) -> str:
    """One canonical JSON line, UTF-8 as written; a record holding a lone surrogate (which UTF-8 cannot
    encode: a quarantined record may) is written with ASCII escapes instead, still valid JSON."""
    line = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"
    return line


def write_jsonl(target: Path, records: Iterable[Any]) -> int:
    """Write one canonical JSON object per line; return how many."""
    n = 0
    with atomic_path(target) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for record in records:
            fh.write(jsonl_line(record))
            n += 1
    return n


def cut_torn_tail(path: Path, whole: Callable[[bytes], bool] | None = None, durable: bool = False) -> bytes:
    """Truncate an append-only file after its last whole line; return what was cut (b"" if nothing).

    A line is whole when it ends in a newline and ``whole`` (if given) accepts it; reading stops at the
    first line that is not, since a writer killed mid-line leaves exactly one such torn line at the end.
    ``durable`` fsyncs the truncation.
    """
    path = Path(path)
    if not path.exists():
        return b""
    data = path.read_bytes()
    keep = 0
    for line in data.splitlines(keepends=True):
        if not line.endswith(b"\n") or (whole is not None and not whole(line)):
            break
        keep += len(line)
    if keep < len(data):
        with open(path, "rb+") as fh:
            fh.truncate(keep)
            if durable:
                os.fsync(fh.fileno())
    return data[keep:]


class AppendOnly:
    """A file opened for appending lines that a killed writer cannot interleave or half-overwrite.

    Every :meth:`write` goes out on an ``O_APPEND`` descriptor before it returns; with ``durable`` it is
    also fsynced, so a power cut (not only a killed process) loses at most the line being written.
    """

    def __init__(self, path: Path, durable: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.durable = durable
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        if self.durable:
            os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)
