"""Stage ``export-tflite``: the shipped Keras model as TFLite, checked against Keras on the test rows.

Reads ``models/model.keras``, ``data/features/features.parquet``, ``data/predictions/predictions.parquet``
(which rows are test rows) and ``params.yaml`` sections ``export_tflite`` and ``featurize``. Writes
``models/model.tflite`` and ``reports/export.json``. It always exports: whether the model ships is the
quality gate's verdict, applied when a model is promoted (``igfake promote``), not here. It fails only if
LiteRT and Keras differ by more than ``export_tflite.tolerance`` on any test row: that is a broken
artifact, not a judgement.
"""

from __future__ import annotations

import logging

import pyarrow.parquet as pq

from pipeline.core import atomic, console, paths
from pipeline.core.errors import InputError
from pipeline.core.params import load
from pipeline.stages import run

log = logging.getLogger(__name__)


def main() -> None:
    def body() -> None:
        # Params first: a bad value stops the stage before it reads anything.
        loaded = load()
        tolerance, feature_set = loaded.export_tflite.tolerance, loaded.featurize.feature_set
        # Then TensorFlow: imported here, not at the top, so a bad value is reported in a
        # fraction of a second instead of after TensorFlow's ~10 s import.
        from pipeline.serving import export
        from pipeline.training import model as model_lib

        atomic.check_together(paths.commit_journal("train"))
        model = model_lib.load_model(paths.KERAS_MODEL)
        predictions = pq.read_table(paths.PREDICTIONS, columns=["pk", "split"])
        rows = export.held_out_rows(pq.read_table(paths.FEATURES), predictions, feature_set)
        with console.quiet():
            flatbuffer = export.to_tflite(model)
            check = export.agreement(model, flatbuffer, rows, tolerance)
        atomic.write_json(paths.EXPORT_REPORT, check)
        if not check["agrees"] or check["any_nan"]:
            raise InputError(f"{paths.TFLITE_MODEL}: LiteRT differs from Keras by {check['max_abs_diff']:.3g} "
                             f"(tolerance {tolerance:g}); not exported")
        with atomic.atomic_path(paths.TFLITE_MODEL) as tmp:
            tmp.write_bytes(flatbuffer)
        log.info("exported %d bytes; max |Keras - LiteRT| = %.3g on %d test rows", check["tflite_bytes"],
                 check["max_abs_diff"], check["rows"])

    run("export-tflite", body)


if __name__ == "__main__":
    main()
