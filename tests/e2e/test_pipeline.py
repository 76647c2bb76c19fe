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

from tests.conftest import REPO, sh

pytestmark = pytest.mark.slow

# Small, but enough for `igfake compare`: 5 k-fold splits give the paired test 4 degrees of freedom, and
# 20 epochs leave the sweep's 5 clearly worse.
SMALL = {"seeds": 3, "epochs": 20}
SMALL_SEED = 0  # train.seed in params.yaml: the first member's seed
SPLIT = {"folds": 5, "repeats": 1}
SPLITS = SPLIT["folds"] * SPLIT["repeats"]
BASELINES = ("logreg", "forest")  # params.yaml's train.baselines.models: one nested MLflow run each
# What track logs for one pipeline run: the parent, a run per seed, per k-fold split and per baseline, and
# the list-only model's run.
TRACKED_RUNS = 1 + SMALL["seeds"] + SPLITS + len(BASELINES) + 1
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
    for stage in ("crawl", "label-import", "featurize", "train", "evaluate", "export-tflite", "track"):
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
    # Logged by track, under its parent run: a train-list restored from DVC's run-cache still gets its run.
    parent = json.loads((clone / "data/tracking/mlflow_run.json").read_text())
    assert parent["list_model_run_id"] == run[0]
    assert mlflow_rows(clone, "SELECT value FROM tags WHERE key = 'mlflow.parentRunId' AND run_uuid = ?",
                       run[0]) == [(parent["run_id"],)]
    logged = dict(mlflow_rows(clone, "SELECT key, value FROM latest_metrics WHERE run_uuid = ?", run[0]))
    assert logged["list.roc_auc"] == pytest.approx(report["roc_auc"])
    assert logged["shipped_rates.tpr"] == pytest.approx(rates["tpr"])


def test_mlflow_holds_a_parent_run_with_one_child_per_seed(clone):
    parents = mlflow_rows(clone, "SELECT run_uuid, name FROM runs WHERE run_uuid IN (SELECT run_uuid FROM tags "
                                 "WHERE key = 'igfake.kind' AND value = 'study')")
    assert len(parents) == 1
    (parent, name), = parents
    head = sh(["git", "rev-parse", "HEAD"], cwd=clone).stdout.strip()
    branch = sh(["git", "rev-parse", "--abbrev-ref", "HEAD"], cwd=clone).stdout.strip()
    assert name == f"{branch}@{head[:7]}"  # branch@commit: a list of runs reads as what each one was
    logged = json.loads((clone / "data/tracking/mlflow_run.json").read_text())
    assert logged["run_id"] == parent and logged["run_name"] == name
    children = mlflow_rows(clone, "SELECT run_uuid FROM tags WHERE key = 'mlflow.parentRunId' AND value = ?", parent)
    seed_runs = "SELECT run_uuid FROM tags WHERE key = 'igfake.kind' AND value = 'seed' AND run_uuid IN " \
                "(SELECT run_uuid FROM tags WHERE key = 'mlflow.parentRunId' AND value = ?)"
    assert len(mlflow_rows(clone, seed_runs, parent)) == SMALL["seeds"]
    assert len(children) == SMALL["seeds"] + SPLITS + len(BASELINES) + 1  # and the list-only model's run
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
    tags = dict(mlflow_rows(clone, "SELECT key, value FROM tags WHERE run_uuid = ?", parent))
    assert tags["mlflow.source.git.commit"] == head
    assert tags["igfake.gate"] == "off"  # the clone turns the gate off; reports/gate.json says so
    # Nested runs record the fits' own durations, not the instant they were logged.
    (train_seconds,) = mlflow_rows(clone, "SELECT (end_time - start_time) / 1000.0 FROM runs WHERE name = ? AND "
                                          "run_uuid IN (SELECT run_uuid FROM tags WHERE key = 'mlflow.parentRunId' "
                                          "AND value = ?)", f"seed-{SMALL_SEED}", parent)[0]
    timing = json.loads((clone / "reports/train_timing.json").read_text())
    assert train_seconds == pytest.approx(timing["holdout"]["seconds"], abs=0.01) and train_seconds > 0.1
    # Loss curves as step metrics: one point per epoch run.
    steps = mlflow_rows(clone, "SELECT step FROM metrics WHERE key = 'loss' AND run_uuid IN (SELECT run_uuid FROM "
                               "runs WHERE name = ? AND run_uuid IN (SELECT run_uuid FROM tags WHERE "
                               "key = 'mlflow.parentRunId' AND value = ?))", f"seed-{SMALL_SEED}", parent)
    assert sorted(s for (s,) in steps) == list(range(1, SMALL["epochs"] + 1))


