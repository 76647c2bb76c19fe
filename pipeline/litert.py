"""The shipped TFLite model run as a phone runs it: the LiteRT interpreter, no TensorFlow.

Importing TensorFlow costs seconds and hundreds of MB; a phone, and a person waiting on ``igfake
predict``, should pay for neither. Features come from :mod:`pipeline.features`, the code training used,
so prediction cannot skew from training.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from pipeline import features


def run(flatbuffer: bytes, x: np.ndarray) -> np.ndarray:
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


def predict(users: Iterable[Mapping[str, Any]], flatbuffer: bytes, feature_set: str) -> np.ndarray:
    """P(authentic) per normalised user-info record."""
    return run(flatbuffer, features.to_matrix(features.compute(users, feature_set), feature_set))
