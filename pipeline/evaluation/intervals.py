"""The k-fold interval and the verdict: one definition, used by evaluate, the gate, compare and the report.

Every statement the project makes about the repeated k-fold results ("k-fold accuracy 0.945 [0.928,
0.961]", "worse than the forest", "blessed") comes from the functions below, so ``reports/metrics.json``,
``reports/variance.json``, ``reports/evaluation.json``, ``reports/gate.json``, ``igfake compare`` and the
report show the same interval and the same verdict for the same numbers, at the same level
(``1 - compare.alpha``).

**The interval.** The J split results of repeated k-fold cross-validation are not independent: their
training sets overlap, so the naive variance s^2/J claims far more certainty than J splits hold. The
Nadeau-Bengio corrected resampled t statistic (Nadeau & Bengio 2003, "Inference for the generalization
error"; Bouckaert & Frank 2004) uses the variance (1/J + n_test/n_train) s^2 with Student's t on J - 1
degrees of freedom. The same formula gives the interval of one model's mean (its split means) and of a
paired difference (the split-by-split differences of two models or runs).

**The verdict.** One wording: ``better`` when the whole interval of the difference lies on the good side
of zero, ``worse`` when it lies on the bad side, else ``no detectable difference``: the data cannot tell
the two apart at this level, which is not a proof that they are equal.

The hold-out intervals (a percentile bootstrap over the fixed hold-out's test rows,
:func:`pipeline.evaluation.metrics.with_intervals`) are another estimate, of another quantity (this
model on these rows), and are always 95%; their comparisons use the same verdict words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from pipeline.core.errors import CompareError

Verdict = Literal["better", "worse", "no detectable difference"]
BETTER: Verdict = "better"
WORSE: Verdict = "worse"
NO_DIFFERENCE: Verdict = "no detectable difference"
VERDICTS: tuple[Verdict, ...] = (BETTER, WORSE, NO_DIFFERENCE)
# The hold-out's percentile bootstraps (metrics, slices, calibration, the hold-out comparison) take the 2.5th
# and 97.5th percentiles whatever compare.alpha says: their level is this, the k-fold intervals' 1 - alpha.
BOOTSTRAP_LEVEL = 0.95


def percent(level: float) -> str:
    """An interval's level (``1 - alpha``) as the reports print it: ``95%`` for 0.95, ``97.5%`` for 0.975."""
    return f"{100 * level:.4g}%"


def verdict(low: float, high: float, higher_is_better: bool = True) -> Verdict:
    """The verdict on a difference (B - A) from its interval: see the module docstring."""
    if low > 0 or high < 0:
        return BETTER if (low > 0) == higher_is_better else WORSE
    return NO_DIFFERENCE


@dataclass(frozen=True)
class Interval:
    """A k-fold mean with its (1 - alpha) corrected interval."""

    mean: float
    low: float
    high: float
    df: float  # degrees of freedom of the t quantile: J - 1
    level: float  # 1 - alpha

    def as_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "low": self.low, "high": self.high, "df": self.df, "level": self.level}


def seed_matrix(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """``metric`` of the split results ``rows`` (one model) as a [split, member seed] table, splits in order
    of appearance, seeds in order."""
    return rows.pivot(index="split", columns="member_seed", values=metric).loc[list(dict.fromkeys(rows["split"]))]


def seed_means(matrix: np.ndarray) -> np.ndarray:
    """One number per k-fold split, the mean over its member seeds: seed noise is averaged before splits are
    compared. Every report of the split results reduces them here, so two reports of the same splits hold
    the same bits."""
    return np.nanmean(np.asarray(matrix, float), axis=1)


def split_means(rows: pd.DataFrame, metric: str) -> pd.Series:
    """:func:`seed_means` of ``rows`` (one model's split results), indexed by split name."""
    matrix = seed_matrix(rows, metric)
    return pd.Series(seed_means(matrix.to_numpy()), index=matrix.index, name=metric)


def test_train_ratio(test_rows: Sequence[float], train_rows: Sequence[float]) -> float:
    """n_test / n_train of the correction, averaged over the splits (they differ by a row at most)."""
    return float(np.mean(np.asarray(test_rows, float) / np.asarray(train_rows, float)))


def corrected_variance(values: np.ndarray, test_train_ratio: float) -> np.ndarray:
    """The Nadeau-Bengio corrected variance of the mean of J values along the last axis:
    (1/J + n_test/n_train) times their sample variance."""
    values = np.asarray(values, float)
    return (1 / values.shape[-1] + test_train_ratio) * values.var(axis=-1, ddof=1)


def corrected_interval(values: Sequence[float], test_train_ratio: float, alpha: float) -> Interval:
    """The (1 - alpha) interval of the mean of J per-split values, Nadeau-Bengio corrected, t with J - 1 df."""
    values = np.asarray(values, float)
    j = len(values)
    if j < 2:
        raise CompareError(f"an interval needs at least 2 k-fold splits, got {j} (set train.split.repeats >= 1)")
    mean, low, high, _ = (float(v) for v in corrected_t_test(values, test_train_ratio, alpha))
    return Interval(mean, low, high, float(j - 1), 1 - alpha)


def corrected_t_test(d: np.ndarray, test_train_ratio: float, alpha: float) -> tuple[np.ndarray, ...]:
    """The corrected resampled t-test of values along the last axis (the J splits) against zero.

    Returns (mean, low, high, p), each of the leading shape of ``d``, so many resampled comparisons are
    tested in one call. A zero standard error is an exact difference: p is 1 if it is zero, else 0.
    """
    from scipy import stats  # here, not at the top: reading a verdict back (track, promote) needs no SciPy

    d = np.asarray(d, float)
    j = d.shape[-1]
    mean = d.mean(axis=-1)
    se = np.sqrt(corrected_variance(d, test_train_ratio))
    half = float(stats.t.ppf(1 - alpha / 2, j - 1)) * se
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(se > 0, 2 * stats.t.sf(np.abs(mean / se), j - 1), np.where(mean == 0, 1.0, 0.0))
    return mean, mean - half, mean + half, p
