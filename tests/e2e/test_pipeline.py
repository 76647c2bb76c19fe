"""The whole pipeline, from a fresh clone, with small training params: what CI's reproduction check is.

One clone per module: ``dvc repro`` once (up to evaluate, then, with its own run as the gate's committed
baseline, the rest), then every check reads what that run left behind.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import sqlite3
from pathlib import Path

import pytest
import yaml

from pipeline.reporting import plot_registry
from tests.conftest import REPO, chromium, sh

pytestmark = pytest.mark.slow

# Small, but enough for `igfake compare`: 5 k-fold splits give the paired test 4 degrees of freedom, and
# 20 epochs leave the sweep's 5 clearly worse.
SMALL = {"seeds": 3, "epochs": 20}
SMALL_SEED = 0  # train.seed in params.yaml: the first member's seed
SPLIT = {"folds": 5, "repeats": 1}
SPLITS = SPLIT["folds"] * SPLIT["repeats"]
# params.yaml's train.baselines.models (the clone keeps them): one nested MLflow run each.
BASELINES = tuple(yaml.safe_load((REPO / "params.yaml").read_text())["train"]["baselines"]["models"])
# What track logs for one pipeline run: the parent, a run per seed, per k-fold split and per baseline, and
# the list-only model's run.
TRACKED_RUNS = 1 + SMALL["seeds"] + SPLITS + len(BASELINES) + 1
DATA_STAGES = ("crawl", "label-import", "featurize")
# Bounds a small run passes: its own run is the baseline, so what fails a small experiment is no_regression.
SMALL_GATE = {"min_accuracy": 0.8, "min_roc_auc": 0.9}
GIT_USER = ["-c", "user.name=igfake tests", "-c", "user.email=tests@localhost"]


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
    set_train_params(target, split=SPLIT, gate=SMALL_GATE, **SMALL)
    # Up to evaluate, then accept that run as the gate's baseline (committed, as a user does), so that the
    # small experiments below are judged against a run of their own kind.
    sh(["dvc", "repro", "evaluate"], cwd=target)
    sh(["igfake", "baseline"], cwd=target)
    sh(["git", "add", "params.yaml", "data/baseline"], cwd=target)
    sh(["git", *GIT_USER, "commit", "--quiet", "-m", "Accept the small run as the gate's baseline"], cwd=target)
    # The baseline is evaluate's dep alone: only evaluate re-runs before the stages that had not run yet.
    rest = sh(["dvc", "repro"], cwd=target).stdout
    assert "Running stage 'train'" not in rest and "Running stage 'evaluate'" in rest, rest
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
    from the committed full-size run's, whose split results are not in this cache, so the run is compared
    with the committed baseline: itself. The gate blessed it, so the report's exit status is 0."""
    out = sh(["igfake", "ci-report"], cwd=clone).stdout
    assert out.startswith("reports/ci.md: data stages: bit-identical; metrics against the committed run: "
                          "no detectable difference; quality gate: blessed")
    report = (clone / "reports/ci.md").read_text()
    assert "- data stages: **bit-identical**" in report and "- quality gate: **blessed**" in report
    assert "`data/predictions/splits.parquet`" in report and "differ from the committed lock" in report
    assert "not in this machine's DVC cache" in report and f"paired over {SPLITS} k-fold splits" in report
    assert "The gate's baseline is NOT the committed run's split results" in report
    for line in report.splitlines():
        if line.startswith("!["):
            assert (clone / "reports" / line.split("(")[1].rstrip(")")).is_file(), line


