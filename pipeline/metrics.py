"""Classification metrics, computed once for train's MLflow runs and evaluate's reports.

Label 1 is authentic, 0 is fake/spam, as in the article.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn import metrics as skm


def classification_metrics(y_true: np.ndarray, prob: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Accuracy, per-class precision and recall, and ROC AUC of P(authentic) against the labels."""
    y_true = np.asarray(y_true).astype(int)
    y_pred = (np.asarray(prob) >= threshold).astype(int)
    precision, recall, _, _ = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=[1, 0], zero_division=0.0)
    auc = skm.roc_auc_score(y_true, prob) if len(set(y_true)) == 2 else float("nan")
    return {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "precision_authentic": float(precision[0]),
        "precision_fake": float(precision[1]),
        "recall_authentic": float(recall[0]),
        "recall_fake": float(recall[1]),
        "roc_auc": float(auc),
    }


def split_metrics(y_true: np.ndarray, prob: np.ndarray, threshold: float) -> dict[str, float]:
    """The metrics compared across runs, split by split: accuracy, ROC AUC and log loss."""
    y_true = np.asarray(y_true).astype(int)
    prob = np.asarray(prob, dtype=np.float64)
    both = len(set(y_true)) == 2
    return {
        "accuracy": float(np.mean((prob >= threshold) == (y_true == 1))),
        "roc_auc": float(skm.roc_auc_score(y_true, prob)) if both else float("nan"),
        # Clipped as Keras clips, so a confident member costs a large but finite loss.
        "log_loss": float(skm.log_loss(y_true, np.clip(prob, 1e-7, 1 - 1e-7), labels=[0, 1])),
    }


def confusion(y_true: np.ndarray, prob: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """2x2 counts, rows actual (authentic, fake), columns predicted (authentic, fake)."""
    y_pred = (np.asarray(prob) >= threshold).astype(int)
    return skm.confusion_matrix(np.asarray(y_true).astype(int), y_pred, labels=[1, 0])


def format_confusion(cm: np.ndarray) -> str:
    """The confusion matrix and the figures under it, laid out as the article printed them."""
    cm = np.asarray(cm, dtype=float)
    (tp, fn), (fp, tn) = cm
    actual_y, actual_n = tp + fn, fp + tn
    pred_y, pred_n = tp + fp, fn + tn
    total = cm.sum()

    def ratio(a: float, b: float) -> float:
        return float(a / b) if b else 0.0

    rows = [
        "Confusion matrix for profile authenticity (Y = authentic).",
        f"{'':>12}{'Pred.':^22}|{'Total':>9}",
        f"{'':>12}{'Y':>10}{'N':>12}|",
        f"{'Act.  Y':<12}{tp:>10.2f} | {fn:>9.2f} |{actual_y:>9.2f}",
        f"{'      N':<12}{fp:>10.2f} | {tn:>9.2f} |{actual_n:>9.2f}",
        f"{'Total':<12}{pred_y:>10.2f} | {pred_n:>9.2f} |{total:>9.2f}",
        f"Accuracy: {ratio(tp + tn, total)!r}",
        f"True positive: {ratio(tp, actual_y)!r}",
        f"False positive: {ratio(fn, actual_y)!r}",
        f"Precision (Y): {ratio(tp, pred_y)!r}",
        f"Precision (N): {ratio(tn, pred_n)!r}",
    ]
    return "\n".join(rows) + "\n"


def summarize(values: Sequence[float]) -> dict[str, Any]:
    """mean, std (population), min, max and n of per-seed values."""
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()), "max": float(v.max()),
            "n": int(v.size)}


def roc_points(y_true: np.ndarray, prob: np.ndarray) -> list[dict[str, float]]:
    fpr, tpr, thresholds = skm.roc_curve(np.asarray(y_true).astype(int), prob)
    return [{"fpr": float(a), "tpr": float(b), "threshold": float(min(t, 1.0))}
            for a, b, t in zip(fpr, tpr, thresholds, strict=True)]
