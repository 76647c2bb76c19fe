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
