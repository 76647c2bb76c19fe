"""The whole pipeline, from a fresh clone, with small training params: what CI's reproduction check is.

One clone per module: ``dvc repro`` once, then every check reads what that run left behind.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
from pathlib import Path

import pytest
import yaml

from .conftest import REPO, sh

pytestmark = pytest.mark.slow

# Small, but enough for `igfake compare`: 5 k-fold splits give the paired test 4 degrees of freedom, and
# 20 epochs leave the sweep's 5 clearly worse.
SMALL = {"seeds": 3, "epochs": 20}
SPLIT = {"folds": 5, "repeats": 1}
SPLITS = SPLIT["folds"] * SPLIT["repeats"]
DATA_STAGES = ("crawl", "label-import", "featurize")


def lock_outs(lock_text: str, stage: str) -> dict[str, str]:
    """md5 of a stage's data outputs (reports/crawl.json carries elapsed time, so it is left out)."""
    lock = yaml.safe_load(lock_text)
    return {o["path"]: o["md5"] for o in lock["stages"][stage]["outs"] if o["path"].startswith("data/")}


def set_train_params(clone: Path, split: dict | None = None, gate: dict | None = None, **values) -> None:
    path = clone / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params["train"].update(values)
    params["train"]["split"].update(split or {})
    params["evaluate"]["gate"].update(gate or {})
    path.write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("e2e") / "igfake"
    sh(["git", "clone", "--quiet", str(REPO), str(target)], cwd=REPO)
    # The gate's baseline is the committed full-size run; these small runs are judged in the last test only.
    set_train_params(target, split=SPLIT, gate={"enabled": False}, **SMALL)
    sh(["dvc", "repro"], cwd=target)
    # The default run's split results, kept for comparing the experiments below against it.
    shutil.copy(target / "data/predictions/splits.parquet", default_results(target))
    return target


def default_results(clone: Path) -> Path:
    return clone.parent / "default-splits.parquet"


