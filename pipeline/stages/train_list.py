"""Stage ``train-list``: the audit's list-only model, its quality, its TFLite export and the audit card.

Reads ``data/interim/labelled.parquet`` (the profiles and their labels), ``data/predictions/holdout.parquet``
(train's fixed hold-out: which rows train, validate and test) and ``params.yaml`` section ``train_list``:
nothing of the shipped network or of ``evaluate``, so it re-runs only when its own params or the rows
change. Fits the list-only model on train's training rows (:mod:`pipeline.audit.list_model`), converts it
to TFLite and checks LiteRT against Keras on the test rows within ``train_list.tolerance``. Writes
``models/list_model.tflite``, ``models/audit.json`` (its card: feature set, its own threshold
``train_list.threshold``, test quality) and ``reports/list_model.json`` (accuracy and ROC AUC with 95%
intervals); the ``track`` stage logs them to MLflow. The shipped model's threshold is not here, nor read
from params: evaluate chooses it and writes it to ``models/decision.json``, which ``igfake audit`` reads
beside this card.
"""

from __future__ import annotations

import logging

import numpy as np
import pyarrow.parquet as pq

from pipeline.core import atomic, console, paths
from pipeline.core.errors import InputError
from pipeline.core.params import load
from pipeline.stages import run

log = logging.getLogger(__name__)


def main() -> None:
    def body() -> None:
        params = load().train_list
        # Params first, then TensorFlow: imported here, not at the top, so a bad value is reported in a
        # fraction of a second instead of after TensorFlow's ~10 s import.
        from pipeline.audit import list_model
        from pipeline.serving import export

        labelled = pq.read_table(paths.LABELLED)
        holdout = pq.read_table(paths.HOLDOUT)
        x = list_model.matrix(labelled)
        y = labelled.column("label").to_numpy().astype(np.float32)
        rows = list_model.split_of(labelled.column("pk").to_numpy(), holdout)
        if not len(rows.train) or not len(rows.test):
            raise InputError(f"{paths.HOLDOUT}: no training or test rows for the labelled profiles: "
                             "run `dvc repro train` first")
        model, probs = list_model.fit(x, y, rows, params)
        quality = list_model.quality(y[rows.test], probs[rows.test], params.threshold, params.bootstrap, params.seed)
        with console.quiet():
            flatbuffer = export.to_tflite(model)
            check = export.agreement(model, flatbuffer, x[rows.test], params.tolerance)
        quality["export"] = check
        if not check["agrees"] or check["any_nan"]:
            raise InputError(f"{paths.LIST_TFLITE_MODEL}: LiteRT differs from Keras by {check['max_abs_diff']:.3g} "
                             f"(tolerance {params.tolerance:g}); not exported")
        card = list_model.audit_card(quality)
        with atomic.atomic_path(paths.LIST_TFLITE_MODEL) as tmp:
            tmp.write_bytes(flatbuffer)
        atomic.write_json(paths.AUDIT_CARD, card)
        atomic.write_json(paths.LIST_MODEL_REPORT, quality)
        log.info("list-only model: accuracy %.3f %s, ROC AUC %.3f %s on %d test rows", quality["accuracy"],
                 np.round(quality["accuracy_ci95"], 3).tolist(), quality["roc_auc"],
                 np.round(quality["roc_auc_ci95"], 3).tolist(), quality["test_rows"])

    run("train-list", body)


if __name__ == "__main__":
    main()
