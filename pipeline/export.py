"""Keras -> TFLite, and the proof that the phone computes what Keras computes."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


def to_tflite(model: keras.Model) -> bytes:
    """Convert with ``from_keras_model``: ``from_concrete_functions`` silently yields a NaN model."""
    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def run_tflite(flatbuffer: bytes, x: np.ndarray) -> np.ndarray:
    """P(authentic) for each row of ``x``, computed by the LiteRT interpreter, as on a device."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=flatbuffer)
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    x = np.asarray(x, dtype=np.float32)
    interpreter.resize_tensor_input(inp["index"], list(x.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(inp["index"], x)
    interpreter.invoke()
    return np.asarray(interpreter.get_tensor(out["index"]))[:, 0]


def agreement(model: keras.Model, flatbuffer: bytes, x: np.ndarray, tolerance: float) -> dict[str, float | int | bool]:
    """Keras and LiteRT on the same rows: the largest absolute difference, and whether it is within tolerance."""
    keras_probs = np.asarray(model(np.asarray(x, np.float32), training=False))[:, 0]
    lite_probs = run_tflite(flatbuffer, x)
    diff = float(np.max(np.abs(keras_probs - lite_probs))) if len(x) else 0.0
    return {
        "rows": len(x),
        "max_abs_diff": diff,
        "tolerance": tolerance,
        "agrees": diff <= tolerance,
        "any_nan": bool(np.isnan(lite_probs).any()),
        "tflite_bytes": len(flatbuffer),
    }
