"""Stage ``train``: the seed study, trained jointly, and the model that ships.

Reads ``data/features/features.parquet`` and ``params.yaml`` sections ``train`` and ``featurize``, and
nothing of ``evaluate``: train writes probabilities, evaluate chooses the threshold that turns them into
decisions, so an evaluate-only change re-runs no training. Splits the rows into a stratified, seeded
hold-out; fits ``train.seeds`` members (member k seeded ``train.seed + k``), then the repeated k-fold study
(:mod:`pipeline.training.study`): one call, :func:`pipeline.training.train.train`. Writes
``models/model.keras`` (raw features in, P(authentic) out),
``data/predictions/predictions.parquet`` (every row's split, label, per-member probability and the
shipped model's logit, with its calibration, ``train.calibration``, fitted on the validation rows),
``data/predictions/scores.parquet`` (every member's probability on every split's test rows),
``data/predictions/holdout.parquet`` (the fixed hold-out's rows alone: what train-list trains on),
``data/predictions/history.parquet`` (every member's loss curves) and ``reports/train_timing.json`` (when
each split's fit ran: the one output that differs run to run). The scikit-learn baselines
(:mod:`pipeline.training.baselines`, ``train.baselines``) are fitted on the same splits and land beside the
MLP in the predictions and the scores. The ``track`` stage logs it all to MLflow.
"""

from __future__ import annotations

import hashlib
import logging

import pyarrow.parquet as pq

from pipeline.core import atomic, paths
from pipeline.core.params import load
from pipeline.core.progress import ProgressReporter
from pipeline.schema import features as features_schema
from pipeline.stages import run

log = logging.getLogger(__name__)


def main() -> None:
    def body() -> None:
        params = load()
        atomic.check_together(paths.commit_journal("featurize"))
        table = pq.read_table(paths.FEATURES)
        features_schema.check(table, params.featurize.feature_set, paths.FEATURES)
        # Params and the features' schema first, then TensorFlow: imported here, not at the top, so a bad value
        # or a broken features table is reported in a second instead of after TensorFlow's ~10 s import.
        from pipeline.training import model as model_lib
        from pipeline.training.train import train

        progress = ProgressReporter("train", "splits", log, log_every_seconds=0)
        try:
            trained = train(table=table, params=params.train,
                            feature_set=params.featurize.feature_set,
                            features_md5=hashlib.md5(paths.FEATURES.read_bytes()).hexdigest(),
                            source=paths.FEATURES, progress=progress)
        finally:
            progress.close()
        # Everything below comes from one study: replaced together, so a kill between two renames is noticed.
        with atomic.together(paths.commit_journal("train")):
            for path, table in ((paths.PREDICTIONS, trained.predictions), (paths.SCORES, trained.scores),
                                (paths.HOLDOUT, trained.holdout), (paths.HISTORY, trained.history)):
                with atomic.atomic_path(path) as tmp:
                    pq.write_table(table, tmp)
            model_lib.save_model(trained.model, paths.KERAS_MODEL)
            atomic.write_json(paths.TRAIN_TIMING, trained.timing)
        for line in trained.summary:
            log.info("%s", line)

    run("train", body)


if __name__ == "__main__":
    main()