def test_baselines_share_the_mlp_protocol_in_splits_metrics_variance_and_mlflow(clone):
    import pyarrow.parquet as pq

    splits = pq.read_table(clone / "data/predictions/splits.parquet").to_pandas()
    assert set(splits["model"]) == {"mlp", *BASELINES}
    keys = ["split", "split_digest", "train_rows", "test_rows"]
    mlp = splits[splits["model"] == "mlp"][keys].drop_duplicates().sort_values("split").reset_index(drop=True)
    for model in BASELINES:
        mine = splits[splits["model"] == model]
        assert len(mine) == 1 + SPLITS  # one deterministic member per split
        assert mine[keys].sort_values("split").reset_index(drop=True).equals(mlp), model
    metrics = json.loads((clone / "reports/evaluation.json").read_text())
    variance = json.loads((clone / "reports/variance.json").read_text())
    parent = mlflow_rows(clone, "SELECT run_uuid FROM tags WHERE key = 'igfake.kind' AND value = 'study'")[0][0]
    for model in BASELINES:
        holdout = splits[(splits["model"] == model) & (splits["split"] == "holdout")]["accuracy"].item()
        # The fixed threshold rule: evaluate's accuracy is train's, on the same test rows.
        assert metrics["models"][model]["accuracy"]["value"] == pytest.approx(holdout)
        assert variance["baselines"][model]["holdout"]["mean"] == pytest.approx(holdout)
        runs = mlflow_rows(clone, "SELECT t.run_uuid FROM tags t JOIN tags p ON p.run_uuid = t.run_uuid "
                                  "WHERE t.key = 'igfake.model' AND t.value = ? AND p.key = 'mlflow.parentRunId' "
                                  "AND p.value = ?", model, parent)
        assert len(runs) == 1, model
        logged = dict(mlflow_rows(clone, "SELECT key, value FROM latest_metrics WHERE run_uuid = ?", runs[0][0]))
        assert logged["accuracy"] == pytest.approx(holdout)
    # The simulator's truth reaches evaluate: label noise is measured, not assumed.
    truth = metrics["truth"]
    assert 0 < truth["label_error_rate"]["value"] < 0.2
    assert truth["mlp"]["accuracy_vs_labels"]["value"] == pytest.approx(metrics["accuracy"])


def test_report_renders_offline_in_chromium_with_every_image(clone):
    """reports/report.html in a real browser with the network off: key numbers shown, every image decoded."""
    from playwright.sync_api import sync_playwright

    metrics = json.loads((clone / "reports/evaluation.json").read_text())
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                     args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            context = browser.new_context(offline=True)
            page = context.new_page()
            requested: list[str] = []
            page.on("request", lambda request: requested.append(request.url))
            page.goto((clone / "reports/report.html").as_uri(), wait_until="load")
            images = page.evaluate("Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])")
            headline = page.inner_text("#headline")
            gate_line, calibration_line = page.inner_text("#gate"), page.inner_text("#calibration")
            body = page.inner_text("body")
        finally:
            browser.close()
    assert len(images) == 8 and all(complete and width > 0 for _, complete, width in images), images
    assert [u for u in requested if not u.startswith(("file:", "data:"))] == []
    assert f"{metrics['accuracy']:.3f}" in headline and f"{metrics['roc_auc']:.3f}" in headline
    lo, hi = metrics["intervals"]["accuracy"]
    assert f"[{lo:.3f}, {hi:.3f}]" in headline
    assert f"{metrics['truth']['mlp']['accuracy_vs_truth']['value']:.3f}" in body
    for heading in ("Label noise", "Slices", "Model card", "Intended use", "Limitations", "random forest"):
        assert heading in body, heading
    gate = json.loads((clone / "reports/gate.json").read_text())
    assert ("is off" if not gate["enabled"] else "blessed this model" if gate["blessed"]
            else "did NOT bless") in gate_line
    assert "not recalibrated" in calibration_line
    temperature = metrics["calibration"]["options"]["temperature"]
    if "error" not in temperature:  # a small run's validation rows may be separable: then nothing is fitted
        assert f"T = {temperature['temperature']:.3f}" in calibration_line