def mlflow_rows(clone: Path, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(clone / "mlflow.db") as db:
        return db.execute(sql, args).fetchall()


def test_data_outputs_reproduce_the_committed_lock(clone):
    committed = sh(["git", "show", "HEAD:dvc.lock"], cwd=clone).stdout
    fresh = (clone / "dvc.lock").read_text()
    for stage in DATA_STAGES:
        assert lock_outs(committed, stage), stage
        assert lock_outs(fresh, stage) == lock_outs(committed, stage), stage


def test_ci_report_on_a_fresh_clone(clone):
    """What .ci/run writes: data bit-identical to the committed lock; the small run's model outputs differ
    from the committed full-size run, and their comparison is labelled unpaired (different k-fold splits)."""
    out = sh(["igfake", "ci-report"], cwd=clone).stdout
    assert out.startswith("reports/ci.md: data stages: bit-identical; metrics against the committed run: ")
    report = (clone / "reports/ci.md").read_text()
    assert "- data stages: **bit-identical**" in report and "- quality gate: **off**" in report
    assert "`data/predictions/splits.parquet`" in report and "differ from the committed lock" in report
    assert "not in this machine's DVC cache" in report and "UNPAIRED: different k-fold splits (10 vs 5)" in report
    assert "The gate's baseline is the committed run's own split results" in report
    for line in report.splitlines():
        if line.startswith("!["):
            assert (clone / "reports" / line.split("(")[1].rstrip(")")).is_file(), line


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
    sh(["dvc", "exp", "run", "--name", "epochs5", "-S", "train.epochs=5"], cwd=clone)
    shown = json.loads(sh(["dvc", "exp", "show", "--json"], cwd=clone).stdout)
    experiments = [e for row in shown for e in (row.get("experiments") or [])]
    (short,) = [e for e in experiments if e.get("name") == "epochs5"]
    (rev,) = short["revs"]
    metrics = rev["data"]["metrics"]["reports/metrics.json"]["data"]
    assert metrics["seeds"]["n"] == SMALL["seeds"]
    params = rev["data"]["params"]["params.yaml"]["data"]["train"]
    assert params["epochs"] == 5 and params["seeds"] == SMALL["seeds"]
    assert mlflow_rows(clone, "SELECT COUNT(*) FROM runs")[0][0] == before + 1 + SMALL["seeds"] + SPLITS
    tagged = mlflow_rows(clone, "SELECT run_uuid FROM tags WHERE key = 'dvc.exp_name' AND value = 'epochs5'")
    assert len(tagged) == 1 + SMALL["seeds"] + SPLITS


def test_queued_experiments_log_to_the_parent_repository_store(clone):
    """``dvc exp run --queue`` runs in .dvc/tmp/exps/...; its MLflow runs must still land in <repo>/mlflow.db."""
    # The workspace holds the epochs5 experiment now: set the default epochs back explicitly.
    sh(["dvc", "exp", "run", "--queue", "--name", "seed100", "-S", "train.seed=100",
        "-S", f"train.epochs={SMALL['epochs']}"], cwd=clone)
    sh(["dvc", "exp", "run", "--run-all"], cwd=clone)
    tagged = mlflow_rows(clone, "SELECT run_uuid FROM tags WHERE key = 'dvc.exp_name' AND value = 'seed100'")
    assert len(tagged) == 1 + SMALL["seeds"] + SPLITS  # parent, the seeds, the k-fold splits
    assert not list((clone / ".dvc").rglob("mlflow.db"))
    (location,) = mlflow_rows(clone, "SELECT artifact_location FROM experiments WHERE name = 'igfake'")[0]
    assert location == (clone / "mlruns").resolve().as_uri()


def test_compare_judges_the_experiments_with_the_noise(clone):
    """The two sweeps above against the default run: 5 epochs instead of 20 is judged worse; other member
    seeds (100-102) are judged not different. The experiments are read by name from the DVC cache."""
    def compared(*refs: str) -> dict:
        return json.loads(sh(["igfake", "compare", *refs, "--json"], cwd=clone).stdout)

    default = str(default_results(clone))
    worse = compared(default, "epochs5")
    assert worse["paired"] and worse["splits"] == SPLITS and worse["verdict"] == "worse", worse
    loss = next(m for m in worse["metrics"] if m["metric"] == "log_loss")
    assert loss["low"] > 0 and loss["verdict"] == "worse"
    same = compared(default, "seed100")
    assert same["paired"] and same["verdict"] == "no detectable difference", same
    assert all(m["low"] <= 0 <= m["high"] for m in same["metrics"])
    assert same["notes"][0].startswith("member seeds differ (0-2 vs 100-102)")
    markdown = sh(["igfake", "compare", "seed100", "epochs5"], cwd=clone).stdout
    assert markdown.startswith("## `epochs5:mlp` against `seed100:mlp`") and "paired over 5 k-fold splits" in markdown
    print(json.dumps({"epochs5": worse, "seed100": same}))


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
               "data/predictions/splits.parquet", "reports/metrics.json", "reports/variance.json",
               "reports/gate.json")}
    sh(["dvc", "repro", "-f"], cwd=clone)
    for path, content in before.items():
        assert (clone / path).read_bytes() == content, path


def test_a_failing_gate_stops_export_tflite_with_the_rule(clone):
    """Last: it leaves the clone with the gate on and no TFLite model."""
    set_train_params(clone, gate={"enabled": True, "min_accuracy": 0.999})
    failed = sh(["dvc", "repro"], cwd=clone, check=False)
    assert failed.returncode != 0
    (line,) = [x for x in failed.stderr.splitlines() if x.startswith("igfake export-tflite: error:")]
    assert line.startswith("igfake export-tflite: error: reports/gate.json: the gate did not bless this model "
                           "(min_accuracy: k-fold accuracy 0.")
    assert "lower end < 0.999" in line
    gate = json.loads((clone / "reports/gate.json").read_text())
    assert not gate["blessed"] and "min_accuracy" in gate["failed"]
    assert not (clone / "models/model.tflite").exists()
