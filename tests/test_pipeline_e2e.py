"""The whole pipeline, from a fresh clone, with small training params: what CI's reproduction check is.

One clone per module: ``dvc repro`` once, then every check reads what that run left behind.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from pathlib import Path

import pytest
import yaml

from .conftest import REPO, sh

pytestmark = pytest.mark.slow

SMALL = {"seeds": 3, "epochs": 5}
SPLIT = {"folds": 2, "repeats": 1}
SPLITS = SPLIT["folds"] * SPLIT["repeats"]
DATA_STAGES = ("crawl", "label-import", "featurize")


def lock_outs(lock_text: str, stage: str) -> dict[str, str]:
    """md5 of a stage's data outputs (reports/crawl.json carries elapsed time, so it is left out)."""
    lock = yaml.safe_load(lock_text)
    return {o["path"]: o["md5"] for o in lock["stages"][stage]["outs"] if o["path"].startswith("data/")}


def set_train_params(clone: Path, split: dict | None = None, **values) -> None:
    path = clone / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params["train"].update(values)
    params["train"]["split"].update(split or {})
    path.write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("e2e") / "igfake"
    sh(["git", "clone", "--quiet", str(REPO), str(target)], cwd=REPO)
    set_train_params(target, split=SPLIT, **SMALL)
    sh(["dvc", "repro"], cwd=target)
    return target


