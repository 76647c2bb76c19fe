"""Stage ``train``: the seed study, trained jointly, tracked in MLflow, and the model that ships.

Reads ``data/features/features.parquet`` and ``params.yaml`` sections ``train``, ``featurize``,
``evaluate`` (the decision threshold) and ``mlflow``. Splits the rows into a stratified, seeded
hold-out; fits ``train.seeds`` members (member k seeded ``train.seed + k``); logs one MLflow parent
run with one nested run per seed. Writes ``models/model.keras`` (raw features in, P(authentic) out)
and ``data/predictions/predictions.parquet`` (every row's split, label and per-member probability).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.model_selection import train_test_split

from pipeline import atomic, features, paths
from pipeline import metrics as M
from pipeline import model as model_lib
from pipeline.params import TrainParams, load_section
from pipeline.stages import run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StudyResult:
    preprocessing: model_lib.Preprocessing
    members: model_lib.Members
    test_mask: np.ndarray  # bool [N]
    member_probs: np.ndarray  # float32 [S, N], every row
    shipped_probs: np.ndarray  # float32 [N]: what the shipped model outputs


def holdout_mask(labels: np.ndarray, test_size: float, seed: int) -> np.ndarray:
    """A stratified, seeded hold-out: True for test rows."""
    rows = np.arange(len(labels))
    _, test_rows = train_test_split(rows, test_size=test_size, stratify=labels, random_state=seed)
    mask = np.zeros(len(labels), dtype=bool)
    mask[test_rows] = True
    return mask


def member_seeds(params: TrainParams) -> list[int]:
    return [params.seed + k for k in range(params.seeds)]


def run_study(x: np.ndarray, y: np.ndarray, params: TrainParams, log_columns: list[int]) -> StudyResult:
    """Split, fit every seed's member on the training rows, and score every row."""
    model_lib.make_deterministic(params.seed)
    test = holdout_mask(y, params.test_size, params.split_seed)
    pre = model_lib.fit_preprocessing(x[~test], log_columns if params.log_counts else [], params.standardise)
    z = pre.apply(x)
    cfg = model_lib.FitConfig(params.hidden_units, params.epochs, params.batch_size, params.learning_rate)
    members = model_lib.train_members(z[~test], y[~test], member_seeds(params), cfg)
    probs = model_lib.member_probabilities(members, z)
    shipped = probs.mean(axis=0) if params.ship == "ensemble" else probs[0]
    return StudyResult(preprocessing=pre, members=members, test_mask=test, member_probs=probs, shipped_probs=shipped)


def shipped_members(members: model_lib.Members, ship: str) -> model_lib.Members:
    """What export-tflite converts: every member (their mean) or member 0 alone."""
    return members if ship == "ensemble" else members.select([0])


def predictions_table(pks: np.ndarray, y: np.ndarray, result: StudyResult) -> pa.Table:
    columns = {
        "pk": pa.array(pks, pa.int64()),
        "label": pa.array(y, pa.int8()),
        "split": pa.array(np.where(result.test_mask, "test", "train")),
        "prob": pa.array(result.shipped_probs, pa.float32()),
    }
    for seed, probs in zip(result.members.seeds, result.member_probs, strict=True):
        columns[f"prob_seed_{seed}"] = pa.array(probs, pa.float32())
    return pa.table(columns)


def log_to_mlflow(params: TrainParams, experiment: str, threshold: float, result: StudyResult, y: np.ndarray,
                  data_md5: str) -> str:
    """One parent run with the aggregates and the shipped model's metrics; one nested run per seed."""
    import mlflow

    from pipeline import tracking

    tracking.setup(experiment)
    tags = tracking.run_tags("train") | {"igfake.data_md5": data_md5}
    y_test = y[result.test_mask]
    flat_params = dataclasses.asdict(params)
    accuracies = []
    with mlflow.start_run(run_name="train", tags=tags) as parent:
        mlflow.log_params(flat_params | {"threshold": threshold, "test_rows": int(result.test_mask.sum())})
        for seed, probs in zip(result.members.seeds, result.member_probs, strict=True):
            seed_metrics = M.classification_metrics(y_test, probs[result.test_mask], threshold)
            accuracies.append(seed_metrics["accuracy"])
            with mlflow.start_run(run_name=f"seed-{seed}", nested=True, tags=tags):
                mlflow.log_params(flat_params | {"member_seed": seed, "threshold": threshold})
                mlflow.log_metrics(seed_metrics)
        summary = M.summarize(accuracies)
        mlflow.log_metrics({f"seed_accuracy_{k}": float(v) for k, v in summary.items()})
        shipped = M.classification_metrics(y_test, result.shipped_probs[result.test_mask], threshold)
        mlflow.log_metrics(shipped)
        return parent.info.run_id


def main() -> None:
    def body() -> None:
        params: TrainParams = load_section("train", paths.PARAMS)
        feature_set = load_section("featurize", paths.PARAMS).feature_set
        threshold = load_section("evaluate", paths.PARAMS).threshold
        experiment = load_section("mlflow", paths.PARAMS).experiment
        table = pq.read_table(paths.FEATURES)
        x = features.to_matrix(table, feature_set)
        y = table.column("label").to_numpy().astype(np.float32)
        result = run_study(x, y, params, features.heavy_tailed_columns(feature_set))

        with atomic.atomic_path(paths.PREDICTIONS) as tmp:
            pq.write_table(predictions_table(table.column("pk").to_numpy(), y, result), tmp)
        with atomic.atomic_path(paths.KERAS_MODEL, suffix=".keras") as tmp:
            model_lib.shipped_model(shipped_members(result.members, params.ship), result.preprocessing).save(tmp)
        data_md5 = hashlib.md5(paths.FEATURES.read_bytes()).hexdigest()
        run_id = log_to_mlflow(params, experiment, threshold, result, y, data_md5)
        log.info("trained %d members; MLflow run %s", len(result.members.seeds), run_id)

    run("train", body)


if __name__ == "__main__":
    main()
