"""Stage ``track``: log the pipeline run to MLflow, from the outputs of the stages before it.

A stage of its own, last in the pipeline, rather than a side effect of ``train``: DVC restores a stage
from its run-cache without running any code, so an experiment whose training was restored would never
reach MLflow. This stage declares a ``persist`` output, which keeps DVC from restoring it from the
run-cache, so it runs whenever anything it reads changed, and every experiment gets its MLflow run,
named after it. Reads the reports, predictions, features, the models, the decision, ``params.yaml`` and
``dvc.lock`` (DVC has written the entries of the stages before this one by then). Registers the run's
TFLite model as a new version of ``mlflow.registered_model``, tagged with the quality gate's verdict
(:mod:`pipeline.tracking.registry`): registering is not promoting. Writes
``data/tracking/mlflow_run.json``: the experiment, the run and the model version it logged.
"""

from __future__ import annotations

import hashlib
import json
import logging

import pyarrow.parquet as pq

from pipeline import features
from pipeline.core import atomic, console, paths
from pipeline.core.params import load
from pipeline.evaluation import gate, splits
from pipeline.serving import decision
from pipeline.stages import run
from pipeline.tracking import list_runs, runs
from pipeline.validation import drift as drift_lib

log = logging.getLogger(__name__)


def main() -> None:
    def body() -> None:
        # Every param first: a bad value stops the stage before it reads anything.
        loaded = load()
        params, feature_set = loaded.train, loaded.featurize.feature_set
        mlflow_params, list_params = loaded.mlflow, loaded.train_list
        # What later steps trust is checked here, at the edge: the verdict the version is tagged with, and
        # the decision the registered model ships with.
        verdict = gate.read(paths.GATE)
        shipped = decision.read(paths.DECISION)
        table = pq.read_table(paths.FEATURES)
        pipeline_run = runs.PipelineRun(
            params=params,
            threshold=shipped.threshold,
            metrics=json.loads(paths.METRICS.read_text()),
            evaluation=json.loads(paths.EVALUATION.read_text()),
            variance=json.loads(paths.VARIANCE.read_text()),
            splits=splits.read(paths.SPLIT_RESULTS).to_pandas(),
            history=pq.read_table(paths.HISTORY).to_pandas(),
            timing=json.loads(paths.TRAIN_TIMING.read_text()),
            features=table.to_pandas(),
            feature_names=features.feature_names(feature_set),
            features_md5=hashlib.md5(paths.FEATURES.read_bytes()).hexdigest(),
            keras_model=paths.KERAS_MODEL,
            tflite_model=paths.TFLITE_MODEL,
            decision=paths.DECISION,
            gate=verdict,
            registered_model=mlflow_params.registered_model,
            drift=drift_lib.read_report(paths.DRIFT),
            artifacts={
                "reports": [paths.METRICS, paths.EVALUATION, paths.SLICES, paths.REPORT_HTML, paths.MODEL_CARD,
                            paths.GATE, paths.VARIANCE, paths.CONFUSION, paths.EXPORT_REPORT,
                            paths.LABELS_REPORT, paths.CRAWL_REPORT, paths.TRAIN_TIMING, paths.DRIFT],
                "plots": sorted(paths.PLOTS.glob("*.png")) + sorted(paths.PLOTS.glob("*.csv")),
                "tflite": [paths.TFLITE_MODEL, paths.DECISION, paths.FEATURE_SPEC],
                "pipeline": [paths.PARAMS, paths.ROOT / "dvc.yaml", paths.ROOT / "dvc.lock"],
            },
        )
        with console.quiet():
            logged = runs.log_pipeline_run(pipeline_run, mlflow_params.experiment)
            logged["list_model_run_id"] = list_runs.log_list_model(
                list_params, mlflow_params.experiment, logged["run_id"],
                json.loads(paths.LIST_MODEL_REPORT.read_text()), json.loads(paths.AUDIT_CARD.read_text()),
                json.loads(paths.DECISION.read_text()), [paths.LIST_TFLITE_MODEL, paths.AUDIT_CARD])
        atomic.write_json(paths.MLFLOW_RUN, logged)
        log.info("MLflow run %s (%s) in experiment %s; in the UI: %s", logged["run_name"], logged["run_id"],
                 logged["experiment"], logged["ui"])
        version = logged["model_version"]
        log.info("registered %s version %s (%s); `igfake promote` %s", version["name"], version["version"],
                 gate.label(verdict), "can make it the champion" if verdict["blessed"] else "refuses it")

    run("track", body)


if __name__ == "__main__":
    main()
