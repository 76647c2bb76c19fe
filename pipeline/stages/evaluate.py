"""Stage ``evaluate``: the shipped model's test metrics beside the per-seed distribution.

Reads ``data/predictions/predictions.parquet`` and ``params.yaml`` section ``evaluate``. Writes
``reports/metrics.json``, ``reports/confusion.txt`` (as the article printed it), and DVC plot data
``reports/plots/{roc,confusion,seed_accuracy,seed_histogram}.csv`` with PNG renderings beside them.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from pipeline import atomic, paths, plots
from pipeline import metrics as M
from pipeline.params import load_section
from pipeline.stages import run

log = logging.getLogger(__name__)

SEED_PREFIX = "prob_seed_"


def seed_accuracies(test: pd.DataFrame, threshold: float) -> dict[int, float]:
    """Test accuracy of every seed member, by member seed."""
    y = test["label"].to_numpy()
    return {int(c.removeprefix(SEED_PREFIX)): M.classification_metrics(y, test[c].to_numpy(), threshold)["accuracy"]
            for c in test.columns if c.startswith(SEED_PREFIX)}


def evaluate(test: pd.DataFrame, threshold: float) -> dict[str, Any]:
    """Metrics of the shipped model (``prob``) on the test rows, and the seed members' accuracy summary."""
    report: dict[str, Any] = M.classification_metrics(test["label"].to_numpy(), test["prob"].to_numpy(), threshold)
    report["test_rows"] = len(test)
    report["seeds"] = M.summarize(list(seed_accuracies(test, threshold).values()))
    return report


def _csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, lineterminator="\n", float_format="%.6g")


def main() -> None:
    def body() -> None:
        threshold = load_section("evaluate", paths.PARAMS).threshold
        predictions = pq.read_table(paths.PREDICTIONS).to_pandas()
        test = predictions[predictions["split"] == "test"]
        report = evaluate(test, threshold)
        accuracy_by_seed = seed_accuracies(test, threshold)
        y, prob = test["label"].to_numpy(), test["prob"].to_numpy()
        cm = M.confusion(y, prob, threshold)
        roc = M.roc_points(y, prob)
        names = np.array(["authentic", "fake"])
        actual = np.where(y == 1, "authentic", "fake")
        predicted = names[(prob < threshold).astype(int)]

        atomic.write_json(paths.METRICS, report)
        atomic.write_text(paths.CONFUSION, M.format_confusion(cm))
        atomic.write_text(paths.ROC_PLOT, _csv(pd.DataFrame(roc)))
        atomic.write_text(paths.CONFUSION_PLOT, _csv(pd.DataFrame({"actual": actual, "predicted": predicted})))
        atomic.write_text(paths.SEED_ACCURACY_PLOT, _csv(pd.DataFrame(
            {"seed": list(accuracy_by_seed), "accuracy": list(accuracy_by_seed.values())})))
        plots.roc_png(roc, report["roc_auc"], paths.ROC_PNG)
        plots.confusion_png(cm, paths.CONFUSION_PNG)
        counts, edges = plots.histogram(list(accuracy_by_seed.values()))
        atomic.write_text(paths.SEED_HISTOGRAM_PLOT, _csv(pd.DataFrame(
            {"accuracy": [f"{lo:.3f}-{hi:.3f}" for lo, hi in itertools.pairwise(edges)],
             "seeds": counts})))
        plots.seed_histogram_png(list(accuracy_by_seed.values()), paths.SEED_ACCURACY_PNG)
        s = report["seeds"]
        log.info("accuracy %.4f (shipped); seeds %.4f ± %.4f [%.4f, %.4f] over %d", report["accuracy"],
                 s["mean"], s["std"], s["min"], s["max"], s["n"])

    run("evaluate", body)


if __name__ == "__main__":
    main()