def test_pipeline_is_up_to_date_and_a_second_repro_runs_nothing(clone):
    assert "Data and pipelines are up to date" in sh(["dvc", "status"], cwd=clone).stdout
    again = sh(["dvc", "repro"], cwd=clone)
    assert "Running stage" not in again.stdout + again.stderr
    for stage in ("crawl", "label-import", "featurize", "train", "label-issues", "evaluate", "export-tflite",
                  "train-list", "track"):
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
    assert card["list_feature_set"] == "follower_list" and card["list_threshold"] == 0.5
    rates = json.loads((clone / "models/decision.json").read_text())["shipped_rates"]
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
    assert tags["igfake.gate"] == "blessed" and tags["igfake.gate.why"] == "every rule passed"
    assert logged["gate.blessed"] == 1 and logged["gate.judged"] == 1
    # Its TFLite model is a version of the registered model, tagged with the same verdict and the commit.
    version = json.loads((clone / "data/tracking/mlflow_run.json").read_text())["model_version"]
    assert version["name"] == "igfake" and version["uri"] == f"models:/igfake/{version['version']}"
    version_tags = dict(mlflow_rows(clone, "SELECT key, value FROM model_version_tags WHERE name = ? AND version = ?",
                                    "igfake", int(version["version"])))
    assert version_tags["igfake.gate"] == "blessed" and version_tags["git_commit"] == head
    assert mlflow_rows(clone, "SELECT run_id FROM model_versions WHERE name = ? AND version = ?", "igfake",
                       int(version["version"])) == [(parent,)]
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
    # One interval and one verdict for the same splits: the headline's k-fold interval is the gate's, and
    # evaluate's MLP-minus-forest comparison is `igfake compare`'s (A the forest, B the MLP).
    headline = json.loads((clone / "reports/metrics.json").read_text())
    judged = json.loads((clone / "reports/gate.json").read_text())["intervals"]["accuracy"]
    assert headline["kfold"] == {"mean": judged["mean"], "ci_low": judged["low"], "ci_high": judged["high"]}
    assert variance["kfold"]["ci"] == [judged["low"], judged["high"]]
    compared = json.loads(sh(["igfake", "compare", "--model", "forest", "--against", "mlp", "--json"],
                             cwd=clone).stdout)
    accuracy = next(m for m in compared["metrics"] if m["metric"] == "accuracy")
    ours = metrics["comparison"]["kfold"]["forest"]
    assert ours["ci"] == [accuracy["low"], accuracy["high"]] and ours["verdict"] == accuracy["verdict"]
    assert ours["mean_difference"] == accuracy["difference"] and ours["p_value"] == accuracy["p_value"]
    # The simulator's truth reaches evaluate: label noise is measured, not assumed.
    truth = metrics["truth"]
    assert 0 < truth["label_error_rate"]["value"] < 0.2
    assert truth["mlp"]["accuracy_vs_labels"]["value"] == pytest.approx(metrics["accuracy"])


def test_report_renders_offline_in_chromium_with_every_image(clone):
    """reports/report.html in a real browser with the network off: key numbers shown, every image decoded."""
    from playwright.sync_api import sync_playwright

    browser_path = chromium()
    metrics = json.loads((clone / "reports/evaluation.json").read_text())
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(browser_path),
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
    assert ("did not judge" if not gate["judged"] else "blessed this model" if gate["blessed"]
            else "did NOT bless") in gate_line
    assert "not recalibrated" in calibration_line
    temperature = metrics["calibration"]["options"]["temperature"]
    if "error" not in temperature:  # a small run's validation rows may be separable: then nothing is fitted
        assert f"T = {temperature['temperature']:.3f}" in calibration_line


def test_dvc_plots_render_every_plot_with_data_spanning_axes(clone):
    shown = json.loads(sh(["dvc", "plots", "show", "--json"], cwd=clone).stdout)["data"]
    for name in plot_registry.PLOTS:
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


def shown_experiments(clone: Path) -> dict[str, dict]:
    """Every experiment of `dvc exp show --json` by name: its metrics.json and params.yaml data."""
    shown = json.loads(sh(["dvc", "exp", "show", "--json"], cwd=clone).stdout)
    out = {}
    for row in shown:
        for e in row.get("experiments") or []:
            (rev,) = e["revs"]
            out[e.get("name")] = {"metrics": rev["data"]["metrics"]["reports/metrics.json"]["data"],
                                  "params": rev["data"]["params"]["params.yaml"]["data"]}
    return out


def version_of(clone: Path, experiment: str) -> dict[str, str]:
    """The registered model version of an experiment's run: its tags."""
    (version,) = mlflow_rows(clone, "SELECT version FROM model_version_tags WHERE key = 'dvc.exp_name' AND value = ?",
                             experiment)
    return dict(mlflow_rows(clone, "SELECT key, value FROM model_version_tags WHERE name = 'igfake' AND version = ?",
                            version[0])) | {"version": str(version[0])}


