"""MLflow, set up the same way for every stage and every kind of run.

The store is ``sqlite:///<repo root>/mlflow.db`` (MLflow 3 refuses the file store) and artifacts go
to ``<repo root>/mlruns``, both absolute and both resolved from the parent repository, so runs made by
``dvc exp run --queue`` in ``.dvc/tmp/exps/...`` land beside workspace runs instead of being deleted
with the temporary workspace. ``MLFLOW_TRACKING_URI`` overrides the store.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import mlflow

from pipeline import paths


def tracking_uri(root: Path | None = None) -> str:
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{(root or paths.tracking_root()) / 'mlflow.db'}"


def artifact_location(root: Path | None = None) -> str:
    return ((root or paths.tracking_root()) / "mlruns").resolve().as_uri()


def setup(experiment: str, root: Path | None = None) -> str:
    """Point MLflow at the project's store and experiment; return the experiment id."""
    mlflow.set_tracking_uri(tracking_uri(root))
    existing = mlflow.get_experiment_by_name(experiment)
    if existing is not None:
        experiment_id = existing.experiment_id
    else:
        try:
            experiment_id = mlflow.create_experiment(experiment, artifact_location=artifact_location(root))
        except mlflow.exceptions.MlflowException:  # a parallel queued run created it first
            experiment_id = mlflow.get_experiment_by_name(experiment).experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def git_commit(cwd: Path | None = None) -> str | None:
    """The commit the run's code comes from: DVC's baseline under ``dvc exp run``, else HEAD."""
    if os.environ.get("DVC_EXP_BASELINE_REV"):
        return os.environ["DVC_EXP_BASELINE_REV"]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd or paths.ROOT, capture_output=True,
                             text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def run_tags(stage: str) -> dict[str, str]:
    """Tags every run carries: where its code came from and, under ``dvc exp run``, which experiment."""
    tags = {"igfake.stage": stage}
    commit = git_commit()
    if commit:
        tags["mlflow.source.git.commit"] = commit
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc.exp_name"] = os.environ["DVC_EXP_NAME"]
    return tags
