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

A store that cannot be used at all (a file that is not a database, one locked past the retries or the lock
file's wait, one that cannot be written, a tracking URI MLflow refuses) is one line naming the store and
what to do (:func:`reported`), an :class:`~pipeline.core.errors.InputError`: every command and stage that
touches MLflow goes through it.
"""

from __future__ import annotations

import fcntl
import functools
import os
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import ParamSpec, TypeVar

import mlflow
from mlflow.exceptions import MlflowException
from sqlalchemy.exc import SQLAlchemyError

from pipeline.core import paths
from pipeline.core.errors import InputError

P = ParamSpec("P")
R = TypeVar("R")

ATTEMPTS = 8
BACKOFF_SECONDS = 0.2  # doubled each attempt, with jitter: 0.2 .. ~25 s in all
# How long a process waits for the store's lock file: another holds it only while it creates the store and
# its experiment (seconds), so a minute means that process is stuck, not busy.
LOCK_TIMEOUT_SECONDS = 60.0
# What MLflow raises for a store it cannot use: its own errors, and SQLAlchemy's and SQLite's, which its
# SQL store lets through unwrapped (e.g. "file is not a database" on first contact).
STORE_ERRORS = (MlflowException, SQLAlchemyError, sqlite3.Error)


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for any other store)."""
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def shown(uri: str) -> str:
    """The store as a message names it: its database file, or the tracking URI (and where it came from)."""
    db = sqlite_path(uri)
    if db is not None:
        return paths.shown(db)
    return f"MLFLOW_TRACKING_URI={uri}" if os.environ.get("MLFLOW_TRACKING_URI") == uri else f"tracking URI {uri}"


def _reason(exc: BaseException) -> str:
    """The first sentence of what went wrong: SQLite's own words for an SQLAlchemy error, MLflow's for its own
    (whose next sentences list every scheme it knows, or link its docs)."""
    cause = getattr(exc, "orig", None) or exc
    text = (cause.message if isinstance(cause, MlflowException) else str(cause)).strip()
    return text.splitlines()[0].split(". ")[0].strip().rstrip(".") if text else type(cause).__name__


def message(uri: str, exc: BaseException) -> str:
    """One line for an error of the store at ``uri``: which store, what is wrong with it, what to do."""
    where, reason = shown(uri), _reason(exc)
    text = reason.lower()
    if sqlite_path(uri) is None and not is_locked(exc):
        return (f"{where}: MLflow cannot use this tracking URI ({reason}); give one such as "
                "sqlite:///path/to/mlflow.db or http://host:5000 (a tracking server), or unset MLFLOW_TRACKING_URI "
                "for the project's store")
    if is_locked(exc):
        return (f"{where}: the MLflow store is locked by another writer ({reason}, still after {ATTEMPTS} tries); "
                "let the other `dvc exp run` or `igfake` finish, then run this again")
    if "not a database" in text or "malformed" in text or "file is encrypted" in text:
        return (f"{where}: not a usable MLflow store (SQLite: {reason}); move it aside (a new store is created on "
                "next use; the runs in it are lost unless you restore it from a backup)")
    if "readonly" in text or "read-only" in text or "unable to open" in text or "disk i/o" in text:
        return f"{where}: cannot write the MLflow store (SQLite: {reason}); check the file's permissions and free space"
    return f"{where}: the MLflow store failed: {reason}"


@contextmanager
def reported(uri: str | None = None) -> Iterator[None]:
    """Errors of the MLflow store (``uri``, by default the one MLflow is pointed at) in the block as one line
    naming it (:func:`message`), an :class:`InputError`, instead of a traceback. Also a decorator."""
    try:
        yield
    except STORE_ERRORS as exc:
        raise InputError(message(uri or mlflow.get_tracking_uri(), exc)) from None


def check(uri: str) -> None:
    """That the store at ``uri`` can be read (created and migrated if new, as :func:`prepare` does it), or
    :func:`reported`'s one line."""
    from mlflow import MlflowClient

    with reported(uri):
        retrying(prepare)(uri, lambda: MlflowClient(uri).search_experiments(max_results=1))


@contextmanager
def exclusive(db: Path) -> Iterator[None]:
    """Hold the store's lock file (``<db>.lock``) exclusively: one process at a time, across processes; a
    lock still held by another after :data:`LOCK_TIMEOUT_SECONDS` is an error naming the lock file."""
    lock_path = db.with_name(db.name + ".lock")
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
        lock = open(lock_path, "a+")  # noqa: SIM115 (closed below, after the unlock)
    except OSError as exc:
        raise InputError(f"{paths.shown(db)}: cannot write the MLflow store's lock file {paths.shown(lock_path)}: "
                         f"{exc.strerror or exc}; check the directory's permissions") from None
    with lock:
        deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise InputError(f"{paths.shown(db)}: the MLflow store is locked by another process (it has "
                                     f"held {paths.shown(lock_path)} for over {LOCK_TIMEOUT_SECONDS:g} s); let it "
                                     "finish, or end it if it is stuck, then run this again") from None
                time.sleep(0.05)
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
    if db.is_dir():  # MLflow would retry opening it for a minute before saying "unable to open database file"
        raise InputError(f"{paths.shown(db)}: is a directory, not an MLflow store; move it aside (a new store is "
                         "created on next use)")
    with exclusive(db):
        create()
        with closing(sqlite3.connect(db, timeout=30)) as connection:
            if connection.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                connection.execute("PRAGMA journal_mode=WAL")


def is_locked(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite saying another writer holds the database (worth a retry)."""
    text = str(exc).lower()
    return isinstance(exc, MlflowException | SQLAlchemyError | sqlite3.OperationalError) and (
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