def test_every_experiment_reaches_mlflow_even_when_dvc_restores_it_from_the_run_cache(clone):
    before = mlflow_rows(clone, "SELECT COUNT(*) FROM runs")[0][0]
    # Worse than the baseline (the clone's own 20-epoch run): it completes all the same, with its verdict.
    sh(["dvc", "exp", "run", "--name", "epochs5", "-S", "train.epochs=5"], cwd=clone)
    short = shown_experiments(clone)["epochs5"]
    assert short["metrics"]["seeds"]["n"] == SMALL["seeds"]
    assert short["metrics"]["gate"] == {"blessed": 0, "judged": 1}  # a column of `dvc exp show`
    assert short["params"]["train"]["epochs"] == 5 and short["params"]["train"]["seeds"] == SMALL["seeds"]
    assert mlflow_rows(clone, "SELECT COUNT(*) FROM runs")[0][0] == before + TRACKED_RUNS
    assert len(exp_runs(clone, "epochs5")) == TRACKED_RUNS
    (parent,) = mlflow_rows(clone, "SELECT r.run_uuid FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid WHERE "
                                   "r.name = 'epochs5' AND t.key = 'igfake.kind' AND t.value = 'study'")
    logged = dict(mlflow_rows(clone, "SELECT key, value FROM latest_metrics WHERE run_uuid = ?", parent[0]))
    assert (logged["gate.blessed"], logged["gate.judged"]) == (0, 1)
    verdict = json.loads(sh(["git", "show", "refs/exps/" + exp_ref(clone, "epochs5") + ":reports/gate.json"],
                            cwd=clone).stdout)
    assert not verdict["blessed"] and "no_regression" in verdict["failed"]
    tags = version_of(clone, "epochs5")
    assert tags["igfake.gate"] == "not blessed" and "no_regression" in tags["igfake.gate.failed"]
    # Registering is not promoting: the champion moves only to a blessed model, and the refusal is one line.
    refused = sh(["igfake", "promote", "epochs5"], cwd=clone, check=False)
    assert refused.returncode == 2 and refused.stdout == ""
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith(f"igfake promote: error: epochs5: igfake version {tags['version']} is not blessed (")
    assert f"{verdict['failed'][0]}: " in line and line.endswith("; not promoted, no champion yet")

    # Back to params trained before (the clone's own, which its first `dvc repro` ran) while the workspace
    # holds epochs5's outputs: DVC restores train from its run-cache, running no training code; track still
    # runs, because DVC never restores it from the run-cache.
    restored = sh(["dvc", "exp", "run", "--name", "restored", "-S", f"train.epochs={SMALL['epochs']}"], cwd=clone)
    assert "Stage 'train' is cached - skipping run" in restored.stdout + restored.stderr
    assert "Running stage 'track'" in restored.stdout
    assert len(exp_runs(clone, "restored")) == TRACKED_RUNS
    blessed = version_of(clone, "restored")
    assert blessed["igfake.gate"] == "blessed"
    promoted = sh(["igfake", "promote", "restored"], cwd=clone).stdout.strip()
    assert promoted == f"models:/igfake@champion -> version {blessed['version']}: restored, blessed"
    assert mlflow_rows(clone, "SELECT version FROM registered_model_aliases WHERE alias = 'champion'") == [
        (int(blessed["version"]),)]
    # epochs5 is refused again, now naming the champion it leaves in place.
    refused = sh(["igfake", "promote", "epochs5"], cwd=clone, check=False).stderr
    assert refused.strip().endswith(f"not promoted, champion stays at version {blessed['version']}")
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
        if name != "same":  # and its model version (the experiment that ran nothing registered none)
            assert version_of(clone, name)["git_commit"] == ref.strip(), name
    (linked,) = exp_runs(clone, "same")
    (restored_parent,) = mlflow_rows(clone, "SELECT r.run_uuid FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
                                            "WHERE r.name = 'restored' AND t.key = 'igfake.kind' AND t.value = 'study'")
    tags = dict(mlflow_rows(clone, "SELECT key, value FROM tags WHERE run_uuid = ?", linked[0]))
    assert tags["igfake.same_results_as"] == restored_parent[0]
    accuracy = "SELECT value FROM latest_metrics WHERE key = 'accuracy' AND run_uuid = ?"
    assert mlflow_rows(clone, accuracy, linked[0]) == mlflow_rows(clone, accuracy, restored_parent[0])
    assert len(sh(["igfake", "mlflow", "sync"], cwd=clone).stdout) and len(exp_runs(clone, "same")) == 1  # idempotent


