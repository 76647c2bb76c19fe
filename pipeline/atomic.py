"""Atomic writes: every output appears whole or not at all.

A stage killed mid-write must never leave a half-written file that DVC would then cache. Each writer
writes a temporary sibling (same directory, so the final ``os.replace`` is an atomic rename on one file
system), flushes it to disk, and only then renames it over the target.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

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


@contextlib.contextmanager
def atomic_path(target: Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it onto ``target`` if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep(target)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{suffix}", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


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
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"


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
