"""Stage ``evaluate``: the decision threshold, the shipped model and the baselines with intervals, the
split results, the quality gate's verdict and an offline report.

Reads ``data/predictions/predictions.parquet`` and ``scores.parquet`` (train: probabilities only),
``data/interim/labelled.parquet`` (label-import: the profiles' attributes for slices and, from the
simulator, the truth behind each label), ``reports/labels.json``, ``reports/label_issues.json`` (the labels
most likely wrong, for the report's section), the gate's baseline
``data/baseline/splits.parquet`` and ``params.yaml`` sections ``evaluate`` and ``compare`` (and, for what
the model card says of the model, ``train`` and ``featurize.feature_set``). It chooses the
decision threshold (``evaluate.threshold_rule``, on validation rows), the one every decision uses, and
writes ``models/decision.json`` (that threshold and the error rates at it: what ``igfake predict``,
``igfake audit`` and the registered model read), ``data/predictions/splits.parquet`` (every member's
metrics on every split at that threshold: what comparisons and the gate pair up),
``reports/variance.json``, ``reports/metrics.json`` (the headline with the verdict, the one DVC metric),
``reports/evaluation.json`` (everything, with intervals, baselines and comparisons),
``reports/slices.json``, ``reports/confusion.txt`` (as the article printed it), DVC plot data
``reports/plots/<plot>.csv`` with PNG renderings beside them, ``reports/report.html`` (self-contained),
``reports/model_card.md`` and the quality gate's verdict, ``reports/gate.json``
(:mod:`pipeline.evaluation.gate`): a judgement, never a failure.
"""

from __future__ import annotations

import json
import logging

import pyarrow.parquet as pq

from pipeline.core import atomic, paths
from pipeline.core.params import load
from pipeline.core.vocabulary import SHIPPED
from pipeline.evaluation import compare, evaluate, gate, metrics, splits
from pipeline.labelling import issues
from pipeline.reporting import plot_registry, plots, report
from pipeline.stages import run
from pipeline.training import predictions
from pipeline.validation import drift as drift_lib

log = logging.getLogger(__name__)

PROFILE_COLUMNS = ["pk", "username", "follower_count", "following_count", "is_private", "is_verified", "relationship",
                   "account_type", "truth"]


def main() -> None:
    def body() -> None:
        loaded = load()
        params, alpha = loaded.evaluate, loaded.compare.alpha
        # What the model card says of the model comes from the params that built it, not from fixed prose.
        about = report.Card(loaded.train, loaded.featurize.feature_set, alpha)
        atomic.check_together(paths.commit_journal("train"))
        profiles = pq.read_table(paths.LABELLED, columns=PROFILE_COLUMNS).to_pandas()
        predicted = pq.read_table(paths.PREDICTIONS)
        scores = pq.read_table(paths.SCORES)
        ev = evaluate.evaluate(predicted.to_pandas(), params, alpha, profiles=profiles, scores=scores.to_pandas(),
                               calibration=predictions.calibration(predicted.schema), ship=loaded.train.ship)
        labels = json.loads(paths.LABELS_REPORT.read_text(encoding="utf-8"))
        label_issues = issues.read_report(paths.LABEL_ISSUES)
        results = splits.table(ev.splits, splits.protocol(scores.schema, ev.decision["threshold"]))
        # The verdict first: the headline and the report show it.
        current = compare.run_results(results, "workspace")
        baseline = compare.run_results(splits.read(paths.BASELINE), "baseline") if paths.BASELINE.is_file() else None
        drift = drift_lib.read_report(paths.DRIFT)
        verdict = gate.judge(params.gate, current, baseline, alpha, drift)
        card = report.model_card(ev.report, labels, ev.variance, about, verdict)
        atomic.write_json(paths.DECISION, ev.decision)
        with atomic.atomic_path(paths.SPLIT_RESULTS) as tmp:
            pq.write_table(results, tmp)
        atomic.write_json(paths.VARIANCE, ev.variance)
        atomic.write_json(paths.METRICS, evaluate.headline(ev.report, ev.variance, gate.headline(verdict)),
                          sort_keys=False)
        atomic.write_json(paths.EVALUATION, ev.report)
        atomic.write_json(paths.SLICES, ev.slices)
        atomic.write_text(paths.CONFUSION, metrics.format_confusion(ev.confusion))
        data_files = plot_registry.data_files()
        for name, frame in evaluate.plot_tables(ev).items():
            atomic.write_text(data_files[name],
                              frame.to_csv(index=False, lineterminator="\n", float_format="%.6g"))
        pngs = plot_registry.png_files()
        plots.write_pngs(ev, pngs)
        atomic.write_text(paths.MODEL_CARD, card)
        atomic.write_text(paths.REPORT_HTML, report.html_report(ev.report, ev.slices, ev.variance, labels,
                                                                pngs, card, alpha, verdict, drift,
                                                                label_issues))
        atomic.write_json(paths.GATE, verdict)
        models = ev.report["models"]
        log.info("accuracy %s (shipped, threshold %.2f, rule %s); %s", report.interval(models[SHIPPED]["accuracy"]),
                 ev.decision["threshold"], ev.decision["rule"],
                 "; ".join(f"{m} {report.interval(v['accuracy'])}" for m, v in models.items() if m != SHIPPED))
        log.info("%s", report.verdict(ev.report, ev.variance, alpha))
        if "calibration" in ev.report:
            log.info("%s", report.calibration_sentence(ev.report["calibration"]))
        log.info("gate: %s (%s)", gate.label(verdict), gate.why(verdict))

    run("evaluate", body)


if __name__ == "__main__":
    main()