def documented_commands(page: str, heading: str) -> list[str]:
    """The first ```bash block under ``heading`` (a whole heading line) of ``page``, one command a line,
    verbatim (comments dropped)."""
    text = "\n" + (REPO / page).read_text()  # so that a heading on the first line starts a line too
    block = text.split(f"\n{heading}\n", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def documented_sweep() -> list[str]:
    """The commands of docs/experiments.md's Sweeps example."""
    return documented_commands("docs/experiments.md", "## Sweeps")


def exp_ref(clone: Path, name: str) -> str:
    (ref,) = sh(["git", "for-each-ref", "--format=%(refname)", f"refs/exps/*/*/{name}"], cwd=clone).stdout.split()
    return ref.removeprefix("refs/exps/")


def wait_for_the_queue(clone: Path, timeout: float = 900) -> str:
    import time

    deadline = time.monotonic() + timeout
    while True:
        status = sh(["dvc", "queue", "status"], cwd=clone).stdout
        if not any(word in status for word in (" Queued", " Running")):
            return status
        if time.monotonic() > deadline:
            sh(["dvc", "queue", "stop", "--kill"], cwd=clone, check=False)
            raise AssertionError(f"the queue did not finish:\n{status}")
        time.sleep(5)


def test_the_documented_sweep_and_a_parallel_queue_land_every_experiment_in_dvc_and_mlflow(clone):
    """docs/experiments.md's sweep, verbatim, with two more queued experiments (a seed sweep and one without k-fold
    splits): 4 queued, run two at a time by `dvc queue start -j 2`, in .dvc/tmp/exps/... Every one lands in
    `dvc exp show` with its verdict and in <repo>/mlflow.db (two track stages writing one SQLite store
    at once), with no run lost and none left RUNNING, and each registers its model version."""
    before_versions = mlflow_rows(clone, "SELECT COUNT(*) FROM model_versions")[0][0]
    # Explicit epochs: the runs must not depend on which experiment the workspace holds.
    sh(["dvc", "exp", "run", "--queue", "--name", "seed100", "-S", "train.seed=100",
        "-S", f"train.epochs={SMALL['epochs']}"], cwd=clone)
    sh(["dvc", "exp", "run", "--queue", "--name", "no-kfold", "-S", "train.split.repeats=0",
        "-S", f"train.epochs={SMALL['epochs']}"], cwd=clone)
    commands = documented_sweep()
    assert commands[0].startswith("dvc exp run -S") and "dvc queue start -j 2" in commands
    try:
        for command in commands:
            sh(shlex.split(command), cwd=clone)
        status = wait_for_the_queue(clone)
    finally:
        sh(["dvc", "queue", "stop", "--kill"], cwd=clone, check=False)
    assert status.count("Success") == 4 and "Failed" not in status, status
    sh(["igfake", "mlflow", "sync"], cwd=clone)
    shown = shown_experiments(clone)
    queued = ["seed100", "no-kfold"] + [name for name, e in shown.items()
                                        if e["params"]["train"]["learning_rate"] in (0.01, 0.0003)]
    assert len(queued) == 4, sorted(shown)
    for name in queued:
        assert set(shown[name]["metrics"]["gate"]) == {"blessed", "judged"}, name
        splits = 0 if name == "no-kfold" else SPLITS
        assert len(exp_runs(clone, name)) == 1 + SMALL["seeds"] + splits + len(BASELINES) + 1, name
        assert version_of(clone, name)["igfake.gate"] in ("blessed", "not blessed", "not judged"), name
    # Without k-fold splits the gate cannot judge: the run completes, says so, and has no kfold columns.
    assert shown["no-kfold"]["metrics"]["gate"] == {"blessed": 0, "judged": 0}
    assert "kfold" not in shown["no-kfold"]["metrics"]
    verdict = json.loads(sh(["git", "show", "refs/exps/" + exp_ref(clone, "no-kfold") + ":reports/gate.json"],
                            cwd=clone).stdout)
    assert verdict["reason"].startswith("this run has 0 k-fold split(s)")
    assert version_of(clone, "no-kfold")["igfake.gate"] == "not judged"
    assert mlflow_rows(clone, "SELECT COUNT(*) FROM model_versions")[0][0] == before_versions + 4
    assert mlflow_rows(clone, "SELECT status, COUNT(*) FROM runs WHERE status != 'FINISHED' GROUP BY status") == []
    assert "0 active" in sh(["dvc", "queue", "status"], cwd=clone).stdout  # no worker left behind
    # Queued runs land in the parent repository's store, not the temporary copy's.
    assert not list((clone / ".dvc").rglob("mlflow.db"))
    (location,) = mlflow_rows(clone, "SELECT artifact_location FROM experiments WHERE name = 'igfake'")[0]
    assert location == (clone / "mlruns").resolve().as_uri()
    (source,) = mlflow_rows(clone, "SELECT DISTINCT value FROM tags WHERE key = 'mlflow.source.name' AND run_uuid IN "
                                   "(SELECT run_uuid FROM tags WHERE key = 'dvc.exp_name' AND value = 'seed100')")
    assert source == (str(clone / "dvc.yaml"),)  # the repository's pipeline, not the temporary copy
    assert mlflow_rows(clone, "SELECT value FROM experiment_tags WHERE key = 'mlflow.experimentKind'") != []


def test_an_evaluate_only_experiment_trains_nothing_and_predict_and_audit_decide_at_its_threshold(clone, tmp_path):
    """A threshold rule chosen on validation rows: the experiment runs evaluate and track alone, and the
    threshold it reports in evaluation.json is the one `igfake predict` and `igfake audit` decide at."""
    from pipeline.audit import audit

    ran = sh(["dvc", "exp", "run", "--name", "fake-precision", "-S", "evaluate.threshold_rule=precision_fake",
              "-S", f"train.epochs={SMALL['epochs']}", "-S", "train.seed=0", "-S", "train.split.repeats=1"],
             cwd=clone).stdout
    assert [line.split("'")[1] for line in ran.splitlines() if line.startswith("Running stage")] == [
        "evaluate", "track"]
    ref = "refs/exps/" + exp_ref(clone, "fake-precision")
    reported = json.loads(sh(["git", "show", f"{ref}:reports/evaluation.json"], cwd=clone).stdout)["threshold"]
    assert reported["rule"] == "precision_fake" and reported["chosen_on"] == "valid"
    assert shown_experiments(clone)["fake-precision"]["metrics"]["threshold"] == reported["value"]
    # The experiment's files, as a user would take them (`dvc exp apply` would do it in the workspace).
    import dvc.api

    for path in ("models/model.tflite", "models/decision.json", "models/list_model.tflite", "models/audit.json"):
        (tmp_path / Path(path).name).write_bytes(dvc.api.read(path, repo=str(clone), rev=ref, mode="rb"))
    predicted = sh(["igfake", "predict", str(clone / "data/raw/profiles.jsonl"), "--model",
                    str(tmp_path / "model.tflite")], cwd=clone)
    assert f"(threshold {reported['value']:g})" in predicted.stderr
    rows = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert all(r["authentic"] == (r["p_authentic"] >= reported["value"]) for r in rows)
    models = audit.Models.load(tmp_path / "list_model.tflite", tmp_path / "model.tflite", tmp_path / "audit.json",
                               tmp_path / "decision.json")
    assert models.threshold == reported["value"]


def test_exp_show_leads_with_the_headline_and_the_changed_params(clone):
    """What docs/pipeline.md (evaluate) and README.md promise `dvc exp show` shows first, in this order."""
    header = sh(["dvc", "exp", "show", "--csv"], cwd=clone).stdout.splitlines()[0].split(",")
    first = header.index("accuracy")
    assert header[first:first + len(HEADLINE)] == list(HEADLINE)
    # Before it only DVC's own columns: the experiment's name, rev, type, date, parent, state, executor.
    assert set(header[:first]) <= {"Experiment", "rev", "typ", "Created", "parent", "State", "Executor"}
    changed = sh(["dvc", "exp", "show", "--csv", "--only-changed"], cwd=clone).stdout.splitlines()[0].split(",")
    assert changed.index("accuracy") < changed.index("train.epochs") and "crawl.page_size" not in changed
    shown = json.loads(sh(["dvc", "exp", "show", "--json"], cwd=clone).stdout)
    workspace = shown[0]["rev"] == "workspace" and shown[0]["data"]["metrics"]["reports/metrics.json"]["data"]
    assert list(workspace)[:5] == ["accuracy", "roc_auc", "seeds", "kfold", "gate"]
    # reports/metrics.json is the only DVC metric: no gate.json keys (`baseline.a`, `rules`, `intervals.*`).
    assert set(shown[0]["data"]["metrics"]) == {"reports/metrics.json"}


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
            "kfold.ci_low", "kfold.ci_high", "gate.blessed", "gate.judged")


