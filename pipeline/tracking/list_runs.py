"""MLflow for the audit's list-only model: a run nested under the track stage's parent run.

Logged by the ``track`` stage from what ``train-list`` wrote, not by ``train-list`` itself: DVC restores a
stage from its run-cache without running its code, so a stage that logged its own run would leave an
experiment whose list-only model was restored without one. The run carries the TFLite model and the audit
card as artifacts (what the audit runs), not a second logged Keras model beside the shipped one.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import mlflow

from pipeline.core.params import TrainListParams
from pipeline.tracking import runs


def log_list_model(params: TrainListParams, experiment: str, parent_run_id: str, quality: dict[str, Any],
                   card: dict[str, Any], artifacts: list[Path]) -> str:
    """Log the list-only model's params, its test quality (with intervals) and parity check, the shipped
    model's error rates the audit corrects for, and ``artifacts``, as a run named ``train-list`` under
    ``parent_run_id``; return its id."""
    runs.setup(experiment)
    tags = runs.run_tags("track") | runs.owner_tags() | {"igfake.kind": "list-model"}
    with mlflow.start_run(run_name="train-list", parent_run_id=parent_run_id, nested=True, tags=tags) as run:
        mlflow.log_params({f"train_list.{k}": v for k, v in dataclasses.asdict(params).items()}
                          | {"feature_set": card["list_feature_set"], "threshold": card["threshold"]})
        mlflow.log_metrics(runs.flat_metrics("list", quality))
        rates = card["shipped_rates"]
        mlflow.log_metrics(runs.flat_metrics("shipped_rates", {k: v for k, v in rates.items() if k != "from"}))
        mlflow.set_tag("igfake.shipped_rates_from", rates["from"])
        for path in artifacts:
            mlflow.log_artifact(str(path))
        return run.info.run_id
