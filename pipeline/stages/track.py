"""Stage ``track``: log the pipeline run to MLflow, from the outputs of the stages before it.

A stage of its own, last in the pipeline, rather than a side effect of ``train``: DVC restores a stage
from its run-cache without running any code, so an experiment whose training was restored would never
reach MLflow. This stage declares a ``persist`` output, which keeps DVC from restoring it from the
run-cache, so it runs whenever anything it reads changed, and every experiment gets its MLflow run,
named after it. Reads the reports, predictions, features, the models, ``params.yaml`` and ``dvc.lock``
(DVC has written the entries of the stages before this one by then). Writes
``data/tracking/mlflow_run.json``: the experiment and run it logged.
"""

from __future__ import annotations

import hashlib
import json
import logging

import pyarrow.parquet as pq

from pipeline import features
from pipeline.core import atomic, console, paths
from pipeline.core.params import load_section
from pipeline.stages import run
from pipeline.tracking import list_runs, runs

log = logging.getLogger(__name__)


def main() -> None:
    def body() -> None:
        # Every param first: a bad value stops the stage before it reads anything.
        params = load_section("train", paths.PARAMS)
        threshold = load_section("evaluate", paths.PARAMS).threshold
        feature_set = load_section("featurize", paths.PARAMS).feature_set
        experiment = load_section("mlflow", paths.PARAMS).experiment
        list_params = load_section("train_list", paths.PARAMS)
        table = pq.read_table(paths.FEATURES)
        pipeline_run = runs.PipelineRun(
            params=params,
            threshold=threshold,
            metrics=json.loads(paths.METRICS.read_text()),
            evaluation=json.loads(paths.EVALUATION.read_text()),
            variance=json.loads(paths.VARIANCE.read_text()),
            splits=pq.read_table(paths.SPLIT_RESULTS).to_pandas(),
            history=pq.read_table(paths.HISTORY).to_pandas(),
            timing=json.loads(paths.TRAIN_TIMING.read_text()),
            features=table.to_pandas(),
            feature_names=features.feature_names(feature_set),
            features_md5=hashlib.md5(paths.FEATURES.read_bytes()).hexdigest(),
            keras_model=paths.KERAS_MODEL,
            tflite_model=paths.TFLITE_MODEL,
            gate=json.loads(paths.GATE.read_text()) if paths.GATE.is_file() else None,
            artifacts={
                "reports": [paths.METRICS, paths.EVALUATION, paths.SLICES, paths.REPORT_HTML, paths.MODEL_CARD,
                            paths.GATE, paths.VARIANCE, paths.CONFUSION, paths.EXPORT_REPORT,
                            paths.LABELS_REPORT, paths.CRAWL_REPORT, paths.TRAIN_TIMING],
                "plots": sorted(paths.PLOTS.glob("*.png")) + sorted(paths.PLOTS.glob("*.csv")),
                "tflite": [paths.TFLITE_MODEL, paths.FEATURE_SPEC],
                "pipeline": [paths.PARAMS, paths.ROOT / "dvc.yaml", paths.ROOT / "dvc.lock"],
            },
        )
        with console.quiet():
            logged = runs.log_pipeline_run(pipeline_run, experiment)
            logged["list_model_run_id"] = list_runs.log_list_model(
                list_params, experiment, logged["run_id"], json.loads(paths.LIST_MODEL_REPORT.read_text()),
                json.loads(paths.AUDIT_CARD.read_text()), [paths.LIST_TFLITE_MODEL, paths.AUDIT_CARD])
        atomic.write_json(paths.MLFLOW_RUN, logged)
        log.info("MLflow run %s (%s) in experiment %s; in the UI: %s", logged["run_name"], logged["run_id"],
                 logged["experiment"], logged["ui"])

    run("track", body)


if __name__ == "__main__":
    main()
