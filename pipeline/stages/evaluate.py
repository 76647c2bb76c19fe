"""Stage ``evaluate``: the shipped model's test metrics beside the per-seed distribution.

Reads ``data/predictions/predictions.parquet``, ``data/predictions/splits.parquet``, the gate's baseline
``data/baseline/splits.parquet`` and ``params.yaml`` sections ``evaluate`` and ``compare``. Writes
``reports/metrics.json``, ``reports/confusion.txt`` (as the article printed it), DVC plot data
``reports/plots/{roc,confusion,seed_accuracy,seed_histogram}.csv`` with PNG renderings beside them, and
the quality gate's verdict, ``reports/gate.json`` (:mod:`pipeline.gate`).
"""

from __future__ import annotations

import logging

import pyarrow.parquet as pq

from pipeline import atomic, compare, evaluation, gate, metrics, paths, plots
from pipeline.params import load_section
from pipeline.stages import run

log = logging.getLogger(__name__)

PLOT_DATA = {"roc": paths.ROC_PLOT, "confusion": paths.CONFUSION_PLOT, "seed_accuracy": paths.SEED_ACCURACY_PLOT,
             "seed_histogram": paths.SEED_HISTOGRAM_PLOT}


def main() -> None:
    def body() -> None:
        params = load_section("evaluate", paths.PARAMS)
        alpha = load_section("compare", paths.PARAMS).alpha
        threshold = params.threshold
        ev = evaluation.evaluate(pq.read_table(paths.PREDICTIONS).to_pandas(), threshold)
        atomic.write_json(paths.METRICS, ev.report)
        atomic.write_text(paths.CONFUSION, metrics.format_confusion(ev.confusion))
        for name, frame in evaluation.plot_tables(ev).items():
            atomic.write_text(PLOT_DATA[name], frame.to_csv(index=False, lineterminator="\n", float_format="%.6g"))
        plots.roc_png(ev.roc, ev.report["roc_auc"], paths.ROC_PNG)
        plots.confusion_png(ev.confusion, paths.CONFUSION_PNG)
        plots.seed_histogram_png(list(ev.seed_accuracy.values()), paths.SEED_HISTOGRAM_PNG)
        current = compare.run_results(pq.read_table(paths.SPLIT_RESULTS), "workspace")
        baseline = compare.run_results(pq.read_table(paths.BASELINE), "baseline") if paths.BASELINE.is_file() else None
        verdict = gate.judge(params.gate, current, baseline, alpha)
        atomic.write_json(paths.GATE, verdict)
        log.info("gate: %s", "off" if not verdict["enabled"] else "blessed" if verdict["blessed"]
                 else f"NOT blessed ({', '.join(verdict['failed'])})")
        s = ev.report["seeds"]
        log.info("accuracy %.4f (shipped); seeds %.4f ± %.4f [%.4f, %.4f] over %d", ev.report["accuracy"],
                 s["mean"], s["std"], s["min"], s["max"], s["n"])

    run("evaluate", body)


if __name__ == "__main__":
    main()
