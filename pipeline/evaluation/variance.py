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

from pipeline.core.vocabulary import SHIPPED

HOLDOUT = "holdout"


def decompose(holdout_acc: np.ndarray, kfold_acc: np.ndarray | None, n_test: int, n_train: int,
              band: tuple[float, float] = (0.85, 0.95)) -> dict[str, Any]:
    """Take the accuracy spread apart (see the module docstring); all std are population std.

    ``kfold_acc`` is [splits, seeds]. The 95% interval of the mean uses the Nadeau-Bengio corrected
    variance, (1/J + n_test/n_train) * var(split means), because k-fold test sets overlap in training
    rows and the naive variance would claim far more certainty than J splits hold.
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
    split_means = kfold_acc.mean(axis=1)
    mean = float(kfold_acc.mean())
    j = len(split_means)
    corrected_se = float(np.sqrt((1 / j + n_test / n_train) * split_means.var(ddof=1))) if j > 1 else float("nan")
    out["kfold"] = {
        "splits": j,
        "n_seeds": int(kfold_acc.shape[1]),
        "mean": mean,
        "ci95": [mean - 1.96 * corrected_se, mean + 1.96 * corrected_se],
        "init_std": float(kfold_acc.std(axis=1).mean()),
        "split_std": float(split_means.std()),
        "binomial_se": float(np.sqrt(mean * (1 - mean) / n_test)),
        "total_std": float(kfold_acc.std()),
        "min": float(kfold_acc.min()),
        "max": float(kfold_acc.max()),
        "share_in_band": float(np.mean((kfold_acc >= band[0]) & (kfold_acc <= band[1]))),
    }
    return out


def of_model(results: pd.DataFrame, model: str) -> dict[str, Any]:
    """:func:`decompose` of one model's rows of the split results (members in seed order, splits in order)."""
    rows = results[results["model"] == model]
    holdout = rows[rows["split"] == HOLDOUT].sort_values("member_seed")
    kfold = rows[rows["split"] != HOLDOUT]
    matrix = (kfold.pivot(index="split", columns="member_seed", values="accuracy")
              .loc[list(dict.fromkeys(kfold["split"]))].to_numpy() if len(kfold) else None)
    return decompose(holdout["accuracy"].to_numpy(), matrix, n_test=int(holdout["test_rows"].iloc[0]),
                     n_train=int(holdout["train_rows"].iloc[0]))


def report(results: pd.DataFrame, shipped: str = SHIPPED) -> dict[str, Any]:
    """``reports/variance.json``: the shipped model's decomposition, each baseline's under ``baselines``."""
    others = [m for m in dict.fromkeys(results["model"]) if m != shipped]
    out = of_model(results, shipped)
    return out | ({"baselines": {m: of_model(results, m) for m in others}} if others else {})
