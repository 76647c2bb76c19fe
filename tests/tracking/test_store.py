"""The MLflow store under parallel writers, as `dvc queue start -j 2` makes them: real processes, a real
SQLite store, started at the same moment on a store that does not exist yet."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from pipeline.tracking import store

WRITERS, CHILDREN = 4, 6


def _writer(root: str, index: int, barrier) -> None:
    """One track stage's worth of writes: set up the store and experiment, a parent run, nested runs
    logged in batches, a registered model version per parent, all at once with the other writers."""
    import mlflow
    from mlflow import MlflowClient

    from pipeline.tracking import runs

    barrier.wait()
    experiment_id = runs.setup("igfake", Path(root))
    client = MlflowClient()
    parent = store.retrying(client.create_run)(experiment_id, run_name=f"exp-{index}",
                                               tags={"igfake.kind": "study"})
    for child in range(CHILDREN):
        metrics = [mlflow.entities.Metric("loss", 1.0 / (step + 1), 0, step) for step in range(200)]
        runs._nested(client, experiment_id, parent.info.run_id, f"seed-{child}", {"w": str(index)},
                     {"member_seed": child}, metrics, (None, None))
    store.retrying(client.set_terminated)(parent.info.run_id, "FINISHED")
    store.retrying(client.create_registered_model)(f"model-{index}")


@pytest.fixture
def fresh_store(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    return tmp_path


def test_parallel_writers_on_a_new_store_lose_nothing_and_leave_nothing_running(fresh_store):
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WRITERS)
    workers = [context.Process(target=_writer, args=(str(fresh_store), i, barrier)) for i in range(WRITERS)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=300)
    assert [w.exitcode for w in workers] == [0] * WRITERS
    with sqlite3.connect(fresh_store / "mlflow.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT COUNT(*) FROM experiments WHERE name = 'igfake'").fetchone() == (1,)
        assert db.execute("SELECT status, COUNT(*) FROM runs GROUP BY status").fetchall() == [
            ("FINISHED", WRITERS * (1 + CHILDREN))]
        # Every nested run holds its whole loss curve: no batch lost to a busy database.
        assert db.execute("SELECT COUNT(*) FROM metrics WHERE key = 'loss'").fetchone() == (
            WRITERS * CHILDREN * 200,)
        assert db.execute("SELECT COUNT(*) FROM registered_models").fetchone() == (WRITERS,)


def test_a_locked_database_is_retried_and_other_errors_are_not(monkeypatch):
    from mlflow.exceptions import MlflowException

    monkeypatch.setattr(store, "BACKOFF_SECONDS", 0.001)
    calls = []

    def flaky(value: int) -> int:
        calls.append(value)
        if len(calls) < 3:
            raise MlflowException("(sqlite3.OperationalError) database is locked")
        return value * 2

    assert store.retrying(flaky)(21) == 42 and calls == [21, 21, 21]

    def broken() -> None:
        calls.append("broken")
        raise MlflowException("RESOURCE_ALREADY_EXISTS: experiment igfake already exists")

    calls.clear()
    with pytest.raises(MlflowException, match="already exists"):
        store.retrying(broken)()
    assert calls == ["broken"]  # not a lock: raised at once

    def always_locked() -> None:
        calls.append("locked")
        raise sqlite3.OperationalError("database is locked")

    calls.clear()
    with pytest.raises(sqlite3.OperationalError):
        store.retrying(always_locked)()
    assert len(calls) == store.ATTEMPTS  # bounded: a stuck writer ends in an error, not a hang


# -- a store that cannot be used: one line naming it, exit 2, for every command that touches MLflow --------


def _garbage(db: Path) -> None:
    db.write_bytes(bytes(range(256)) * 20)  # not SQLite: no "SQLite format 3" header


def _hold_lock(db: Path, request) -> None:
    """Another process's hold on the store's lock file (flock: another open file description conflicts)."""
    import fcntl

    lock = open(db.with_name(db.name + ".lock"), "a+")  # noqa: SIM115 (closed by the finalizer)
    fcntl.flock(lock, fcntl.LOCK_EX)
    request.addfinalizer(lock.close)


REFUSED = ("MLflow cannot use this tracking URI ({}); give one such as sqlite:///path/to/mlflow.db or "
           "http://host:5000 (a tracking server), or unset MLFLOW_TRACKING_URI for the project's store")
# What is wrong with the store (a step on the store's directory, or a tracking URI) and the line after
# "igfake <command>: error: " (``{db}``: the store's path).
STORE_FAULTS = {
    "garbage bytes": (_garbage, None, "{db}: not a usable MLflow store (SQLite: file is not a database); move it "
                                      "aside (a new store is created on next use; the runs in it are lost unless you "
                                      "restore it from a backup)"),
    "a directory": (lambda db: db.mkdir(), None,
                    "{db}: is a directory, not an MLflow store; move it aside (a new store is created on next use)"),
    "lock file a directory": (lambda db: db.with_name("mlflow.db.lock").mkdir(), None,
                              "{db}: cannot write the MLflow store's lock file {db}.lock: Is a directory; check the "
                              "directory's permissions"),
    "locked by a stuck process": (_hold_lock, None,
                                  "{db}: the MLflow store is locked by another process (it has held {db}.lock for "
                                  "over 0.2 s); let it finish, or end it if it is stuck, then run this again"),
    "unknown scheme": (None, "bogus://x", "MLFLOW_TRACKING_URI=bogus://x: " + REFUSED.format(
        "Model registry functionality is unavailable; got unsupported URI 'bogus://x' for model registry data "
        "storage")),
    "the file store MLflow 3 retired": (None, "file:///nowhere/mlruns", "MLFLOW_TRACKING_URI=file:///nowhere/mlruns: "
                                        + REFUSED.format("The filesystem tracking backend (e.g., './mlruns') is in "
                                                         "maintenance mode and will not receive further updates")),
}


@pytest.fixture
def broken_store(tmp_path: Path, monkeypatch, request):
    """The project's store moved to tmp_path (DVC_ROOT points the store there) and broken as the case says."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    monkeypatch.setattr(store, "LOCK_TIMEOUT_SECONDS", 0.2)
    break_it, uri, message = STORE_FAULTS[request.param]
    db = tmp_path / "mlflow.db"
    if break_it is _hold_lock:
        _hold_lock(db, request)
    elif break_it is not None:
        break_it(db)
    if uri is not None:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return message.format(db=db)


