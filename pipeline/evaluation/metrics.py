"""Classification metrics, computed once for train's MLflow runs and evaluate's reports.

Label 1 is authentic, 0 is fake/spam, as in the article.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn import metrics as skm

from pipeline.evaluation.metric_registry import METRICS


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


# -- metrics with intervals ------------------------------------------------------------------------------
# "fake" is the class the model calls out, so the PR curve and average precision are the fake class's
# (score 1 - P(authentic)); every count-based metric is reported for both classes where it differs.

# Every registered metric (:mod:`pipeline.evaluation.metric_registry`), in its order.
INTERVAL_METRICS = tuple(METRICS)


def _clip(prob: np.ndarray) -> np.ndarray:
    # Clipped as Keras clips, so a confident mistake costs a large but finite loss.
    return np.clip(np.asarray(prob, np.float64), 1e-7, 1 - 1e-7)


def row_log_loss(y_true: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """Each row's log loss (clipped as Keras clips), for any shape: averaged, it is the log loss."""
    y, clipped = np.asarray(y_true, np.float64), _clip(prob)
    return -(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))


def expected_calibration_error(y_true: np.ndarray, prob: np.ndarray, bins: int) -> float:
    """Row-weighted mean |share authentic - mean P(authentic)| over ``bins`` equal-width probability bins."""
    return float(_ece(np.asarray(y_true, np.float64)[None, :], np.asarray(prob, np.float64)[None, :], bins)[0])


def _ece(y: np.ndarray, p: np.ndarray, bins: int) -> np.ndarray:
    """ECE of every row of [B, N] arrays at once."""
    b, n = p.shape
    which = np.minimum((p * bins).astype(int), bins - 1) + bins * np.arange(b)[:, None]
    gap = np.bincount(which.ravel(), weights=(y - p).ravel(), minlength=b * bins).reshape(b, bins)
    return np.abs(gap).sum(axis=1) / n


def ece_floor(prob: np.ndarray, bins: int, draws: int, seed: int) -> dict[str, float]:
    """The ECE a perfectly calibrated model would show on these rows: labels drawn from ``prob`` itself
    (``draws`` times, seeded), each draw's ECE against ``prob``; its mean and 95th percentile.

    ECE is biased upwards by the rows' own binomial noise: on 200 rows a model that is calibrated exactly
    still shows about 0.03. An ECE is only evidence of miscalibration where it sits above this floor.
    """
    p = np.asarray(prob, np.float64)
    y = (np.random.default_rng(seed).random((draws, p.size)) < p).astype(np.float64)
    e = _ece(y, np.broadcast_to(p, y.shape), bins)
    return {"mean": float(e.mean()), "p95": float(np.percentile(e, 95)), "draws": int(draws)}


def reliability(y_true: np.ndarray, prob: np.ndarray, bins: int) -> list[dict[str, float]]:
    """Per non-empty bin: its range, rows, mean P(authentic) and the share that is authentic."""
    y, p = np.asarray(y_true, np.float64), np.asarray(prob, np.float64)
    which = np.minimum((p * bins).astype(int), bins - 1)
    out = []
    for k in range(bins):
        inside = which == k
        if inside.any():
            out.append({"bin_start": k / bins, "bin_end": (k + 1) / bins, "rows": int(inside.sum()),
                        "mean_predicted": float(p[inside].mean()), "share_authentic": float(y[inside].mean())})
    return out


def point_metrics(y_true: np.ndarray, prob: np.ndarray, threshold: float, bins: int) -> dict[str, float]:
    """Every metric of :data:`INTERVAL_METRICS` for one set of predictions, computed by scikit-learn."""
    y = np.asarray(y_true).astype(int)
    prob = np.asarray(prob, np.float64)
    y_pred = (prob >= threshold).astype(int)
    precision, recall, f1, _ = skm.precision_recall_fscore_support(y, y_pred, labels=[1, 0], zero_division=0.0)
    both = len(set(y)) == 2
    return {
        "accuracy": float(skm.accuracy_score(y, y_pred)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y, y_pred)) if both else float("nan"),
        "precision_authentic": float(precision[0]), "precision_fake": float(precision[1]),
        "recall_authentic": float(recall[0]), "recall_fake": float(recall[1]),
        "f1_authentic": float(f1[0]), "f1_fake": float(f1[1]),
        "mcc": float(skm.matthews_corrcoef(y, y_pred)),
        "roc_auc": float(skm.roc_auc_score(y, prob)) if both else float("nan"),
        "average_precision_fake": float(skm.average_precision_score(1 - y, 1 - prob)) if both else float("nan"),
        "brier": float(skm.brier_score_loss(y, prob, pos_label=1)),
        "log_loss": float(skm.log_loss(y, _clip(prob), labels=[0, 1])),
        "ece": expected_calibration_error(y, prob, bins),
    }


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a, dtype=np.float64), where=b > 0)


