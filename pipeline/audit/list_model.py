"""The audit's list-only model: P(authentic) from what a follower list page carries about a follower.

It is the article's network (:mod:`pipeline.training.model`) on the ``follower_list`` features, trained on the
same labelled rows and the same split as the shipped model (train's training, validation and test rows,
``data/predictions/holdout.parquet``), so its test metrics sit beside the shipped model's. It ships as
TFLite with the same parity check, and its card (``models/audit.json``) says which features it reads, its
own threshold (``train_list.threshold``) and its test quality. How the shipped model errs at *its*
threshold is not here: evaluate chooses that threshold and records the rates beside it
(``models/decision.json``), so the list-only model never retrains when only evaluate changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import pyarrow as pa
from sklearn import metrics as skm

from pipeline import features
from pipeline.core.params import TrainListParams
from pipeline.training import model as model_lib

FEATURE_SET = "follower_list"


@dataclass(frozen=True)
class Rows:
    """Train's split of the labelled rows, as indices into them."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray


def split_of(labelled_pks: np.ndarray, holdout: pa.Table) -> Rows:
    """Train's split (``pk`` and ``split`` of ``holdout.parquet``), mapped onto the labelled rows by pk."""
    where = dict(zip(holdout.column("pk").to_pylist(), holdout.column("split").to_pylist(), strict=True))
    split = np.array([where.get(int(pk), "") for pk in labelled_pks])
    rows = {name: np.flatnonzero(split == name) for name in ("train", "valid", "test")}
    return Rows(**rows)


def fit_config(params: TrainListParams) -> model_lib.FitConfig:
    return model_lib.FitConfig(hidden_units=params.hidden_units, epochs=params.epochs, batch_size=params.batch_size,
                               learning_rate=params.learning_rate, patience=params.patience,
                               class_weight=params.class_weight)


def fit(x: np.ndarray, y: np.ndarray, rows: Rows, params: TrainListParams) -> tuple[keras.Model, np.ndarray]:
    """The shipped list-only model (members averaged; raw features in) and its P(authentic) for every row."""
    model_lib.make_deterministic(params.seed)
    pre = model_lib.fit_preprocessing(x[rows.train], [], True)
    z = pre.apply(x)
    validation = (z[rows.valid], y[rows.valid]) if len(rows.valid) else None
    members = model_lib.train_members(z[rows.train], y[rows.train], [params.seed + k for k in range(params.seeds)],
                                      fit_config(params), validation=validation)
    probs = model_lib.member_probabilities(members, z).mean(axis=0)
    return model_lib.shipped_model(members, pre), probs


def wilson(successes: int, n: int) -> list[float]:
    """The Wilson score 95% interval of a proportion."""
    if n == 0:
        return [0.0, 1.0]
    z = 1.959963984540054
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [float(centre - half), float(centre + half)]


def quality(y: np.ndarray, prob: np.ndarray, threshold: float, bootstrap: int, seed: int) -> dict[str, Any]:
    """Accuracy (Wilson interval) and ROC AUC (percentile bootstrap interval) on test rows."""
    y = np.asarray(y).astype(int)
    correct = int(np.sum((prob >= threshold) == (y == 1)))
    rng = np.random.default_rng(seed)
    aucs = []
    for _ in range(bootstrap):
        pick = rng.integers(0, len(y), len(y))
        if 0 < y[pick].sum() < len(pick):
            aucs.append(skm.roc_auc_score(y[pick], prob[pick]))
    return {
        "test_rows": len(y),
        "accuracy": correct / max(len(y), 1),
        "accuracy_ci95": wilson(correct, len(y)),
        "roc_auc": float(skm.roc_auc_score(y, prob)) if 0 < y.sum() < len(y) else float("nan"),
        "roc_auc_ci95": [float(np.percentile(aucs, 2.5)), float(np.percentile(aucs, 97.5))] if aucs else [],
        "threshold": threshold,
    }


def matrix(labelled: pa.Table) -> np.ndarray:
    """The list-only model's input for labelled (or any user-info) rows."""
    return features.to_matrix(features.compute(labelled.to_pylist(), FEATURE_SET), FEATURE_SET)


def audit_card(list_quality: dict[str, Any]) -> dict[str, Any]:
    """``models/audit.json``: what `igfake audit` needs of the list-only model beside its TFLite file (the
    shipped model's threshold and rates are in ``models/decision.json``)."""
    return {
        "list_feature_set": FEATURE_SET,
        "list_threshold": list_quality["threshold"],
        "list_model": {k: list_quality[k] for k in ("accuracy", "roc_auc", "test_rows")},
    }
