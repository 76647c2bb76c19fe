"""Every metric the pipeline reports, defined once: its name, which way is better, how it is shown, its range.

:mod:`pipeline.evaluation.metrics` computes them; evaluate, compare, the gate, the report, the CI report and
the MLflow logging take their names, directions and display names from here, and ``tests/test_common.py``
iterates over this list (as scikit-learn's ``tests/test_common.py`` iterates over its metrics), so a metric
added here is checked everywhere at once. Apart from :mod:`.metrics` because reading it needs no
scikit-learn: the gate and the CI report read verdicts without it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str  # the key in reports/evaluation.json, metrics.json, splits.parquet and MLflow
    display: str  # how the report and the model card call it
    higher_is_better: bool
    low: float  # every value lies in [low, high] (NaN where undefined: test rows of one class)
    high: float

    @property
    def label(self) -> str:
        """The display name, saying so when lower is better (the report's tables)."""
        return self.display if self.higher_is_better else f"{self.display} (lower is better)"

    def gain(self, low: float, high: float) -> tuple[float, float]:
        """An interval of a difference (new minus old) as an interval of improvement: as it is when higher
        is better, negated (and so reversed) when lower is, so that above zero is better either way."""
        return (low, high) if self.higher_is_better else (-high, -low)


_ALL = (
    Metric("accuracy", "accuracy", True, 0.0, 1.0),
    Metric("balanced_accuracy", "balanced accuracy", True, 0.0, 1.0),
    Metric("precision_authentic", "precision (authentic)", True, 0.0, 1.0),
    Metric("precision_fake", "precision (fake)", True, 0.0, 1.0),
    Metric("recall_authentic", "recall (authentic)", True, 0.0, 1.0),
    Metric("recall_fake", "recall (fake)", True, 0.0, 1.0),
    Metric("f1_authentic", "F1 (authentic)", True, 0.0, 1.0),
    Metric("f1_fake", "F1 (fake)", True, 0.0, 1.0),
    Metric("mcc", "MCC", True, -1.0, 1.0),
    Metric("roc_auc", "ROC AUC", True, 0.0, 1.0),
    # "fake" is the class the model calls out: its precision-recall curve scores 1 - P(authentic).
    Metric("average_precision_fake", "average precision (fake)", True, 0.0, 1.0),
    Metric("brier", "Brier score", False, 0.0, 1.0),
    # Clipped as Keras clips (1e-7), so finite; unbounded above in principle.
    Metric("log_loss", "log loss", False, 0.0, math.inf),
    Metric("ece", "expected calibration error", False, 0.0, 1.0),
)
# By name, in the order every report lists them (reports/evaluation.json's keys follow it).
METRICS: dict[str, Metric] = {m.name: m for m in _ALL}


def select(*names: str) -> tuple[str, ...]:
    """``names``, checked to be registered metrics: each consumer's choice of metrics, misspelt nowhere."""
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise KeyError(f"not a registered metric: {', '.join(unknown)} (see pipeline/evaluation/metric_registry.py)")
    return names


# Compared across runs split by split (data/predictions/splits.parquet, `igfake compare`, the gate's
# no_regression rule, each member's MLflow run): threshold-free ranking and probability quality beside accuracy.
SPLIT_METRICS = select("accuracy", "roc_auc", "log_loss")
# What each calibration option is judged by on the test rows (evaluate, the report, MLflow).
CALIBRATION_METRICS = select("log_loss", "brier", "ece")
