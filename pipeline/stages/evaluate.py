"""Stage ``evaluate``: the shipped model's test metrics beside the per-seed distribution.

Reads ``data/predictions/predictions.parquet``, ``reports/variance.json`` (the k-fold interval) and
``params.yaml`` section ``evaluate``. Writes
``reports/metrics.json``, ``reports/confusion.txt`` (as the article printed it), and DVC plot data
``reports/plots/{roc,confusion,seed_accuracy,seed_histogram}.csv`` with PNG renderings beside them.
"""

from __future__ import annotations

import json
import logging

import pyarrow.parquet as pq

from pipeline import atomic, evaluation, metrics, paths, plots
from pipeline.params import load_section
from pipeline.stages import run

log = logging.getLogger(__name__)

PLOT_DATA = {"roc": paths.ROC_PLOT, "confusion": paths.CONFUSION_PLOT, "seed_accuracy": paths.SEED_ACCURACY_PLOT,
             "seed_histogram": paths.SEED_HISTOGRAM_PLOT}


def main() -> None:
    def body() -> None:
        threshold = load_section("evaluate", paths.PARAMS).threshold
        atomic.check_together(paths.commit_journal("train"))
        variance = json.loads(paths.VARIANCE.read_text(encoding="utf-8"))
        ev = evaluation.evaluate(pq.read_table(paths.PREDICTIONS).to_pandas(), threshold, variance)
        atomic.write_json(paths.METRICS, ev.report, sort_keys=False)
        atomic.write_text(paths.CONFUSION, metrics.format_confusion(ev.confusion))
        for name, frame in evaluation.plot_tables(ev).items():
            atomic.write_text(PLOT_DATA[name], frame.to_csv(index=False, lineterminator="\n", float_format="%.6g"))
        plots.roc_png(ev.roc, ev.report["roc_auc"], paths.ROC_PNG)
        plots.confusion_png(ev.confusion, paths.CONFUSION_PNG)
        plots.seed_histogram_png(list(ev.seed_accuracy.values()), paths.SEED_HISTOGRAM_PNG)
        s = ev.report["seeds"]
        log.info("accuracy %.4f (shipped); seeds %.4f ± %.4f [%.4f, %.4f] over %d", ev.report["accuracy"],
                 s["mean"], s["std"], s["min"], s["max"], s["n"])

    run("evaluate", body)


if __name__ == "__main__":
    main()
