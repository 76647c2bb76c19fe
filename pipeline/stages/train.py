"""Stage ``train``: the seed study, trained jointly, tracked in MLflow, and the model that ships.

Reads ``data/features/features.parquet`` and ``params.yaml`` sections ``train``, ``featurize``,
``evaluate`` (the decision threshold) and ``mlflow``. Splits the rows into a stratified, seeded
hold-out; fits ``train.seeds`` members (member k seeded ``train.seed + k``), then the repeated k-fold
study (:mod:`pipeline.study`); logs one MLflow parent run with nested runs per seed and per split
(:mod:`pipeline.tracking`). Writes ``models/model.keras`` (raw features in, P(authentic) out),
``data/predictions/predictions.parquet`` (every row's split, label and per-member probability) and
``reports/variance.json``.
"""

from __future__ import annotations

import hashlib
import logging

import numpy as np
import pyarrow.parquet as pq

from pipeline import atomic, features, paths, predictions, study, tracking
from pipeline import model as model_lib
from pipeline.params import load_section
from pipeline.progress import ProgressReporter
from pipeline.stages import run

log = logging.getLogger(__name__)


def main() -> None:
    def body() -> None:
        params = load_section("train", paths.PARAMS)
        feature_set = load_section("featurize", paths.PARAMS).feature_set
        threshold = load_section("evaluate", paths.PARAMS).threshold
        experiment = load_section("mlflow", paths.PARAMS).experiment
        table = pq.read_table(paths.FEATURES)
        x = features.to_matrix(table, feature_set)
        y = table.column("label").to_numpy().astype(np.float32)
        progress = ProgressReporter("train", "splits", log, log_every_seconds=0)
        try:
            result = study.run(x, y, params, features.heavy_tailed_columns(feature_set), threshold, progress)
        finally:
            progress.close()

        shipped = model_lib.shipped_model(study.shipped_members(result.members, params.ship),
                                          result.holdout.preprocessing)
        with atomic.atomic_path(paths.PREDICTIONS) as tmp:
            split = result.holdout.split
            pq.write_table(predictions.table(table.column("pk").to_numpy(), y, split.valid, split.test,
                                             result.shipped_probs, result.members.seeds, result.holdout.probs,
                                             study.out_of_fold(result.kfold, len(y))), tmp)
        model_lib.save_model(shipped, paths.KERAS_MODEL)
        atomic.write_json(paths.VARIANCE, result.variance)
        data_md5 = hashlib.md5(paths.FEATURES.read_bytes()).hexdigest()
        run_id = tracking.log_study(params, experiment, threshold, result, y, data_md5, shipped)
        h = result.variance["holdout"]
        log.info("%d members on the hold-out: %.4f ± %.4f; %d k-fold splits; MLflow run %s", h["n_seeds"],
                 h["mean"], h["init_std"], len(result.kfold), run_id)

    run("train", body)


if __name__ == "__main__":
    main()
