"""The shipped TFLite model run as a phone runs it: the LiteRT interpreter, no TensorFlow.

Importing TensorFlow costs seconds and hundreds of MB; a phone, and a person waiting on ``igfake
predict``, should pay for neither. Features come from :mod:`pipeline.features`, the code training used,
so prediction cannot skew from training.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import features
from pipeline.core.errors import InputError

BATCH = 4096


class Model:
    """A TFLite flatbuffer loaded into a LiteRT interpreter once, then run on batches of rows."""

    def __init__(self, flatbuffer: bytes, name: str = "<model>") -> None:
        from ai_edge_litert.interpreter import Interpreter

        try:
            self._interpreter = Interpreter(model_content=flatbuffer)
            (self._input,), (self._output,) = (self._interpreter.get_input_details(),
                                               self._interpreter.get_output_details())
        except (ValueError, RuntimeError) as exc:
            raise InputError(f"{name}: not a usable TFLite model ({str(exc).splitlines()[0]}); "
                             "run `dvc repro` to rebuild it") from None
        self.name = name
        # What the model is, whatever its file is called: batch scoring writes it beside every score.
        self.sha256 = hashlib.sha256(flatbuffer).hexdigest()
        self.n_features = int(self._input["shape"][-1])
        self._rows = -1

    @classmethod
    def load(cls, path: Path) -> Model:
        """The model at ``path``; a clear error if it is missing, not a file or not a TFLite model."""
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: no model{' (a directory)' if path.is_dir() else ''}; run `dvc repro` first")
        return cls(path.read_bytes(), str(path))

    def run(self, x: np.ndarray) -> np.ndarray:
        """P(authentic) for each row of ``x``, computed by the LiteRT interpreter, as on a device."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise InputError(f"{self.name}: the model takes {self.n_features} features, got rows of "
                             f"{x.shape[-1] if x.ndim else 0}: is it the model for this feature set?")
        if len(x) == 0:
            return np.zeros(0, np.float32)
        # In batches: the interpreter's arena grows with the rows (an ensemble's hidden layer is hundreds of
        # floats a row), and beyond a few thousand rows a bigger batch is no faster.
        return np.concatenate([self._invoke(x[i : i + BATCH]) for i in range(0, len(x), BATCH)])

    def _invoke(self, x: np.ndarray) -> np.ndarray:
        interp, index = self._interpreter, self._input["index"]
        if len(x) != self._rows:
            interp.resize_tensor_input(index, list(x.shape))
            interp.allocate_tensors()
            self._rows = len(x)
        interp.set_tensor(index, np.ascontiguousarray(x))
        interp.invoke()
        return np.array(interp.get_tensor(self._output["index"]))[:, 0]


def run(flatbuffer: bytes, x: np.ndarray) -> np.ndarray:
    """P(authentic) for each row of ``x``, computed by the LiteRT interpreter, as on a device."""
    return Model(flatbuffer).run(x)


def predict(users: Iterable[Mapping[str, Any]], flatbuffer: bytes, feature_set: str) -> np.ndarray:
    """P(authentic) per normalised user-info record."""
    return run(flatbuffer, features.to_matrix(features.compute(users, feature_set), feature_set))
