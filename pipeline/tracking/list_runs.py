"""MLflow for the audit's list-only model: a run nested under the track stage's parent run.

Logged by the ``track`` stage from what ``train-list`` wrote, not by ``train-list`` itself: DVC restores a
stage from its run-cache without running its code, so a stage that logged its own run would leave an
experiment whose list-only model was restored without one. The run carries the TFLite model and the audit
card as artifacts (what the audit runs), not a second logged Keras model beside the shipped one.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from pipeline.core.params import TrainListParams
from pipeline.tracking import runs, store


@store.reported()
def log_list_model(params: TrainListParams, experiment: str, parent_run_id: str, quality: dict[str, Any],
                   card: dict[str, Any], decision: dict[str, Any], artifacts: list[Path]) -> str:
    """Log the list-only model's params, its test quality (with intervals) and parity check, the shipped
    model's error rates at its threshold that the audit corrects for (``decision``, from
    ``models/decision.json``), and ``artifacts``, as a run named ``train-list`` under ``parent_run_id``, in
    one batch; return its id."""
    runs.setup(experiment)
    tags = runs.run_tags("track") | runs.owner_tags() | {"igfake.kind": "list-model"}
    rates = decision["shipped_rates"]
    with mlflow.start_run(run_name="train-list", parent_run_id=parent_run_id, nested=True, tags=tags) as run:
        logged = ({f"train_list.{k}": v for k, v in dataclasses.asdict(params).items()}
                  | {"feature_set": card["list_feature_set"], "shipped_threshold": decision["threshold"]})
        values = (runs.flat_metrics("list", quality)
                  | runs.flat_metrics("shipped_rates", {k: v for k, v in rates.items() if k != "from"}))
        now = round(time.time() * 1000)
        store.retrying(MlflowClient().log_batch)(
            run.info.run_id, metrics=[Metric(k, float(v), now, 0) for k, v in values.items()],
            params=[Param(k, str(v)) for k, v in logged.items()],
            tags=[RunTag("igfake.shipped_rates_from", rates["from"])])
        runs.log_artifacts({"": artifacts})
        return run.info.run_id
