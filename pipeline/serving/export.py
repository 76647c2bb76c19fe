"""Keras -> TFLite, and the proof that the phone computes what Keras computes."""

from __future__ import annotations

import keras
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import tensorflow as tf

from pipeline import features
from pipeline.serving import litert


def to_tflite(model: keras.Model) -> bytes:
    """Convert with ``from_keras_model``: ``from_concrete_functions`` silently yields a NaN model."""
    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def held_out_rows(feature_table: pa.Table, predictions: pa.Table, feature_set: str) -> np.ndarray:
    """The model input of the rows train held out for testing (``split == "test"`` in the predictions)."""
    test_pks = predictions.filter(pc.equal(predictions["split"], "test"))["pk"]
    return features.to_matrix(feature_table.filter(pc.is_in(feature_table["pk"], value_set=test_pks)), feature_set)


def agreement(model: keras.Model, flatbuffer: bytes, x: np.ndarray, tolerance: float) -> dict[str, float | int | bool]:
    """Keras and LiteRT on the same rows: the largest absolute difference, and whether it is within tolerance."""
    keras_probs = np.asarray(model(np.asarray(x, np.float32), training=False))[:, 0]
    lite_probs = litert.run(flatbuffer, x)
    diff = float(np.max(np.abs(keras_probs - lite_probs))) if len(x) else 0.0
    return {
        "rows": len(x),
        "max_abs_diff": diff,
        "tolerance": tolerance,
        "agrees": diff <= tolerance,
        "any_nan": bool(np.isnan(lite_probs).any()),
        "tflite_bytes": len(flatbuffer),
    }
