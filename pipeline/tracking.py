"""MLflow, set up the same way for every stage and every kind of run.

The store is ``sqlite:///<repo root>/mlflow.db`` (MLflow 3 refuses the file store) and artifacts go
to ``<repo root>/mlruns``, both absolute and both resolved from the parent repository, so runs made by
``dvc exp run --queue`` in ``.dvc/tmp/exps/...`` land beside workspace runs instead of being deleted
with the temporary workspace. ``MLFLOW_TRACKING_URI`` overrides the store.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import keras
import mlflow
import numpy as np

from pipeline import metrics, paths, study
from pipeline.params import BaselinesParams, TrainParams


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


def flat_params(params: TrainParams) -> dict[str, object]:
    """The params that shaped this run, flat: the active recipe, not the presets that were not used."""
    out: dict[str, object] = {k: getattr(params, k) for k in
                              ("seed", "seeds", "epochs", "batch_size", "learning_rate", "hidden_units", "preset",
                               "ship")}
    out |= {f"recipe.{k}": v for k, v in dataclasses.asdict(params.recipe).items()}
    out |= {f"split.{k}": v for k, v in dataclasses.asdict(params.split).items()}
    return out


def flat_metrics(prefix: str, tree: dict) -> dict[str, float]:
    """Nested numbers as MLflow metrics: {"a": {"b": 1}} -> {"prefix.a.b": 1.0}; lists get _0, _1 ..."""
    out: dict[str, float] = {}
    for key, value in tree.items():
        name = f"{prefix}.{key}"
        if isinstance(value, dict):
            out |= flat_metrics(name, value)
        elif isinstance(value, list):
            out |= {f"{name}_{i}": float(v) for i, v in enumerate(value)}
        else:
            out[name] = float(value)
    return out


def _fit_metrics(history, member: int) -> dict[str, float]:
    """Where member ``member`` stopped: its kept epoch and, with a validation slice, that epoch's loss."""
    out = {"best_epoch": float(history.best_epoch[member])}
    if np.isfinite(history.best_val_loss[member]):
        out["best_val_loss"] = float(history.best_val_loss[member])
    return out


def log_study(params: TrainParams, experiment: str, threshold: float, result: study.StudyResult, y: np.ndarray,
              data_md5: str, shipped_model: keras.Model) -> str:
    """One parent run (aggregates, decomposition, the shipped model's metrics, the model itself) and one
    nested run per seed of the fixed split and per k-fold split; returns the parent's run id."""
    from mlflow.models import infer_signature

    setup(experiment)
    tags = run_tags("train") | {"igfake.data_md5": data_md5}
    test = result.holdout.split.test
    base = flat_params(params) | {"threshold": threshold}
    with mlflow.start_run(run_name="train", tags=tags) as parent:
        mlflow.log_params(base | {"test_rows": len(test), "kfold_splits": len(result.kfold)})
        accuracies = []
        for i, (seed, probs) in enumerate(zip(result.members.seeds, result.holdout.probs, strict=True)):
            seed_metrics = metrics.classification_metrics(y[test], probs[test], threshold)
            accuracies.append(seed_metrics["accuracy"])
            with mlflow.start_run(run_name=f"seed-{seed}", nested=True, tags=tags | {"igfake.kind": "seed"}):
                mlflow.log_params(base | {"member_seed": seed, "split_name": "holdout"})
                mlflow.log_metrics(seed_metrics | _fit_metrics(result.holdout.history, i))
        for fold, fold_acc in zip(result.kfold, result.kfold_accuracy, strict=True):
            with mlflow.start_run(run_name=f"split-{fold.split.name}", nested=True,
                                  tags=tags | {"igfake.kind": "split"}):
                mlflow.log_params(base | {"split_name": fold.split.name})
                mlflow.log_metrics({f"accuracy_{k}": float(v) for k, v in metrics.summarize(fold_acc).items()}
                                   | {"best_epoch_mean": float(np.mean(fold.history.best_epoch))})
        mlflow.log_metrics({f"seed_accuracy_{k}": float(v) for k, v in metrics.summarize(accuracies).items()})
        mlflow.log_metrics(metrics.classification_metrics(y[test], result.shipped_probs[test], threshold))
        mlflow.log_metrics(flat_metrics("variance", result.variance))
        x_example = np.zeros((1, shipped_model.input_shape[-1]), np.float32)
        mlflow.keras.log_model(
            shipped_model, name="model",
            signature=infer_signature(x_example, np.zeros((1, 1), np.float32)),
            # Explicit requirements: inferring them imports and inspects the whole environment (~20x slower).
            pip_requirements=[f"tensorflow=={_version('tensorflow')}", f"keras=={_version('keras')}"],
        )
        return parent.info.run_id


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:  # tensorflow-cpu provides the tensorflow module
        return version(f"{package}-cpu")


def log_baselines(parent_run_id: str, experiment: str, params: BaselinesParams,
                  model_metrics: Mapping[str, Mapping[str, float]], run_params: Mapping[str, object],
                  data_md5: str) -> dict[str, str]:
    """One run per baseline, nested under the run ``parent_run_id``: its params and ``model_metrics[name]``.

    Self-contained: the parent need not be active (nesting is the ``mlflow.parentRunId`` tag), so
    whichever stage logs the parent can call this after it. Returns the run ids by baseline.
    """
    setup(experiment)
    tags = run_tags("train") | {"igfake.data_md5": data_md5, "igfake.kind": "baseline",
                                "mlflow.parentRunId": parent_run_id}
    run_ids = {}
    for name, values in model_metrics.items():
        with mlflow.start_run(run_name=f"baseline-{name}", tags=tags | {"igfake.model": name}) as run:
            mlflow.log_params(dict(run_params) | {"model": name, "member_seed": run_params.get("seed"),
                                                  **{f"baselines.{k}": v for k, v in
                                                     dataclasses.asdict(params).items() if k != "models"}})
            mlflow.log_metrics({k: float(v) for k, v in values.items()})
            run_ids[name] = run.info.run_id
    return run_ids