@pytest.fixture(scope="module")
def mlflow_server(clone):
    """`igfake mlflow ui` as README.md says, for real: a server on the clone's store, on a free port."""
    import socket
    import subprocess
    import time
    import urllib.request

    from tests.conftest import run_env

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # It runs without MLflow 3's job runner: seven huey consumers for GenAI jobs (online scoring, trace
    # archival) that start ~30 s in, take both cores while later tests run and ~11 s to stop.
    output = clone.parent / "mlflow-ui.log"
    with output.open("w") as log:
        server = subprocess.Popen(["igfake", "mlflow", "ui", "--port", str(port)], cwd=clone, env=run_env(),
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not output.read_text().endswith("\n") and time.monotonic() < deadline:
            time.sleep(0.2)
        printed = output.read_text().splitlines()[0]
        logged = json.loads((clone / "data/tracking/mlflow_run.json").read_text())
        assert printed.startswith(f"MLflow UI: {base}/#/experiments/{logged['experiment_id']}/runs?"), printed
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


def test_mlflow_ui_opens_on_the_runs_table_with_the_headline_as_columns_in_a_real_browser(clone, mlflow_server,
                                                                                          tmp_path):
    """Headless Chromium (Debian's package) on the MLflow UI, with screenshots (kept under
    $IGFAKE_SCREENSHOTS, else the test's tmp dir): the link track logs opens the runs table on the pipeline
    runs, by name, sorted by accuracy, with the headline metrics as columns; from the home page, the
    experiment opens on its runs once the browser is on "Model training" (MLflow 3.17 keeps that choice in
    the browser, local storage ``mlflow.workflowType_v1``; the experiment's kind tag does not decide)."""
    playwright = pytest.importorskip("playwright.sync_api")
    browser_path = chromium()
    shots = Path(os.environ.get("IGFAKE_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    experiment = rest(mlflow_server, "experiments/get-by-name?experiment_name=igfake")["experiment"]
    logged = json.loads((clone / "data/tracking/mlflow_run.json").read_text())
    assert logged["experiment_id"] == experiment["experiment_id"]
    # A full URL, on the host and port of `igfake mlflow ui` (this server runs on another port).
    assert logged["ui"].startswith("http://127.0.0.1:5000/#/experiments/" + experiment["experiment_id"] + "/runs?")
    accuracy = {}
    for name in ("epochs5", "restored", "same", "seed100"):
        query = f"attributes.run_name = '{name}' AND tags.`igfake.kind` = 'study'"
        (run,) = rest(mlflow_server, "runs/search", {"experiment_ids": [experiment["experiment_id"]],
                                                     "filter": query})["runs"]
        accuracy[name] = {m["key"]: m["value"] for m in run["data"]["metrics"]}["accuracy"]
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(browser_path), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            # Wide: the table renders only the columns in view (MLflow's assistant panel takes a third).
            page = browser.new_page(viewport={"width": 2400, "height": 1000})
            page.goto(logged["ui"].replace("http://127.0.0.1:5000", mlflow_server))
            for name in accuracy:
                page.get_by_text(name, exact=True).first.wait_for(timeout=60_000)
            page.screenshot(path=shots / "mlflow-runs-table.png")
            headers = page.locator("[role=columnheader]").all_inner_texts()
            assert {"Run Name", "accuracy", "roc_auc", "seed_accuracy_mean", "gate.blessed"} <= set(headers), headers
            assert "/runs" in page.url and "orderByKey=metrics.%60accuracy%60" in page.url
            # Pipeline runs only (no seed runs), best accuracy first.
            rows = page.locator("[role=row] a").all_inner_texts()
            names = [n for n in rows if n in accuracy or n.startswith("seed-")]
            listed = [n for n in names if n in accuracy]
            assert not [n for n in names if n.startswith("seed-")] and len(listed) == len(accuracy), names
            assert [accuracy[n] for n in listed] == sorted(accuracy.values(), reverse=True), (listed, accuracy)
            # From the home page: once on "Model training", the experiment opens on its runs.
            fresh = browser.new_page(viewport={"width": 1600, "height": 900})
            fresh.goto(mlflow_server + "/")
            fresh.get_by_text("Model training").first.click(force=True)
            fresh.get_by_role("link", name="igfake").first.click()
            fresh.wait_for_url("**/runs?**", timeout=60_000)
            fresh.get_by_text("epochs5", exact=True).first.wait_for(timeout=60_000)
            fresh.screenshot(path=shots / "mlflow-home-to-runs.png")
            assert "workflowType=machine_learning" in fresh.url
        finally:
            browser.close()
    print(f"screenshots: {shots}")


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
    # What an app loads: the champion (promoted above), with the threshold it ships with.
    champion = "models:/igfake@champion"
    info = mlflow.models.get_model_info(champion)
    spec = json.loads((clone / "data/features/feature_spec.json").read_text())
    names = [f["name"] for f in spec["features"]]
    assert info.signature.inputs.input_names() == names
    assert info.saved_input_example_info is not None
    # The logged pyfunc is the TFLite model, run by LiteRT: it scores the features as the phone would.
    features = pq.read_table(clone / "data/features/features.parquet").to_pandas()
    served = mlflow.pyfunc.load_model(champion).predict(features[names].head(50).astype("float32"))
    assert served["p_authentic"].between(0, 1).all() and np.isfinite(served["p_authentic"]).all()
    local = Path(mlflow.artifacts.download_artifacts(champion))
    threshold = json.loads((local / "artifacts" / "decision.json").read_text())["threshold"]
    assert (served["authentic"] == (served["p_authentic"] >= threshold)).all()
    assert len(set(served["authentic"])) == 2  # both decisions among 50 profiles: the threshold decided
    keras_info = mlflow.models.get_model_info(by_name["keras_model"].model_uri)
    assert list(keras_info.signature.inputs.to_dict()[0]["tensor-spec"]["shape"]) == [-1, 16]


def test_forced_repro_gives_identical_data_and_metrics(clone):
    before = {p: (clone / p).read_bytes() for p in
              ("data/raw/profiles.jsonl", "data/raw/graph.jsonl", "data/interim/labelled.parquet",
               "data/features/features.parquet", "data/predictions/predictions.parquet", "models/model.keras",
               "data/predictions/splits.parquet", "reports/metrics.json", "reports/slices.json",
               "reports/variance.json", "reports/gate.json", "models/decision.json")}
    # Forced up to evaluate: every file above comes from crawl .. evaluate (export-tflite, train-list and
    # track write none of them), and all of those stages run again.
    forced = sh(["dvc", "repro", "-f", "evaluate"], cwd=clone).stdout
    for stage in (*DATA_STAGES, "train", "evaluate"):
        assert f"Running stage '{stage}'" in forced, stage
    for path, content in before.items():
        assert (clone / path).read_bytes() == content, path


def test_a_failing_gate_stops_nothing_but_promotion_and_ci(clone):
    """Last: it leaves the clone with a strict gate. A bound the model cannot reach is an evaluate-only change:
    the run completes (only evaluate and track re-run; the TFLite model is still there), the verdict names
    the rule, promote refuses the model, and the CI report is written and exits 1."""
    set_train_params(clone, gate={"enabled": True, "min_accuracy": 0.999})
    tflite = (clone / "models/model.tflite").read_bytes()
    ran = sh(["dvc", "repro"], cwd=clone).stdout
    assert [line.split("'")[1] for line in ran.splitlines() if line.startswith("Running stage")] == [
        "evaluate", "track"]
    gate = json.loads((clone / "reports/gate.json").read_text())
    assert gate["judged"] and not gate["blessed"] and "min_accuracy" in gate["failed"]
    assert json.loads((clone / "reports/metrics.json").read_text())["gate"] == {"blessed": 0, "judged": 1}
    assert (clone / "models/model.tflite").read_bytes() == tflite
    refused = sh(["igfake", "promote"], cwd=clone, check=False)
    (line,) = refused.stderr.strip().splitlines()
    assert refused.returncode == 2 and line.startswith("igfake promote: error: workspace (run ")
    assert "is not blessed (min_accuracy: k-fold accuracy 0." in line and "lower end < 0.999" in line
    report = sh(["igfake", "ci-report"], cwd=clone, check=False)
    assert report.returncode == 1 and "- quality gate: **NOT blessed**" in (clone / "reports/ci.md").read_text()
    assert report.stderr.strip().splitlines()[-1].startswith("igfake ci-report: the model is not blessed (min_accuracy")


def documented_compare() -> list[str]:
    """The commands of docs/comparing.md's first example."""
    return documented_commands("docs/comparing.md", "# Comparing runs")


def exp_ref_or_none(clone: Path, name: str) -> str | None:
    refs = sh(["git", "for-each-ref", "--format=%(refname)", f"refs/exps/*/*/{name}"], cwd=clone).stdout.split()
    return refs[0] if refs else None


def test_the_documented_recipe_shows_a_sweep_in_15_columns_headline_first_changed_params_visible(clone):
    """docs/experiments.md's `dvc exp show` line, verbatim, on its two-value sweep (the two learning rates): at most 15
    columns (name, headline, the changed param), nothing elided in a 200-column terminal. Last in the
    module: it removes every other experiment first."""
    shown = shown_experiments(clone)
    sweep = [n for n, e in shown.items() if e["params"]["train"]["learning_rate"] in (0.01, 0.0003)]
    others = [n for n in shown if n not in sweep and exp_ref_or_none(clone, n)]
    assert len(sweep) == 2, sorted(shown)
    if others:
        sh(["dvc", "exp", "remove", *others], cwd=clone)
    (recipe,) = [c for c in documented_sweep() if c.startswith("dvc exp show")]
    header = sh([*shlex.split(recipe), "--csv"], cwd=clone).stdout.splitlines()[0].split(",")
    columns = [c for c in header if c not in ("rev", "typ", "parent", "State", "Executor")]  # CSV-only columns
    assert len(columns) <= 15 and columns[0] == "Experiment", columns
    assert columns[1:5] == ["accuracy", "roc_auc", "seeds.mean", "seeds.std"], columns
    assert "train.learning_rate" in columns and "train.epochs" not in columns, columns
    assert not [c for c in columns if "/" in c or c in ("balanced_accuracy", "log_loss", "Created")], columns
    table = sh(shlex.split(recipe), cwd=clone, COLUMNS="200").stdout
    assert "…" not in table and "train.learning_rate" in table, table


def test_the_documented_compare_examples_run_verbatim(clone):
    """Each line of docs/comparing.md's first block, with its placeholder `my-experiment` as one of the
    documented sweep's experiments, once the workspace's run is committed (so main's own results are in the
    cache). Last in the module: the commit starts a new experiment baseline."""
    (experiment, _) = sorted(n for n, e in shown_experiments(clone).items()
                             if e["params"]["train"]["learning_rate"] in (0.01, 0.0003))
    sh(["git", "add", "dvc.lock"], cwd=clone)
    sh(["git", *GIT_USER, "commit", "--quiet", "--allow-empty", "-m", "Accept the small run"], cwd=clone)
    commands = documented_compare()
    assert "igfake compare main my-experiment" in commands and len(commands) >= 4, commands
    for command in commands:
        out = sh(shlex.split(command.replace("my-experiment", experiment)), cwd=clone)
        if "--json" in command:
            assert json.loads(out.stdout)["verdict"] in ("better", "worse", "no detectable difference", "mixed")
        else:
            assert out.stdout.startswith("## `") and "paired over" in out.stdout, (command, out.stdout)
    against = sh(["igfake", "compare", "main", experiment, "--json"], cwd=clone)
    assert json.loads(against.stdout)["paired"] and against.stderr.strip() == ""  # main's own, from the cache
