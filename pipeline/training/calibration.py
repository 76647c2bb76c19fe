"""Probability calibration of the shipped model, fitted on validation rows (``train.calibration``).

Both methods are a logistic regression on the shipped model's logit ``z``, so they keep the ranking (ROC
AUC, average precision) and change only how far the probabilities can be trusted as frequencies:

- ``temperature``: ``sigmoid(z / T)``, one parameter (Guo et al., 2017);
- ``platt``: ``sigmoid(a z + b)``, two (Platt, 1999), which can also move the 0.5 point.

For an ensemble, ``z`` is ``log p - log q`` with ``p`` the members' mean P(authentic) and ``q`` their mean
P(fake), each averaged from the members' own sigmoids: ``log(1 - p)`` would lose every digit of a
confident ensemble in float32, and the phone must compute the same number the pipeline fitted on. For one
member, ``z`` is its logit. The shipped Keras model computes this inside itself (see :mod:`pipeline.training.model`),
so the phone gets calibrated probabilities with nothing to apply.

Numpy and scikit-learn only: evaluate and the CLI read calibrations without TensorFlow.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy.special import expit, log_expit

from pipeline.core.errors import InputError

Method = Literal["none", "temperature", "platt"]
METHODS: tuple[Method, ...] = ("none", "temperature", "platt")


@dataclass(frozen=True)
class Calibration:
    """``P(authentic) = sigmoid(scale * z + shift)`` on the shipped model's logit ``z``."""

    method: Method = "none"
    scale: float = 1.0
    shift: float = 0.0

    @property
    def is_identity(self) -> bool:
        return self.method == "none"

    @property
    def temperature(self) -> float:
        return 1.0 / self.scale

    def apply(self, z: np.ndarray) -> np.ndarray:
        """Calibrated P(authentic), float64, for logits ``z``."""
        return expit(self.scale * np.asarray(z, np.float64) + self.shift)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | ({"temperature": self.temperature} if self.method == "temperature" else {})


IDENTITY = Calibration()


def ensemble_logit(member_logits: np.ndarray) -> np.ndarray:
    """``log p - log q`` of the members' mean P(authentic) ``p`` and mean P(fake) ``q``: float64 [N] from
    the members' logits [S, N], computed in log space so no confident row rounds to an infinite logit."""
    logits = np.asarray(member_logits, np.float64)
    n = logits.shape[0]
    log_p = np.logaddexp.reduce(log_expit(logits), axis=0) - np.log(n)
    log_q = np.logaddexp.reduce(log_expit(-logits), axis=0) - np.log(n)
    return log_p - log_q


def fit(method: Method, y: np.ndarray, z: np.ndarray, where: str = "validation rows") -> Calibration:
    """The calibration ``method`` that minimises the log loss of labels ``y`` (1 authentic) given logits ``z``.

    Unpenalised logistic regression on ``z`` (with an intercept for Platt, without for temperature). It
    refuses, naming ``where``, what no calibration can be fitted on: one class only, rows the logit already
    separates perfectly (the best temperature would then be 0, an infinitely confident model), or a model
    whose logit runs against the labels.
    """
    if method == "none":
        return IDENTITY
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(y).astype(int)
    z = np.asarray(z, np.float64)
    if len(set(y)) < 2:
        raise InputError(f"train.calibration: {method} needs {where} of both classes; there are {len(y)} rows "
                         f"with {int(y.sum())} authentic")
    if z[y == 1].min() > z[y == 0].max():
        raise InputError(f"train.calibration: the model separates the {len(y)} {where} perfectly, so there is "
                         f"no error to calibrate on (the fitted temperature would be 0); use train.calibration: none")
    # C = inf: unpenalised, so the fit is the log-loss minimum on these rows.
    model = LogisticRegression(C=np.inf, fit_intercept=method == "platt", tol=1e-10, max_iter=10_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # a fit that did not converge must not ship quietly
        model.fit(z[:, None], y)
    scale, shift = float(model.coef_[0, 0]), float(model.intercept_[0]) if method == "platt" else 0.0
    if not scale > 0:
        raise InputError(f"train.calibration: on the {where} the model's logit runs against the labels (fitted "
                         f"slope {scale:.3g}); calibration would invert the model, so it is not fitted")
    return Calibration(method, scale, shift)


def from_dict(data: dict[str, Any]) -> Calibration:
    """The inverse of :meth:`Calibration.to_dict`."""
    return Calibration(data["method"], float(data["scale"]), float(data["shift"]))
