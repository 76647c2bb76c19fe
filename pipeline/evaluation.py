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


def evaluate(table: pd.DataFrame, threshold: float) -> Evaluation:
    """Metrics of the shipped model (``prob``) on the test rows, and the seed members' accuracy summary."""
    test = table[table["split"] == "test"]
    y, prob = test["label"].to_numpy(), test["prob"].to_numpy()
    seed_accuracy = {seed: metrics.classification_metrics(y, test[column].to_numpy(), threshold)["accuracy"]
                     for seed, column in predictions.seed_columns(test.columns).items()}
    report: dict[str, Any] = metrics.classification_metrics(y, prob, threshold)
    report["test_rows"] = len(test)
    report["seeds"] = metrics.summarize(list(seed_accuracy.values()))
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
