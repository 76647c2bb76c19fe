"""What the ``train`` stage computes, as one call: features table in, every table and the model out.

:func:`train` runs the seed study (:mod:`.study`: the hold-out members, then the repeated k-fold splits),
fits the scikit-learn baselines on the same splits (:mod:`.baselines`), builds the shipped model
(``train.ship``, with its calibration) and lays everything out as the tables train writes
(:mod:`.predictions`). It writes nothing: the stage writes the :class:`Trained` it returns, atomically and
together, so a stage module reads params, makes this one call and writes outputs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline import features
from pipeline.core.errors import InputError
from pipeline.core.params import TrainParams
from pipeline.core.progress import ProgressReporter
from pipeline.training import baselines, predictions, study
from pipeline.training import model as model_lib


@dataclass(frozen=True)
class Trained:
    """Everything train writes, by output."""

    predictions: pa.Table  # data/predictions/predictions.parquet
    scores: pa.Table  # data/predictions/scores.parquet
    holdout: pa.Table  # data/predictions/holdout.parquet
    history: pa.Table  # data/predictions/history.parquet
    model: Any  # models/model.keras: the shipped Keras model, raw features in, P(authentic) out
    timing: dict[str, Any]  # reports/train_timing.json
    summary: list[str]  # what the stage logs, line by line


def train(*, table: pa.Table, params: TrainParams, feature_set: str, features_md5: str, source: Path,
          progress: ProgressReporter) -> Trained:
    """The seed study, the baselines and the shipped model on ``table`` (the features, ``source`` in
    messages), laid out as the tables train writes. ``features_md5`` identifies the data in the scores'
    protocol, so two runs' split results pair up only on the same data."""
    x = features.to_matrix(table, feature_set)
    y = table.column("label").to_numpy().astype(np.float32)
    pks = table.column("pk").to_numpy()
    study.check_rows(y, params, source)
    result = study.run(x, y, params, features.heavy_tailed_columns(feature_set), progress)
    if not np.isfinite(result.shipped_probs).all():
        raise InputError(f"{source}: training diverged (the model outputs NaN); lower "
                         f"train.learning_rate (now {params.learning_rate:g}) or use train.preset: stable")

    splits = baselines.study_splits(result, x)
    baseline_fits = baselines.run(params.baselines, params.seed, x, y, splits)
    shipped = model_lib.shipped_model(study.shipped_members(result.members, params.ship),
                                      result.holdout.preprocessing, result.calibration)
    protocol = {"features_md5": features_md5,
                **{f"split.{k}": v for k, v in dataclasses.asdict(params.split).items()}}
    split = result.holdout.split
    cross_validated = study.out_of_fold(result.kfold, len(y), params.ship, result.calibration)
    calibration = result.calibration.to_dict() | {"fitted_on": "valid", "valid_rows": len(split.valid)}
    scored = study.scored(result) + baselines.scored(baseline_fits, [s for s, _ in splits])
    return Trained(
        predictions=predictions.table(pks, y, split.valid, split.test, result.shipped_probs, result.members.seeds,
                                      result.holdout.probs,
                                      {name: fits[0].probs for name, fits in baseline_fits.items()},
                                      cross_validated, result.shipped_logit, calibration),
        scores=predictions.scores(scored, pks, y, protocol),
        holdout=predictions.holdout(pks, split.valid, split.test),
        history=predictions.history(study.history_rows(result)),
        model=shipped,
        timing=study.timing(result),
        summary=_summary(result, params, list(baseline_fits)),
    )


def _summary(result: study.StudyResult, params: TrainParams, baseline_names: list[str]) -> list[str]:
    # No accuracy here: that takes a threshold, which evaluate chooses.
    h = result.holdout.history
    stopped = (f"best validation loss {np.nanmean(h.best_val_loss):.4f} ± {np.nanstd(h.best_val_loss):.4f}, "
               if np.isfinite(h.best_val_loss).any() else "")
    lines = [f"{len(result.members.seeds)} members on the hold-out ({stopped}mean best epoch "
             f"{float(np.mean(h.best_epoch)):.1f}); {len(result.kfold)} k-fold splits; baselines: "
             f"{', '.join(baseline_names) or 'none'}"]
    if not result.calibration.is_identity:
        lines.append(f"calibration {params.calibration} fitted on {len(result.holdout.split.valid)} validation rows: "
                     f"scale {result.calibration.scale:.4f}, shift {result.calibration.shift:.4f}")
    return lines
