"""What the MLflow UI is told: the saved view of the runs table, the link, the parent run's description,
and `igfake mlflow ui`'s refusal of a bad port. (The UI itself, in Chromium: tests/e2e/test_pipeline.py.)"""

from __future__ import annotations

import json

import mlflow

from pipeline.tracking import runs
from tests.conftest import sh

HEADLINE = {"accuracy": 0.95, "roc_auc": 0.99, "seeds": {"mean": 0.9498, "std": 0.0122, "min": 0.915, "max": 0.965,
                                                         "n": 30},
            "kfold": {"mean": 0.94465, "ci_low": 0.93071, "ci_high": 0.95859}, "gate": {"blessed": 1, "judged": 1}}


def test_the_saved_view_is_on_the_experiment_and_names_only_metrics_the_parent_run_logs(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment_id = runs.setup("ui-test", root=tmp_path)
    tags = mlflow.get_experiment(experiment_id).tags
    view = json.loads(tags[f"mlflow.sharedViewState.{runs.VIEW_KEY}"])
    assert view["orderByKey"] == "metrics.`accuracy`" and view["orderByAsc"] is False
    assert view["searchFilter"] == "tags.`igfake.kind` = 'study'"
    metric_columns = [c.removeprefix("metrics.`").removesuffix("`") for c in view["selectedColumns"]
                      if c.startswith("metrics.")]
    # Each column is a metric the parent run carries: the headline's scalars, the seed summary and the
    # k-fold interval as track names them, and the verdict.
    logged = ({"accuracy", "roc_auc"} | {f"seed_accuracy_{k}" for k in HEADLINE["seeds"]}
              | set(runs.flat_metrics("kfold", HEADLINE["kfold"])) | set(runs.flat_metrics("gate", HEADLINE["gate"])))
    assert metric_columns[0] == "accuracy" and set(metric_columns) <= logged, metric_columns
    assert {"kfold.ci_low", "kfold.ci_high", "seed_accuracy_std", "gate.blessed"} <= set(metric_columns)
    link = runs.ui_url(experiment_id)
    assert link == (f"http://127.0.0.1:5000/#/experiments/{experiment_id}/runs?workflowType=machine_learning"
                    f"&viewStateShareKey={runs.VIEW_KEY}")


def test_the_parent_run_description_says_the_headline_in_one_sentence():
    blessed = {"judged": True, "blessed": True, "failed": [], "alpha": 0.05}
    assert runs.description(HEADLINE, blessed) == (
        "accuracy 0.950 on the hold-out; over 30 seed members 0.950 ± 0.012 (std); k-fold 0.945, 95% interval "
        "[0.931, 0.959]; quality gate: blessed. Expand the run for its seed, split and baseline runs.")
    # The interval is at the gate's level, 1 - compare.alpha.
    assert "k-fold 0.945, 90% interval [0.931, 0.959]" in runs.description(HEADLINE, blessed | {"alpha": 0.1})
    no_kfold = {k: v for k, v in HEADLINE.items() if k != "kfold"}
    assert "k-fold" not in runs.description(no_kfold, {"judged": False, "blessed": False})
    assert runs.description(no_kfold, {"judged": False, "blessed": False}).endswith(
        "quality gate: not judged. Expand the run for its seed, split and baseline runs.")


def test_mlflow_ui_refuses_a_port_that_is_not_one_in_one_line(tmp_path):
    refused = sh(["igfake", "mlflow", "ui", "--port", "70000"], cwd=tmp_path, check=False)
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.strip() == "igfake mlflow ui: --port 70000 is not a TCP port (1-65535)"


def test_what_ships_is_logged_by_number_and_the_prose_left_out():
    """The shipped model's redraw spread, the ECE floor and the cross-validated block become metrics a run can
    be sorted by; the cross-validated block's description is text, not a metric; without a k-fold study
    there is no cross_validated block and nothing of it is logged."""
    evaluation = {"seeds_shipped": {"accuracy_std": 0.0032, "members_shipped": 30},
                  "ece_floor": {"mean": 0.030, "p95": 0.042, "draws": 1000},
                  "cross_validated": {"rows": 1000, "from": "k-fold models", "ece": {"value": 0.012,
                                                                                    "ci95": [0.010, 0.026]}}}
    assert runs.steadiness_metrics(evaluation) == {
        "seeds_shipped.accuracy_std": 0.0032, "seeds_shipped.members_shipped": 30.0, "ece_floor.mean": 0.030,
        "ece_floor.p95": 0.042, "ece_floor.draws": 1000.0, "cross_validated.rows": 1000.0,
        "cross_validated.ece.value": 0.012, "cross_validated.ece.ci95_0": 0.010, "cross_validated.ece.ci95_1": 0.026}
    assert not any(k.startswith("cross_validated") for k in runs.steadiness_metrics(
        {k: v for k, v in evaluation.items() if k != "cross_validated"}))
