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

from pipeline import atomic, features, paths, study
from pipeline import metrics as M
from pipeline import model as model_lib
from pipeline.params import TrainParams, load_section
from pipeline.stages import run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StudyResult:
    holdout: study.SplitFit  # the fixed split: what ships, what evaluate reports
    kfold_accuracy: np.ndarray  # [splits, seeds]: the repeated k-fold study (empty without repeats)
    kfold_splits: list[str]
    shipped_probs: np.ndarray  # float32 [N]: what the shipped model outputs
    variance: dict

    @property
    def members(self) -> model_lib.Members:
        return self.holdout.members


def holdout_mask(labels: np.ndarray, test_size: float, seed: int) -> np.ndarray:
    """The stratified, seeded hold-out as a mask: True for test rows."""
    mask = np.zeros(len(labels), dtype=bool)
    mask[study.holdout(labels, test_size, 0.0, seed).test] = True
    return mask


def member_seeds(params: TrainParams) -> list[int]:
    return [params.seed + k for k in range(params.seeds)]


def recipe_of(params: TrainParams) -> study.Recipe:
    r = params.recipe
    return study.Recipe(params.hidden_units, params.epochs, params.batch_size, params.learning_rate, r.log_counts,
                        r.standardise, r.validation_size, r.patience, r.class_weight)


def run_study(x: np.ndarray, y: np.ndarray, params: TrainParams, log_columns: list[int],
              threshold: float = 0.5) -> StudyResult:
    """The fixed hold-out for every seed, then the repeated k-fold study, then the decomposition."""
    model_lib.make_deterministic(params.seed)
    recipe, seeds, split = recipe_of(params), member_seeds(params), params.split
    fixed = study.fit_split(x, y, study.holdout(y, split.test_size, recipe.validation_size, split.seed), seeds,
                            recipe, log_columns)
    holdout_acc = study.accuracies(y, fixed.probs, fixed.split.test, threshold)
    folds = study.repeated_kfold(y, split.folds, split.repeats, recipe.validation_size, split.seed)
    kfold_acc = np.array([study.accuracies(y, f.probs, f.split.test, threshold)
                          for f in (study.fit_split(x, y, s, seeds, recipe, log_columns) for s in folds)])
    variance = study.decompose(holdout_acc, kfold_acc if folds else None, n_test=len(fixed.split.test),
                               n_train=len(fixed.split.train) + len(fixed.split.valid))
    shipped = fixed.probs.mean(axis=0) if params.ship == "ensemble" else fixed.probs[0]
    return StudyResult(fixed, kfold_acc, [f.name for f in folds], shipped, variance)


def shipped_members(members: model_lib.Members, ship: str) -> model_lib.Members:
    """What export-tflite converts: every member (their mean) or member 0 alone."""
    return members if ship == "ensemble" else members.select([0])


def predictions_table(pks: np.ndarray, y: np.ndarray, result: StudyResult) -> pa.Table:
    """Every row of the fixed split: its role, label, the shipped probability and each member's."""
    role = np.full(len(y), "train", dtype=object)
    role[result.holdout.split.valid] = "valid"
    role[result.holdout.split.test] = "test"
    columns = {
        "pk": pa.array(pks, pa.int64()),
        "label": pa.array(y, pa.int8()),
        "split": pa.array(role, pa.string()),
        "prob": pa.array(result.shipped_probs, pa.float32()),
    }
    for seed, probs in zip(result.members.seeds, result.holdout.probs, strict=True):
        columns[f"prob_seed_{seed}"] = pa.array(probs, pa.float32())
    return pa.table(columns)


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


def log_to_mlflow(params: TrainParams, experiment: str, threshold: float, result: StudyResult, y: np.ndarray,
                  data_md5: str, shipped_model) -> str:
    """One parent run (aggregates, decomposition, the shipped model's metrics, the model itself) and one
    nested run per seed of the fixed split and per k-fold split."""
    import mlflow
    from mlflow.models import infer_signature

    from pipeline import tracking

    tracking.setup(experiment)
    tags = tracking.run_tags("train") | {"igfake.data_md5": data_md5}
    test = result.holdout.split.test
    base = flat_params(params) | {"threshold": threshold}
    with mlflow.start_run(run_name="train", tags=tags) as parent:
        mlflow.log_params(base | {"test_rows": len(test), "kfold_splits": len(result.kfold_splits)})
        accuracies = []
        for seed, probs in zip(result.members.seeds, result.holdout.probs, strict=True):
            seed_metrics = M.classification_metrics(y[test], probs[test], threshold)
            accuracies.append(seed_metrics["accuracy"])
            with mlflow.start_run(run_name=f"seed-{seed}", nested=True, tags=tags | {"igfake.kind": "seed"}):
                mlflow.log_params(base | {"member_seed": seed, "split_name": "holdout"})
                mlflow.log_metrics(seed_metrics)
        for name, fold_acc in zip(result.kfold_splits, result.kfold_accuracy, strict=True):
            with mlflow.start_run(run_name=f"split-{name}", nested=True, tags=tags | {"igfake.kind": "split"}):
                mlflow.log_params(base | {"split_name": name})
                mlflow.log_metrics({f"accuracy_{k}": float(v) for k, v in M.summarize(fold_acc).items()})
        mlflow.log_metrics({f"seed_accuracy_{k}": float(v) for k, v in M.summarize(accuracies).items()})
        mlflow.log_metrics(M.classification_metrics(y[test], result.shipped_probs[test], threshold))
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
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:  # tensorflow-cpu provides the tensorflow module
        return version(f"{package}-cpu")


def main() -> None:
    def body() -> None:
        params: TrainParams = load_section("train", paths.PARAMS)
        feature_set = load_section("featurize", paths.PARAMS).feature_set
        threshold = load_section("evaluate", paths.PARAMS).threshold
        experiment = load_section("mlflow", paths.PARAMS).experiment
        table = pq.read_table(paths.FEATURES)
        x = features.to_matrix(table, feature_set)
        y = table.column("label").to_numpy().astype(np.float32)
        result = run_study(x, y, params, features.heavy_tailed_columns(feature_set), threshold)

        shipped = model_lib.shipped_model(shipped_members(result.members, params.ship), result.holdout.preprocessing)
        with atomic.atomic_path(paths.PREDICTIONS) as tmp:
            pq.write_table(predictions_table(table.column("pk").to_numpy(), y, result), tmp)
        model_lib.save_model(shipped, paths.KERAS_MODEL)
        atomic.write_json(paths.VARIANCE, result.variance)
        data_md5 = hashlib.md5(paths.FEATURES.read_bytes()).hexdigest()
        run_id = log_to_mlflow(params, experiment, threshold, result, y, data_md5, shipped)
        h = result.variance["holdout"]
        log.info("%d members on the hold-out: %.4f ± %.4f; %d k-fold splits; MLflow run %s", h["n_seeds"],
                 h["mean"], h["init_std"], len(result.kfold_splits), run_id)

    run("train", body)


if __name__ == "__main__":
    main()
