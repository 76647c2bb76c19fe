"""What evaluate reports: the shipped model's test metrics beside the per-seed distribution.

Everything is computed once, here, from the predictions table train wrote; the stage only writes it
out: ``reports/metrics.json``, the article's confusion printout and DVC's plot data (and their PNGs).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline import metrics, plots, predictions
from pipeline.vocabulary import AUTHENTIC, FAKE, LABEL_VALUE


@dataclass(frozen=True)
class Evaluation:
    report: dict[str, Any]  # reports/metrics.json
    seed_accuracy: dict[int, float]  # test accuracy of each member, by member seed
    confusion: np.ndarray  # 2x2, rows actual (authentic, fake), columns predicted
    roc: list[dict[str, float]]
    actual: np.ndarray  # class name of every test row
    predicted: np.ndarray  # the shipped model's class for every test row


# reports/metrics.json leads with these, in this order, and `dvc exp show` shows its keys in file order:
# what a reader compares experiments by comes first.
HEADLINE = ("accuracy", "roc_auc", "seeds", "kfold")


def evaluate(table: pd.DataFrame, threshold: float, variance: dict[str, Any]) -> Evaluation:
    """Metrics of the shipped model (``prob``) on the test rows, the seed members' accuracy summary, and
    the repeated k-fold study's mean and 95% interval (from train's ``variance``)."""
    test = table[table["split"] == "test"]
    y, prob = test["label"].to_numpy(), test["prob"].to_numpy()
    seed_accuracy = {seed: metrics.classification_metrics(y, test[column].to_numpy(), threshold)["accuracy"]
                     for seed, column in predictions.seed_columns(test.columns).items()}
    shipped = metrics.classification_metrics(y, prob, threshold)
    summary = metrics.summarize(list(seed_accuracy.values()))
    report: dict[str, Any] = {
        "accuracy": shipped.pop("accuracy"),
        "roc_auc": shipped.pop("roc_auc"),
        "seeds": {k: summary[k] for k in ("mean", "std", "min", "max", "n")},
    }
    if "kfold" in variance:
        low, high = variance["kfold"]["ci95"]
        report["kfold"] = {"mean": variance["kfold"]["mean"], "ci95_low": low, "ci95_high": high}
    report |= shipped | {"test_rows": len(test)}
    return Evaluation(
        report=report,
        seed_accuracy=seed_accuracy,
        confusion=metrics.confusion(y, prob, threshold),
        roc=metrics.roc_points(y, prob),
        actual=np.where(y == LABEL_VALUE[AUTHENTIC], AUTHENTIC, FAKE),
        predicted=np.where(prob >= threshold, AUTHENTIC, FAKE),
    )


def plot_tables(ev: Evaluation) -> dict[str, pd.DataFrame]:
    """DVC's plot data, by plot: ``roc``, ``confusion``, ``seed_accuracy``, ``seed_histogram``."""
    counts, edges = plots.histogram(list(ev.seed_accuracy.values()))
    return {
        "roc": pd.DataFrame(ev.roc),
        "confusion": pd.DataFrame({"actual": ev.actual, "predicted": ev.predicted}),
        "seed_accuracy": pd.DataFrame({"seed": list(ev.seed_accuracy), "accuracy": list(ev.seed_accuracy.values())}),
        "seed_histogram": pd.DataFrame({"accuracy": [f"{lo:.3f}-{hi:.3f}" for lo, hi in itertools.pairwise(edges)],
                                        "seeds": counts}),
    }