def test_dvc_plots_render_every_plot_with_data_spanning_axes(clone):
    shown = json.loads(sh(["dvc", "plots", "show", "--json"], cwd=clone).stdout)["data"]
    names = ("seed_accuracy", "seed_accuracy_histogram", "kfold_accuracy", "roc", "precision_recall", "calibration",
             "threshold_sweep", "confusion")
    for name in names:
        assert shown[f"reports/plots/{name}.csv"][0]["type"] == "vega", name
        assert shown[f"reports/plots/{name}.png"][0]["type"] == "image", name
    encoding = shown["reports/plots/seed_accuracy.csv"][0]["content"]["encoding"]
    assert encoding["x"]["type"] == "quantitative" and encoding["y"]["scale"] == {"zero": False}
    rows = shown["reports/plots/seed_accuracy.csv"][0]["content"]["data"]["values"]
    assert sorted(int(r["seed"]) for r in rows) == list(range(SMALL["seeds"]))
    bins = (clone / "reports/plots/seed_accuracy_histogram.csv").read_text().splitlines()
    assert bins[0] == "bin_start,bin_end,seeds" and bins[1].startswith("0.7,0.71,") and len(bins) == 31


def exp_runs(clone: Path, name: str) -> list[tuple]:
    """The runs the track stage logged for DVC experiment ``name``."""
    return mlflow_rows(clone, "SELECT run_uuid FROM tags WHERE key = 'dvc.exp_name' AND value = ? AND run_uuid IN "
                              "(SELECT run_uuid FROM tags WHERE key = 'igfake.stage' AND value = 'track')", name)


def test_every_experiment_reaches_mlflow_even_when_dvc_restores_it_from_the_run_cache(clone):
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
    assert mlflow_rows(clone, "SELECT COUNT(*) FROM runs")[0][0] == before + TRACKED_RUNS
    assert len(exp_runs(clone, "epochs5")) == TRACKED_RUNS

    # Back to params trained before (the clone's own, which its first `dvc repro` ran) while the workspace
    # holds epochs5's outputs: DVC restores train from its run-cache, running no training code; track still
    # runs, because DVC never restores it from the run-cache.
    restored = sh(["dvc", "exp", "run", "--name", "restored", "-S", f"train.epochs={SMALL['epochs']}"], cwd=clone)
    assert "Stage 'train' is cached - skipping run" in restored.stdout + restored.stderr
    assert "Running stage 'track'" in restored.stdout
    assert len(exp_runs(clone, "restored")) == TRACKED_RUNS
    # The same params once more: nothing changed since the workspace's last run, so DVC runs no stage.
    same = sh(["dvc", "exp", "run", "--name", "same", "-S", f"train.epochs={SMALL['epochs']}"], cwd=clone)
    assert "Running stage" not in same.stdout and not exp_runs(clone, "same")

    # Sync: each experiment's runs get its own commit, which DVC makes only after the run, and the
    # experiment that ran nothing gets a parent run of its own, linked to the run it repeats.
    synced = sh(["igfake", "mlflow", "sync"], cwd=clone)
    assert "1 experiments that reproduced nothing new linked" in synced.stdout
    for name in ("epochs5", "restored", "same"):
        ref = sh(["git", "for-each-ref", "--format=%(objectname)", f"refs/exps/*/*/{name}"], cwd=clone).stdout
        commits = mlflow_rows(clone, "SELECT DISTINCT value FROM tags WHERE key = 'mlflow.source.git.commit' AND "
                                     "run_uuid IN (SELECT run_uuid FROM tags WHERE key = 'dvc.exp_name' AND value = ?)",
                              name)
        assert commits == [(ref.strip(),)], name
    (linked,) = exp_runs(clone, "same")
    (restored_parent,) = mlflow_rows(clone, "SELECT r.run_uuid FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
                                            "WHERE r.name = 'restored' AND t.key = 'igfake.kind' AND t.value = 'study'")
    tags = dict(mlflow_rows(clone, "SELECT key, value FROM tags WHERE run_uuid = ?", linked[0]))
    assert tags["igfake.same_results_as"] == restored_parent[0]
    accuracy = "SELECT value FROM latest_metrics WHERE key = 'accuracy' AND run_uuid = ?"
    assert mlflow_rows(clone, accuracy, linked[0]) == mlflow_rows(clone, accuracy, restored_parent[0])
    assert len(sh(["igfake", "mlflow", "sync"], cwd=clone).stdout) and len(exp_runs(clone, "same")) == 1  # idempotent


