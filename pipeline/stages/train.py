"""Stage ``train``: the seed study, trained jointly, and the model that ships.

Reads ``data/features/features.parquet`` and ``params.yaml`` sections ``train`` and ``featurize``, and
nothing of ``evaluate``: train writes probabilities, evaluate chooses the threshold that turns them into
decisions, so an evaluate-only change re-runs no training. Splits the rows into a stratified, seeded
hold-out; fits ``train.seeds`` members (member k seeded ``train.seed + k``), then the repeated k-fold study
(:mod:`pipeline.training.study`). Writes ``models/model.keras`` (raw features in, P(authentic) out),
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

import dataclasses
import hashlib
import logging

import numpy as np
import pyarrow.parquet as pq

from pipeline import features
from pipeline.core import atomic, paths
from pipeline.core.errors import InputError
from pipeline.core.params import load
from pipeline.core.progress import ProgressReporter
from pipeline.stages import run

log = logging.getLogger(__name__)


def main() -> None:
    def body() -> None:
        loaded = load()
        params, feature_set = loaded.train, loaded.featurize.feature_set
        # Params first, then TensorFlow: imported here, not at the top, so a bad value is reported in a
        # fraction of a second instead of after TensorFlow's ~10 s import.
        from pipeline.training import baselines, predictions, study
        from pipeline.training import model as model_lib

        atomic.check_together(paths.commit_journal("featurize"))
        table = pq.read_table(paths.FEATURES)
        x = features.to_matrix(table, feature_set)
        y = table.column("label").to_numpy().astype(np.float32)
        pks = table.column("pk").to_numpy()
        study.check_rows(y, params, paths.FEATURES)
        progress = ProgressReporter("train", "splits", log, log_every_seconds=0)
        try:
            result = study.run(x, y, params, features.heavy_tailed_columns(feature_set), progress)
        finally:
            progress.close()

        if not np.isfinite(result.shipped_probs).all():
            raise InputError(f"{paths.FEATURES}: training diverged (the model outputs NaN); lower "
                             f"train.learning_rate (now {params.learning_rate:g}) or use train.preset: stable")
        splits = baselines.study_splits(result, x)
        baseline_fits = baselines.run(params.baselines, params.seed, x, y, splits)
        study_splits = [split for split, _ in splits]
        shipped = model_lib.shipped_model(study.shipped_members(result.members, params.ship),
                                          result.holdout.preprocessing, result.calibration)
        data_md5 = hashlib.md5(paths.FEATURES.read_bytes()).hexdigest()
        protocol = {"features_md5": data_md5, **{f"split.{k}": v for k, v in
                                                 dataclasses.asdict(params.split).items()}}
        split = result.holdout.split
        cross_validated = study.out_of_fold(result.kfold, len(y), params.ship, result.calibration)
        calibration = result.calibration.to_dict() | {"fitted_on": "valid", "valid_rows": len(split.valid)}
        # Everything below comes from one study: replaced together, so a kill between two renames is noticed.
        with atomic.together(paths.commit_journal("train")):
            with atomic.atomic_path(paths.PREDICTIONS) as tmp:
                pq.write_table(predictions.table(pks, y, split.valid, split.test, result.shipped_probs,
                                                 result.members.seeds, result.holdout.probs,
                                                 {name: fits[0].probs for name, fits in baseline_fits.items()},
                                                 cross_validated, result.shipped_logit, calibration), tmp)
            with atomic.atomic_path(paths.SCORES) as tmp:
                scored = study.scored(result) + baselines.scored(baseline_fits, study_splits)
                pq.write_table(predictions.scores(scored, pks, y, protocol), tmp)
            with atomic.atomic_path(paths.HOLDOUT) as tmp:
                pq.write_table(predictions.holdout(pks, split.valid, split.test), tmp)
            with atomic.atomic_path(paths.HISTORY) as tmp:
                pq.write_table(predictions.history(study.history_rows(result)), tmp)
            model_lib.save_model(shipped, paths.KERAS_MODEL)
            atomic.write_json(paths.TRAIN_TIMING, study.timing(result))
        # No accuracy here: that takes a threshold, which evaluate chooses.
        h = result.holdout.history
        stopped = (f"best validation loss {np.nanmean(h.best_val_loss):.4f} ± {np.nanstd(h.best_val_loss):.4f}, "
                   if np.isfinite(h.best_val_loss).any() else "")
        log.info("%d members on the hold-out (%smean best epoch %.1f); %d k-fold splits; baselines: %s",
                 len(result.members.seeds), stopped, float(np.mean(h.best_epoch)), len(result.kfold),
                 ", ".join(baseline_fits) or "none")
        if not result.calibration.is_identity:
            log.info("calibration %s fitted on %d validation rows: scale %.4f, shift %.4f", params.calibration,
                     len(result.holdout.split.valid), result.calibration.scale, result.calibration.shift)

    run("train", body)


if __name__ == "__main__":
    main()
