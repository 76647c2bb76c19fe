"""MLflow for the audit's list-only model: one run per ``train-list``, beside train's runs.

Kept apart from :mod:`pipeline.tracking` (the seed study's runs) but set up by it, so both land in the
same store and experiment with the same tags. The run carries the TFLite model and the audit card as
artifacts (what the audit runs), not a second logged Keras model beside the shipped one.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import mlflow

from pipeline import tracking
from pipeline.params import TrainListParams


def log_list_model(params: TrainListParams, experiment: str, quality: dict[str, Any], card: dict[str, Any],
                   artifacts: list[Path]) -> str:
    """Log the list-only model's params, its test quality (with intervals) and parity check, the shipped
    model's error rates the audit corrects for, and ``artifacts``; return the run id."""
    tracking.setup(experiment)
    with mlflow.start_run(run_name="train-list", tags=tracking.run_tags("train-list")) as run:
        mlflow.log_params({f"train_list.{k}": v for k, v in dataclasses.asdict(params).items()}
                          | {"feature_set": card["list_feature_set"], "threshold": card["threshold"]})
        mlflow.log_metrics(tracking.flat_metrics("list", quality))
        rates = card["shipped_rates"]
        mlflow.log_metrics(tracking.flat_metrics("shipped_rates", {k: v for k, v in rates.items() if k != "from"}))
        mlflow.set_tag("igfake.shipped_rates_from", rates["from"])
        for path in artifacts:
            mlflow.log_artifact(str(path))
        return run.info.run_id