def test_queued_experiments_log_to_the_parent_repository_store(clone):
    """``dvc exp run --queue`` runs in .dvc/tmp/exps/...; its MLflow runs must still land in <repo>/mlflow.db."""
    # Explicit epochs: the run must not depend on which experiment the workspace holds.
    sh(["dvc", "exp", "run", "--queue", "--name", "seed100", "-S", "train.seed=100",
        "-S", f"train.epochs={SMALL['epochs']}"], cwd=clone)
    sh(["dvc", "exp", "run", "--run-all"], cwd=clone)
    assert len(exp_runs(clone, "seed100")) == TRACKED_RUNS
    assert not list((clone / ".dvc").rglob("mlflow.db"))
    (location,) = mlflow_rows(clone, "SELECT artifact_location FROM experiments WHERE name = 'igfake'")[0]
    assert location == (clone / "mlruns").resolve().as_uri()
    (source,) = mlflow_rows(clone, "SELECT DISTINCT value FROM tags WHERE key = 'mlflow.source.name' AND run_uuid IN "
                                   "(SELECT run_uuid FROM tags WHERE key = 'dvc.exp_name' AND value = 'seed100')")
    assert source == (str(clone / "dvc.yaml"),)  # the repository's pipeline, not the temporary copy


def test_exp_show_leads_with_the_headline_and_the_changed_params(clone):
    """What the README promises `dvc exp show` shows first, in this order."""
    header = sh(["dvc", "exp", "show", "--csv"], cwd=clone).stdout.splitlines()[0].split(",")
    first = header.index("accuracy")
    assert header[first:first + len(HEADLINE)] == list(HEADLINE)
    # Before it only DVC's own columns: the experiment's name, rev, type, date, parent, state, executor.
    assert set(header[:first]) <= {"Experiment", "rev", "typ", "Created", "parent", "State", "Executor"}
    changed = sh(["dvc", "exp", "show", "--csv", "--only-changed"], cwd=clone).stdout.splitlines()[0].split(",")
    assert changed.index("accuracy") < changed.index("train.epochs") and "crawl.page_size" not in changed
    shown = json.loads(sh(["dvc", "exp", "show", "--json"], cwd=clone).stdout)
    workspace = shown[0]["rev"] == "workspace" and shown[0]["data"]["metrics"]["reports/metrics.json"]["data"]
    assert list(workspace)[:4] == ["accuracy", "roc_auc", "seeds", "kfold"]


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


HEADLINE = ("accuracy", "roc_auc", "seeds.mean", "seeds.std", "seeds.min", "seeds.max", "seeds.n", "kfold.mean",
            "kfold.ci95_low", "kfold.ci95_high")


@pytest.fixture(scope="module")
def mlflow_server(clone):
    """The README's `mlflow ui` recipe, for real: a server on the clone's store."""
    import socket
    import subprocess
    import time
    import urllib.request

    from tests.conftest import run_env

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        ["mlflow", "server", "--backend-store-uri", f"sqlite:///{clone / 'mlflow.db'}", "--default-artifact-root",
         str(clone / "mlruns"), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        # Without MLflow 3's job runner: seven huey consumers for GenAI jobs (online scoring, trace archival)
        # that start ~30 s in, take both cores while later tests run and ~11 s to stop; no check here uses them.
        cwd=clone, env=run_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false"), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.5)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def rest(base: str, path: str, body: dict | None = None) -> dict:
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base}/api/2.0/mlflow/{path}", data=data,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=20) as r:
        return json.loads(r.read())


def test_mlflow_rest_api_finds_each_experiment_with_its_commit_dataset_artifacts_and_nested_runs(clone, mlflow_server):
    experiment = rest(mlflow_server, "experiments/get-by-name?experiment_name=igfake")["experiment"]
    assert {t["key"]: t["value"] for t in experiment["tags"]}["mlflow.experimentKind"] == "custom_model_development"
    ids = [experiment["experiment_id"]]
    for name in ("epochs5", "restored"):
        query = f"attributes.run_name = '{name}' AND tags.`igfake.kind` = 'study'"
        (parent,) = rest(mlflow_server, "runs/search", {"experiment_ids": ids, "filter": query})["runs"]
        run_id = parent["info"]["run_id"]
        tags = {t["key"]: t["value"] for t in parent["data"]["tags"]}
        ref = sh(["git", "for-each-ref", "--format=%(objectname)", f"refs/exps/*/*/{name}"], cwd=clone).stdout.strip()
        assert tags["dvc.exp_name"] == name and tags["mlflow.source.git.commit"] == ref
        (dataset,) = parent["inputs"]["dataset_inputs"]
        features = sh(["git", "show", f"{ref}:dvc.lock"], cwd=clone).stdout
        md5 = {o["path"]: o["md5"] for o in yaml.safe_load(features)["stages"]["featurize"]["outs"]}
        assert dataset["dataset"]["name"] == "features"
        assert dataset["dataset"]["digest"] == md5["data/features/features.parquet"]
        listed = {}
        for folder in ("reports", "plots", "tflite", "pipeline"):
            files = rest(mlflow_server, f"artifacts/list?run_id={run_id}&path={folder}").get("files", [])
            listed[folder] = {Path(f["path"]).name for f in files}
        assert {"metrics.json", "evaluation.json", "report.html", "model_card.md", "variance.json", "confusion.txt",
                "export.json"} <= listed["reports"]
        assert {"roc.png", "confusion.png", "seed_accuracy_histogram.png"} <= listed["plots"]
        assert listed["tflite"] >= {"model.tflite"} and listed["pipeline"] >= {"params.yaml", "dvc.lock"}
        children = rest(mlflow_server, "runs/search", {
            "experiment_ids": ids, "filter": f"tags.mlflow.parentRunId = '{run_id}'", "max_results": 100})["runs"]
        assert sorted(c["info"]["run_name"] for c in children) == sorted(
            [f"seed-{i}" for i in range(SMALL["seeds"])] + [f"split-r0f{i}" for i in range(SPLITS)]
            + [f"baseline-{b}" for b in BASELINES] + ["train-list"])