def mlflow_rows(clone: Path, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(clone / "mlflow.db") as db:
        return db.execute(sql, args).fetchall()


def test_data_outputs_reproduce_the_committed_lock(clone):
    committed = sh(["git", "show", "HEAD:dvc.lock"], cwd=clone).stdout
    fresh = (clone / "dvc.lock").read_text()
    for stage in DATA_STAGES:
        assert lock_outs(committed, stage), stage
        assert lock_outs(fresh, stage) == lock_outs(committed, stage), stage


def test_pipeline_is_up_to_date_and_a_second_repro_runs_nothing(clone):
    assert "Data and pipelines are up to date" in sh(["dvc", "status"], cwd=clone).stdout
    again = sh(["dvc", "repro"], cwd=clone)
    assert "Running stage" not in again.stdout + again.stderr
    for stage in ("crawl", "label-import", "featurize", "train", "evaluate", "export-tflite"):
        assert f"Stage '{stage}' didn't change, skipping" in again.stdout


def test_metrics_report_the_shipped_model_and_the_seed_distribution(clone):
    metrics = json.loads((clone / "reports/metrics.json").read_text())
    for key in ("accuracy", "precision_authentic", "precision_fake", "recall_authentic", "recall_fake", "roc_auc"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["accuracy"] > 0.7 and metrics["roc_auc"] > 0.7  # it learned something, even in 5 epochs
    seeds = metrics["seeds"]
    assert seeds["n"] == SMALL["seeds"]
    assert seeds["min"] <= seeds["mean"] <= seeds["max"] and seeds["std"] >= 0
    confusion = (clone / "reports/confusion.txt").read_text()
    assert f"Accuracy: {metrics['accuracy']!r}" in confusion
    assert f"{float(metrics['test_rows']):.2f}" in confusion


def test_export_agrees_with_keras(clone):
    export = json.loads((clone / "reports/export.json").read_text())
    assert export["agrees"] and export["max_abs_diff"] <= 1e-5
    assert export["rows"] == json.loads((clone / "reports/metrics.json").read_text())["test_rows"]
    assert (clone / "models/model.tflite").stat().st_size == export["tflite_bytes"]


def test_list_model_is_exported_with_parity_reported_with_intervals_and_tracked(clone):
    report = json.loads((clone / "reports/list_model.json").read_text())
    assert report["export"]["agrees"] and not report["export"]["any_nan"]
    assert (clone / "models/list_model.tflite").stat().st_size == report["export"]["tflite_bytes"]
    low, high = report["accuracy_ci95"]
    assert low < report["accuracy"] < high
    low, high = report["roc_auc_ci95"]
    assert low < report["roc_auc"] < high
    card = json.loads((clone / "models/audit.json").read_text())
    rates = card["shipped_rates"]
    labelled = sum(rates[k] for k in ("true_authentic", "false_fake", "false_authentic", "true_fake"))
    assert rates["from"].startswith("cross-validated") and labelled == 1000  # every labelled row, held out once
    (run,) = mlflow_rows(clone, "SELECT run_uuid FROM runs WHERE name = 'train-list'")
    logged = dict(mlflow_rows(clone, "SELECT key, value FROM latest_metrics WHERE run_uuid = ?", run[0]))
    assert logged["list.roc_auc"] == pytest.approx(report["roc_auc"])
    assert logged["shipped_rates.tpr"] == pytest.approx(rates["tpr"])


def test_mlflow_holds_a_parent_run_with_one_child_per_seed(clone):
    parents = mlflow_rows(clone, "SELECT run_uuid FROM runs WHERE name = 'train' AND run_uuid NOT IN "
                                 "(SELECT run_uuid FROM tags WHERE key = 'mlflow.parentRunId')")
    assert len(parents) == 1
    (parent,) = parents[0]
    children = mlflow_rows(clone, "SELECT run_uuid FROM tags WHERE key = 'mlflow.parentRunId' AND value = ?", parent)
    seed_runs = "SELECT run_uuid FROM tags WHERE key = 'igfake.kind' AND value = 'seed' AND run_uuid IN " \
                "(SELECT run_uuid FROM tags WHERE key = 'mlflow.parentRunId' AND value = ?)"
    assert len(mlflow_rows(clone, seed_runs, parent)) == SMALL["seeds"]
    assert len(children) == SMALL["seeds"] + SPLITS
    accuracies = mlflow_rows(
        clone, f"SELECT value FROM latest_metrics WHERE key = 'accuracy' AND run_uuid IN ({seed_runs})", parent)
    metrics = json.loads((clone / "reports/metrics.json").read_text())
    per_seed = [float(line.split(",")[1]) for line in
                (clone / "reports/plots/seed_accuracy.csv").read_text().splitlines()[1:]]
    assert sorted(a for (a,) in accuracies) == pytest.approx(sorted(per_seed), abs=1e-6)
    # Where each member stopped: the epoch whose weights it kept, and that epoch's validation loss.
    stopped = mlflow_rows(clone, f"SELECT key, value FROM latest_metrics WHERE key IN ('best_epoch', 'best_val_loss') "
                                 f"AND run_uuid IN ({seed_runs})", parent)
    epochs = [v for k, v in stopped if k == "best_epoch"]
    losses = [v for k, v in stopped if k == "best_val_loss"]
    assert len(epochs) == len(losses) == SMALL["seeds"]
    assert all(1 <= e <= SMALL["epochs"] for e in epochs) and all(0 < v < 1 for v in losses)
    logged = dict(mlflow_rows(clone, "SELECT key, value FROM latest_metrics WHERE run_uuid = ?", parent))
    assert logged["seed_accuracy_mean"] == pytest.approx(metrics["seeds"]["mean"])
    assert logged["accuracy"] == pytest.approx(metrics["accuracy"])
    variance = json.loads((clone / "reports/variance.json").read_text())
    assert logged["variance.kfold.split_std"] == pytest.approx(variance["kfold"]["split_std"])
    assert logged["variance.holdout.init_std"] == pytest.approx(metrics["seeds"]["std"])
    artifacts = mlflow_rows(clone, "SELECT artifact_uri FROM runs WHERE run_uuid = ?", parent)[0][0]
    assert artifacts.startswith((clone / "mlruns").resolve().as_uri())
    head = sh(["git", "rev-parse", "HEAD"], cwd=clone).stdout.strip()
    tags = dict(mlflow_rows(clone, "SELECT key, value FROM tags WHERE run_uuid = ?", parent))
    assert tags["mlflow.source.git.commit"] == head


def test_dvc_exp_run_sweeps_and_lands_in_the_same_mlflow_db(clone):
    before = mlflow_rows(clone, "SELECT COUNT(*) FROM runs")[0][0]
    sh(["dvc", "exp", "run", "--name", "short", "-S", "train.epochs=3", "-S", "train.seeds=2"], cwd=clone)
    shown = json.loads(sh(["dvc", "exp", "show", "--json"], cwd=clone).stdout)
    experiments = [e for row in shown for e in (row.get("experiments") or [])]
    (short,) = [e for e in experiments if e.get("name") == "short"]
    (rev,) = short["revs"]
    metrics = rev["data"]["metrics"]["reports/metrics.json"]["data"]
    assert metrics["seeds"]["n"] == 2
    params = rev["data"]["params"]["params.yaml"]["data"]["train"]
    assert params["epochs"] == 3 and params["seeds"] == 2
    # train's parent, 2 seeds, the k-fold splits; and train-list's run (its deps changed with train's output).
    assert mlflow_rows(clone, "SELECT COUNT(*) FROM runs")[0][0] == before + 1 + 2 + SPLITS + 1
    tagged = mlflow_rows(clone, "SELECT run_uuid FROM tags WHERE key = 'dvc.exp_name' AND value = 'short'")
    assert len(tagged) == 1 + 2 + SPLITS + 1


def test_queued_experiments_log_to_the_parent_repository_store(clone):
    """``dvc exp run --queue`` runs in .dvc/tmp/exps/...; its MLflow runs must still land in <repo>/mlflow.db."""
    sh(["dvc", "exp", "run", "--queue", "--name", "queued", "-S", "train.epochs=2", "-S", "train.seeds=2"], cwd=clone)
    sh(["dvc", "exp", "run", "--run-all"], cwd=clone)
    tagged = mlflow_rows(clone, "SELECT run_uuid FROM tags WHERE key = 'dvc.exp_name' AND value = 'queued'")
    assert len(tagged) == 1 + 2 + SPLITS + 1  # parent, 2 seeds, the k-fold splits, train-list
    assert not list((clone / ".dvc").rglob("mlflow.db"))
    (location,) = mlflow_rows(clone, "SELECT artifact_location FROM experiments WHERE name = 'igfake'")[0]
    assert location == (clone / "mlruns").resolve().as_uri()


def test_mlflow_ui_and_rest_api_serve_the_runs(clone):
    """The README's `mlflow ui` recipe, for real: a server on the clone's store answers the REST API."""
    import socket
    import subprocess
    import time
    import urllib.request

    from .conftest import run_env

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        ["mlflow", "server", "--backend-store-uri", f"sqlite:///{clone / 'mlflow.db'}", "--default-artifact-root",
         str(clone / "mlruns"), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        cwd=clone, env=run_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.5)

        def api(path: str, body: dict | None = None) -> dict:
            data = json.dumps(body).encode() if body is not None else None
            request = urllib.request.Request(f"{base}/api/2.0/mlflow/{path}", data=data,
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as r:
                return json.loads(r.read())

        experiment = api("experiments/get-by-name?experiment_name=igfake")["experiment"]
        runs = api("runs/search", {"experiment_ids": [experiment["experiment_id"]],
                                   "filter": "attributes.run_name = 'train'", "max_results": 50})["runs"]
        stored = dict(mlflow_rows(clone, "SELECT r.run_uuid, m.value FROM runs r JOIN latest_metrics m "
                                         "ON m.run_uuid = r.run_uuid WHERE r.name = 'train' AND m.key = 'accuracy'"))
        served = {r["info"]["run_id"]: {m["key"]: m["value"] for m in r["data"]["metrics"]}["accuracy"] for r in runs}
        assert served == pytest.approx(stored) and len(served) >= 1
        with urllib.request.urlopen(f"{base}/", timeout=10) as r:
            assert r.status == 200 and b"<html" in r.read(2000).lower()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_shipped_model_is_logged_to_mlflow_with_a_signature(clone):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{clone / 'mlflow.db'}")
    models = mlflow.search_logged_models(experiment_ids=[mlflow.get_experiment_by_name("igfake").experiment_id],
                                         output_format="list")
    assert models
    info = mlflow.models.get_model_info(models[-1].model_uri)
    assert info.signature is not None
    assert list(info.signature.inputs.to_dict()[0]["tensor-spec"]["shape"]) == [-1, 16]


def test_forced_repro_gives_identical_data_and_metrics(clone):
    before = {p: (clone / p).read_bytes() for p in
              ("data/raw/profiles.jsonl", "data/raw/graph.jsonl", "data/interim/labelled.parquet",
               "data/features/features.parquet", "data/predictions/predictions.parquet", "models/model.keras",
               "reports/metrics.json",
               "reports/variance.json")}
    sh(["dvc", "repro", "-f"], cwd=clone)
    for path, content in before.items():
        assert (clone / path).read_bytes() == content, path

