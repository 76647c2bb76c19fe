"""Baselines in the MLP's own protocol: would a textbook model do as well?

Each baseline is fitted on exactly the rows each MLP member was fitted on (every split of the study:
the fixed hold-out and each repeated k-fold split), sees the same features, and is scored on the same
test rows, so its scores (``data/predictions/scores.parquet``) pair up split by split with the MLP's.
The validation slice stays unused here, as it is only early stopping's for the MLP: every model keeps
it clean for evaluate's threshold rule.

- ``logreg``: L2 logistic regression on the features as the MLP's preprocessing leaves them (log1p of
  the heavy-tailed counts under the stable recipe), standardised;
- ``forest``: a random forest on the raw features (trees do not care about monotone rescaling);
- ``gbdt``: gradient-boosted trees on the raw features, the strongest usual baseline for ~1,000 rows of
  tabular data. scikit-learn's ``HistGradientBoostingClassifier`` rather than LightGBM: the same
  histogram algorithm, already a dependency (no second native library to install and pin), and
  deterministic for a ``random_state``; on 1,000 rows x 16 features the two differ by noise, not by kind.
  Its configuration is small and fixed (``train.baselines.gbdt_*``), with no early stopping.

All are deterministic: the forest and the boosted trees are seeded with ``train.seed`` and reported as
that one member each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pipeline.core.params import BaselinesParams
from pipeline.core.vocabulary import FOREST, GBDT, LOGREG
from pipeline.training import predictions, study

# Which input each baseline takes: the MLP's preprocessed features, or the raw ones.
PREPROCESSED = {LOGREG: True, FOREST: False, GBDT: False}


def estimator(name: str, params: BaselinesParams, seed: int) -> ClassifierMixin:
    """A fresh, unfitted baseline ``name`` (one of :data:`pipeline.core.vocabulary.BASELINES`)."""
    if name == LOGREG:
        return make_pipeline(StandardScaler(), LogisticRegression(C=params.logreg_c, max_iter=5000))
    if name == FOREST:
        # One job: the machine is shared and 11 small fits take seconds; results do not depend on it.
        return RandomForestClassifier(n_estimators=params.forest_trees, random_state=seed, n_jobs=1)
    if name == GBDT:
        return HistGradientBoostingClassifier(
            max_iter=params.gbdt_rounds, learning_rate=params.gbdt_learning_rate,
            max_leaf_nodes=params.gbdt_max_leaf_nodes, min_samples_leaf=params.gbdt_min_samples_leaf,
            early_stopping=False, random_state=seed)
    raise ValueError(f"unknown baseline {name!r}")


@dataclass(frozen=True)
class BaselineFit:
    model: str
    seed: int
    probs: np.ndarray  # float64 [N]: P(authentic) for every row of the table, fitted on the split's train rows


def fit_split(name: str, params: BaselinesParams, seed: int, x_raw: np.ndarray, x_pre: np.ndarray,
              y: np.ndarray, train_rows: np.ndarray) -> BaselineFit:
    """Fit baseline ``name`` on ``train_rows`` and score every row.

    ``x_pre`` is the features after the split's MLP preprocessing (fitted on that split's training rows).
    """
    x = x_pre if PREPROCESSED[name] else x_raw
    model = estimator(name, params, seed).fit(x[train_rows], (y[train_rows] >= 0.5).astype(int))
    authentic = list(model.classes_).index(1)
    return BaselineFit(name, seed, model.predict_proba(x)[:, authentic].astype(np.float64))


def fit_all(params: BaselinesParams, seed: int, x_raw: np.ndarray, y: np.ndarray,
            splits: Sequence[tuple[np.ndarray, np.ndarray]]) -> dict[str, list[BaselineFit]]:
    """Every baseline on every split, in the splits' order; ``splits`` holds (train rows, preprocessed x)."""
    return {name: [fit_split(name, params, seed, x_raw, x_pre, y, train) for train, x_pre in splits]
            for name in params.models}


def study_splits(result: study.StudyResult, x: np.ndarray) -> list[tuple[study.Split, np.ndarray]]:
    """The study's splits, hold-out first, each with the features as that split's MLP preprocessing leaves them."""
    # Before the piecewise-linear encoding, if any: the baseline stays the textbook linear model.
    return [(fit.split, fit.preprocessing.apply(x, encode=False)) for fit in (result.holdout, *result.kfold)]


def run(params: BaselinesParams, seed: int, x: np.ndarray, y: np.ndarray,
        splits: Sequence[tuple[study.Split, np.ndarray]]) -> dict[str, list[BaselineFit]]:
    """Every baseline on every split (hold-out first), fitted on the split's training rows."""
    return fit_all(params, seed, x, y, [(split.train, x_pre) for split, x_pre in splits])


def scored(fits: dict[str, list[BaselineFit]], splits: Sequence[study.Split]) -> list[predictions.Scored]:
    """The baselines' P(authentic) on every split's test rows, in the MLP members' form (one member each)."""
    return [predictions.Scored(name, split.name, fit.seed, len(split.train) + len(split.valid), split.test, fit.probs)
            for name, model_fits in fits.items() for split, fit in zip(splits, model_fits, strict=True)]