def resampled_metrics(y: np.ndarray, p: np.ndarray, threshold: float | np.ndarray, bins: int) -> dict[str, np.ndarray]:
    """:func:`point_metrics` for every row of [B, N] label and probability arrays at once (bootstrap
    resamples, seed members, or a threshold sweep with ``threshold`` of shape [B, 1]).

    Vectorised from the confusion counts and ranks, because 1,000 resamples through scikit-learn one at a
    time would cost seconds per model; ``tests/test_metrics.py`` holds it equal to :func:`point_metrics`.
    Undefined values (a resample without one class) are NaN and left out of the interval.
    """
    from scipy.stats import rankdata

    y = y.astype(np.float64)
    pred = (p >= threshold).astype(np.float64)
    tp, fn = (pred * y).sum(1), ((1 - pred) * y).sum(1)
    fp, tn = (pred * (1 - y)).sum(1), ((1 - pred) * (1 - y)).sum(1)
    n = y.shape[1]
    pos, neg = tp + fn, fp + tn
    prec_a, prec_f = _safe_div(tp, tp + fp), _safe_div(tn, tn + fn)
    rec_a, rec_f = _safe_div(tp, pos), _safe_div(tn, neg)
    both = (pos > 0) & (neg > 0)
    ranks = rankdata(p, axis=1)
    auc = np.where(both, _safe_div((ranks * y).sum(1) - pos * (pos + 1) / 2, pos * neg), np.nan)
    mcc_den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    out = {
        "accuracy": (tp + tn) / n,
        "balanced_accuracy": np.where(both, (rec_a + rec_f) / 2, np.nan),
        "precision_authentic": prec_a, "precision_fake": prec_f, "recall_authentic": rec_a, "recall_fake": rec_f,
        "f1_authentic": _safe_div(2 * prec_a * rec_a, prec_a + rec_a),
        "f1_fake": _safe_div(2 * prec_f * rec_f, prec_f + rec_f),
        "mcc": _safe_div(tp * tn - fp * fn, mcc_den),
        "roc_auc": auc,
        "average_precision_fake": np.where(both, _average_precision(1 - y, 1 - p), np.nan),
        "brier": ((p - y) ** 2).mean(1),
        "log_loss": row_log_loss(y, p).mean(1),
        "ece": _ece(y, p, bins),
    }
    return out


def _average_precision(y: np.ndarray, score: np.ndarray) -> np.ndarray:
    """scikit-learn's average precision for every row of [B, N] arrays: sum over distinct score thresholds,
    high to low, of (recall gained) x (precision there); tied scores count as one threshold."""
    order = np.argsort(-score, axis=1, kind="stable")
    s, hit = np.take_along_axis(score, order, 1), np.take_along_axis(y, order, 1)
    n = s.shape[1]
    position = np.arange(n)
    is_end = np.ones_like(s, dtype=bool)
    is_end[:, :-1] = s[:, :-1] != s[:, 1:]
    # Each row's position ends the run of ties it belongs to at the next end at or after it.
    group_end = np.minimum.accumulate(np.where(is_end, position, n)[:, ::-1], axis=1)[:, ::-1]
    cum_hits = np.cumsum(hit, axis=1)
    precision_at_end = np.take_along_axis(cum_hits, group_end, 1) / (group_end + 1)
    return _safe_div((hit * precision_at_end).sum(1), hit.sum(1))


def bootstrap_rows(n: int, resamples: int, seed: int) -> np.ndarray:
    """[resamples, n] row indices drawn with replacement: the same draws serve every model, so their
    intervals are comparable (and the differences between models paired)."""
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def with_intervals(y_true: np.ndarray, prob: np.ndarray, threshold: float, bins: int,
                   rows: np.ndarray) -> dict[str, dict[str, float]]:
    """Each metric's point value and 95% percentile-bootstrap interval over the resampled ``rows``."""
    y, prob = np.asarray(y_true), np.asarray(prob, np.float64)
    point = point_metrics(y, prob, threshold, bins)
    resampled = resampled_metrics(y[rows], prob[rows], threshold, bins)
    out = {}
    for name in INTERVAL_METRICS:
        values = resampled[name][np.isfinite(resampled[name])]
        lo, hi = (np.percentile(values, [2.5, 97.5]) if values.size else (np.nan, np.nan))
        out[name] = {"value": point[name], "ci95": [float(lo), float(hi)]}
    return out


def precision_recall_points(y_true: np.ndarray, prob: np.ndarray) -> list[dict[str, float]]:
    """The fake class's precision-recall curve: calling a profile fake when P(authentic) < 1 - score."""
    precision, recall, thresholds = skm.precision_recall_curve(1 - np.asarray(y_true).astype(int),
                                                               1 - np.asarray(prob, np.float64))
    # P(authentic) threshold below which a profile is called fake; the last point has none.
    cut = np.append(1 - thresholds, 0.0)
    return [{"recall": float(r), "precision": float(p), "threshold": float(t)}
            for p, r, t in zip(precision, recall, cut, strict=True)]
