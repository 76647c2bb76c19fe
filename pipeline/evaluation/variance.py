"""The seed-variance decomposition: how good is the model really, and how much of the swing is luck?

The article reported one run (94.8%) and a shrug ("fluctuate between ~85-95%"). ``reports/variance.json``
takes the accuracy spread of the split results (:mod:`.splits`, at the shipped threshold) apart:

- **init**: the spread over seeds (initialisation and shuffling) with the split held fixed;
- **split**: the spread over repeated stratified k-fold splits, seeds averaged out;
- **binomial**: the standard error a test set of that size has by itself, sqrt(p(1-p)/n);
- **total**: the spread over every (split, seed) run.

Each baseline gets the same decomposition (one member, so no seed spread) under ``baselines``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.vocabulary import HOLDOUT, SHIPPED
from pipeline.evaluation import intervals


def decompose(holdout_acc: np.ndarray, kfold_acc: np.ndarray | None, *, n_test: int, kfold_ratio: float, alpha: float,
              band: tuple[float, float] = (0.85, 0.95)) -> dict[str, Any]:
    """Take the accuracy spread apart (see the module docstring); all std are population std.

    ``kfold_acc`` is [splits, seeds]; ``kfold_ratio`` its splits' n_test / n_train. The k-fold mean and its
    (1 - alpha) interval are :func:`pipeline.evaluation.intervals.corrected_interval` of the split means,
    the same the gate and ``igfake compare`` compute.
    """
    holdout_acc = np.asarray(holdout_acc, float)
    out: dict[str, Any] = {
        "holdout": {
            "n_seeds": int(holdout_acc.size),
            "test_rows": int(n_test),
            "mean": float(holdout_acc.mean()),
            "init_std": float(holdout_acc.std()),
            "binomial_se": float(np.sqrt(holdout_acc.mean() * (1 - holdout_acc.mean()) / n_test)),
            "min": float(holdout_acc.min()),
            "max": float(holdout_acc.max()),
            "share_in_band": float(np.mean((holdout_acc >= band[0]) & (holdout_acc <= band[1]))),
        },
        "band": list(band),
    }
    if kfold_acc is None or np.size(kfold_acc) == 0:
        return out
    kfold_acc = np.asarray(kfold_acc, float)
    split_means = intervals.seed_means(kfold_acc)
    j = len(split_means)
    if j > 1:
        interval = intervals.corrected_interval(split_means, kfold_ratio, alpha)
        mean, ci = interval.mean, [interval.low, interval.high]
    else:  # one split: a mean and no interval (the gate does not judge such a run either)
        mean, ci = float(split_means.mean()), [float("nan"), float("nan")]
    out["kfold"] = {
        "splits": j,
        "n_seeds": int(kfold_acc.shape[1]),
        "mean": mean,
        "ci": ci,
        "level": 1 - alpha,
        "init_std": float(kfold_acc.std(axis=1).mean()),
        "split_std": float(split_means.std()),
        "binomial_se": float(np.sqrt(mean * (1 - mean) / n_test)),
        "total_std": float(kfold_acc.std()),
        "min": float(kfold_acc.min()),
        "max": float(kfold_acc.max()),
        "share_in_band": float(np.mean((kfold_acc >= band[0]) & (kfold_acc <= band[1]))),
    }
    return out


def of_model(results: pd.DataFrame, model: str, alpha: float) -> dict[str, Any]:
    """:func:`decompose` of one model's rows of the split results (members in seed order, splits in order)."""
    rows = results[results["model"] == model]
    holdout = rows[rows["split"] == HOLDOUT].sort_values("member_seed")
    kfold = rows[rows["split"] != HOLDOUT]
    matrix, ratio = None, float("nan")  # no k-fold splits (train.split.repeats: 0): the hold-out alone
    if len(kfold):
        matrix = intervals.seed_matrix(kfold, "accuracy").to_numpy()
        per_split = kfold.drop_duplicates("split")
        ratio = intervals.test_train_ratio(per_split["test_rows"], per_split["train_rows"])
    return decompose(holdout["accuracy"].to_numpy(), matrix, n_test=int(holdout["test_rows"].iloc[0]),
                     kfold_ratio=ratio, alpha=alpha)


def report(results: pd.DataFrame, alpha: float, shipped: str = SHIPPED) -> dict[str, Any]:
    """``reports/variance.json``: the shipped model's decomposition, each baseline's under ``baselines``."""
    others = [m for m in dict.fromkeys(results["model"]) if m != shipped]
    out = of_model(results, shipped, alpha)
    return out | ({"baselines": {m: of_model(results, m, alpha) for m in others}} if others else {})