def _main(argv: list[str], capsys) -> tuple[int, str]:
    from pipeline import cli

    status = cli.main(argv)
    return status, capsys.readouterr().err


@pytest.mark.parametrize("broken_store", list(STORE_FAULTS), indirect=True)
def test_mlflow_sync_on_a_store_it_cannot_use_is_one_line_naming_it(broken_store, capsys):
    assert _main(["mlflow", "sync"], capsys) == (2, f"igfake mlflow: error: {broken_store}\n")


@pytest.mark.parametrize("broken_store", list(STORE_FAULTS), indirect=True)
def test_mlflow_ui_checks_the_store_before_it_starts_the_server(broken_store, capsys, monkeypatch):
    import os

    def started(*args, **kwargs):  # the server would replace this process and fail at its first page
        raise AssertionError("mlflow server started on a broken store")

    monkeypatch.setattr(os, "execvpe", started)
    assert _main(["mlflow", "ui", "--port", "5999"], capsys) == (2, f"igfake mlflow: error: {broken_store}\n")


@pytest.mark.parametrize("broken_store", ["garbage bytes", "unknown scheme"], indirect=True)
def test_promote_on_a_store_it_cannot_use_is_one_line_naming_it(broken_store, tmp_path, monkeypatch, capsys):
    from pipeline.core import paths

    logged = tmp_path / "mlflow_run.json"
    logged.write_text('{"run_id": "r", "model_version": {"name": "igfake", "version": "1"}}')
    monkeypatch.setattr(paths, "MLFLOW_RUN", logged)
    assert _main(["promote"], capsys) == (2, f"igfake promote: error: {broken_store}\n")


@pytest.mark.parametrize("broken_store", ["garbage bytes", "unknown scheme"], indirect=True)
def test_predict_from_the_registry_on_a_store_it_cannot_use_is_one_line_naming_it(broken_store, tmp_path, capsys):
    records = tmp_path / "p.jsonl"
    records.write_text('{"pk": 1, "username": "a"}\n')
    assert _main(["predict", str(records), "--model", "models:/igfake@champion"], capsys) == (
        2, f"igfake predict: error: {broken_store}\n")


@pytest.mark.parametrize("broken_store", ["garbage bytes", "unknown scheme"], indirect=True)
def test_the_track_stage_setup_on_a_store_it_cannot_use_raises_the_same_line(broken_store, tmp_path):
    from pipeline.core.errors import InputError
    from pipeline.tracking import runs

    with pytest.raises(InputError) as raised:
        runs.setup("igfake", tmp_path)
    assert str(raised.value) == broken_store


def _locked_errors():
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import OperationalError

    return {  # as MLflow's SQL store wraps it, as SQLAlchemy raises it, as SQLite does
        "MLflow": (MlflowException("(sqlite3.OperationalError) database is locked\n[SQL: INSERT INTO runs ...]"),
                   "(sqlite3.OperationalError) database is locked"),
        "SQLAlchemy": (OperationalError("INSERT INTO runs ...", {}, sqlite3.OperationalError("database is locked")),
                       "database is locked"),
        "SQLite": (sqlite3.OperationalError("database is locked"), "database is locked"),
    }


@pytest.mark.parametrize("kind", ["MLflow", "SQLAlchemy", "SQLite"])
def test_a_database_locked_past_the_retries_says_so_and_names_the_store(kind, tmp_path, monkeypatch):
    """SQLite's "database is locked" outlasting every retry (a test cannot wait out MLflow's 20 s busy timeout
    eight times): retried, then one line."""
    monkeypatch.setattr(store, "BACKOFF_SECONDS", 0.001)
    error, reason = _locked_errors()[kind]
    calls = []

    def write() -> None:
        calls.append(1)
        raise error

    with pytest.raises(store.InputError) as raised, store.reported(f"sqlite:///{tmp_path}/mlflow.db"):
        store.retrying(write)()
    assert len(calls) == store.ATTEMPTS
    assert str(raised.value) == (f"{tmp_path}/mlflow.db: the MLflow store is locked by another writer ({reason}, "
                                 f"still after {store.ATTEMPTS} tries); let the other `dvc exp run` or `igfake` "
                                 "finish, then run this again")