def test_mlflow_ui_lists_the_runs_by_name_in_a_real_browser(clone, mlflow_server):
    """Headless Chromium (Debian's package) on the MLflow UI: the experiment opens on its runs, by name."""
    playwright = pytest.importorskip("playwright.sync_api")
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.fail("Debian's chromium is not installed: .ci/run installs it (apt-get install -y chromium)")
    experiment = rest(mlflow_server, "experiments/get-by-name?experiment_name=igfake")["experiment"]
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page()
            # The link the track stage logs: MLflow 3's UI shows GenAI pages unless told it is model training.
            logged = json.loads((clone / "data/tracking/mlflow_run.json").read_text())
            assert logged["experiment_id"] == experiment["experiment_id"]
            page.goto(f"{mlflow_server}/{logged['ui']}")
            for name in ("epochs5", "restored", "same", "seed100"):
                page.get_by_text(name, exact=True).first.wait_for(timeout=60_000)
            assert "/runs" in page.url and "workflowType=machine_learning" in page.url
        finally:
            browser.close()


def test_shipped_model_is_logged_to_mlflow_with_named_features_and_an_example(clone):
    import mlflow
    import numpy as np
    import pyarrow.parquet as pq

    mlflow.set_tracking_uri(f"sqlite:///{clone / 'mlflow.db'}")
    models = mlflow.search_logged_models(experiment_ids=[mlflow.get_experiment_by_name("igfake").experiment_id],
                                         output_format="list")
    by_name = {}
    for m in models:
        by_name.setdefault(m.name, m)
    info = mlflow.models.get_model_info(by_name["model"].model_uri)
    spec = json.loads((clone / "data/features/feature_spec.json").read_text())
    names = [f["name"] for f in spec["features"]]
    assert info.signature.inputs.input_names() == names
    assert info.saved_input_example_info is not None
    # The logged pyfunc is the TFLite model, run by LiteRT: it scores the features as the phone would.
    features = pq.read_table(clone / "data/features/features.parquet").to_pandas()
    served = mlflow.pyfunc.load_model(by_name["model"].model_uri).predict(features[names].head(5).astype("float32"))
    assert served["p_authentic"].between(0, 1).all() and np.isfinite(served["p_authentic"]).all()
    keras_info = mlflow.models.get_model_info(by_name["keras_model"].model_uri)
    assert list(keras_info.signature.inputs.to_dict()[0]["tensor-spec"]["shape"]) == [-1, 16]


def test_forced_repro_gives_identical_data_and_metrics(clone):
    before = {p: (clone / p).read_bytes() for p in
              ("data/raw/profiles.jsonl", "data/raw/graph.jsonl", "data/interim/labelled.parquet",
               "data/features/features.parquet", "data/predictions/predictions.parquet", "models/model.keras",
               "data/predictions/splits.parquet", "reports/metrics.json", "reports/slices.json",
               "reports/variance.json", "reports/gate.json")}
    # Forced up to evaluate: every file above comes from crawl .. evaluate (export-tflite, train-list and
    # track write none of them), and all of those stages run again.
    forced = sh(["dvc", "repro", "-f", "evaluate"], cwd=clone).stdout
    for stage in (*DATA_STAGES, "train", "evaluate"):
        assert f"Running stage '{stage}'" in forced, stage
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

