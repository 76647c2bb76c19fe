"""The MLflow store under concurrent writers: ``dvc queue start -j 2`` runs two ``track`` stages at once.

SQLite takes one writer at a time. Three things keep parallel experiments from losing runs:

1. **One creator.** A new ``mlflow.db`` is created and migrated (MLflow runs its schema migrations on first
   use) under an exclusive lock on ``mlflow.db.lock`` beside it (:func:`prepare`), so two processes never
   race through the migrations; the same lock switches the database to write-ahead logging once.
2. **WAL.** In write-ahead-log mode readers (the MLflow UI, a second ``track`` looking up its experiment)
   never block the writer and the writer never blocks them; MLflow's sessions already wait up to 20 s for
   a busy database (``PRAGMA busy_timeout``).
3. **Retries.** What still fails as "database is locked" (SQLite gives up at once, without waiting, when
   waiting could deadlock) is retried with backoff by :func:`retrying`, which wraps every write the
   track stage makes.

Nothing is lost: a write either commits or is retried; a run whose process dies anyway is closed as
KILLED by the next ``track`` (:func:`pipeline.tracking.runs.close_killed_runs`).
"""

from __future__ import annotations

import fcntl
import functools
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import ParamSpec, TypeVar

from mlflow.exceptions import MlflowException

P = ParamSpec("P")
R = TypeVar("R")

ATTEMPTS = 8
BACKOFF_SECONDS = 0.2  # doubled each attempt, with jitter: 0.2 .. ~25 s in all


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for any other store)."""
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


@contextmanager
def exclusive(db: Path) -> Iterator[None]:
    """Hold the store's lock file (``<db>.lock``) exclusively: one process at a time, across processes."""
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def prepare(uri: str, create: Callable[[], object]) -> None:
    """Make the store at ``uri`` ready for concurrent writers: ``create()`` (whatever first touches the store,
    so MLflow creates and migrates it) runs under the lock, and the database is switched to WAL once."""
    db = sqlite_path(uri)
    if db is None:
        create()
        return
    with exclusive(db):
        create()
        with closing(sqlite3.connect(db, timeout=30)) as connection:
            if connection.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                connection.execute("PRAGMA journal_mode=WAL")


def is_locked(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite saying another writer holds the database (worth a retry)."""
    text = str(exc).lower()
    return isinstance(exc, MlflowException | sqlite3.OperationalError) and (
        "database is locked" in text or "database table is locked" in text or "busy" in text)


def retrying(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` retried with exponential backoff and jitter while the database is locked by another writer."""
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(ATTEMPTS):
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                if attempt == ATTEMPTS - 1 or not is_locked(exc):
                    raise
                time.sleep(BACKOFF_SECONDS * 2**attempt * (0.5 + random.random()))
        raise AssertionError("unreachable")

    return wrapper
