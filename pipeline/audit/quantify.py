"""How many of an account's followers are authentic: a two-phase estimate with a 95% interval.

Phase one scores *every* follower with the list-only model (what a follower list page carries: no
request per follower); phase two fetches a seeded simple random sample of full profiles and scores them
with the shipped model. Two biases stand between those numbers and the authentic share, and each is
corrected by the piece of information that can see it:

1. **The list-only model's bias** (it knows little, and how wrong it is depends on the account's mix)
   is corrected by the sample: the *regression estimator* of survey sampling (model-assisted, GREG)
   estimates the share the shipped model would call authentic over all followers as the sample mean plus
   the slope times how far the sample's list scores sit from everyone's. It is unbiased under simple
   random sampling whatever the list model is; the better the list model tracks the shipped one, the
   narrower the interval (the residual variance is what is left).
2. **The shipped model's own errors** (its false-authentic and false-fake rates) are corrected as in
   adjusted classify-and-count: ``pi = (p - fpr) / (tpr - fpr)``, with tpr and fpr measured on labelled
   rows it never trained on. Their uncertainty joins the interval by the delta method.

Why not a quantification library: quapy's ACC and friends fit their own scikit-learn classifiers and
assume only the class mix changes between training and the audited account (prior shift); here the
account's own random sample makes step 1 assumption-free, and step 2 is three lines of arithmetic whose
variance we need anyway for the interval (see docs/predict-and-audit.md, Auditing).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

Z95 = 1.959963984540054
# The least tpr - fpr (Youden's J: sensitivity + specificity - 1, the adjustment's denominator) an estimate is
# made from. At J = 0 the predicted share says nothing about the labelled one; near it, the adjustment
# divides the sample's noise and the rates' by J (at 0.05, by 20): the interval would span everything.
MIN_SEPARATION = 0.05


@dataclass(frozen=True)
class Rates:
    """How the shipped model's decisions relate to the labels, on held-out labelled rows (counts)."""

    true_authentic: int  # labelled authentic, predicted authentic
    false_fake: int  # labelled authentic, predicted fake
    false_authentic: int  # labelled fake, predicted authentic
    true_fake: int  # labelled fake, predicted fake

    @property
    def tpr(self) -> float:
        return self.true_authentic / max(self.true_authentic + self.false_fake, 1)

    @property
    def fpr(self) -> float:
        return self.false_authentic / max(self.false_authentic + self.true_fake, 1)

    def variances(self) -> tuple[float, float]:
        """Binomial variances of tpr and fpr, with half a count added each way so that a rate of 0 or 1
        on a few dozen rows does not claim to be exact."""
        def var(hits: int, n: int) -> float:
            p = (hits + 0.5) / (n + 1)
            return p * (1 - p) / max(n, 1)

        return (var(self.true_authentic, self.true_authentic + self.false_fake),
                var(self.false_authentic, self.false_authentic + self.true_fake))

    @classmethod
    def from_predictions(cls, labels: np.ndarray, predicted: np.ndarray) -> Rates:
        labels, predicted = np.asarray(labels).astype(bool), np.asarray(predicted).astype(bool)
        return cls(int(np.sum(labels & predicted)), int(np.sum(labels & ~predicted)),
                   int(np.sum(~labels & predicted)), int(np.sum(~labels & ~predicted)))


@dataclass(frozen=True)
class Estimate:
    share: float  # the estimated authentic share, in [0, 1]
    low: float  # the 95% interval
    high: float
    se: float
    predicted_share: float  # phase two before step 2: the share the shipped model would call authentic
    predicted_se: float
    list_share: float  # phase one alone: the share the list-only model calls authentic (biased)
    followers: int
    sampled: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def regression_estimate(scores: np.ndarray, sample: np.ndarray, outcome: np.ndarray) -> tuple[float, float]:
    """(mean, standard error) of ``outcome`` over the whole population, from its values on ``sample``.

    ``scores`` is an auxiliary number known for every unit (the list model's P(authentic)), ``sample``
    the indices of a simple random sample without replacement, ``outcome`` the value on each sampled
    unit (1 if the shipped model calls it authentic). The regression estimator
    ``mean(y_s) + b (mean(x) - mean(x_s))`` with the sample's least-squares slope ``b``; its variance is
    the residual variance with the finite-population correction, (1 - n/N) s_e^2 / n.
    """
    scores = np.asarray(scores, float)
    sample = np.asarray(sample, int)
    y = np.asarray(outcome, float)
    n, big_n = len(sample), len(scores)
    if n == 0:
        raise ValueError("an empty sample estimates nothing")
    x = scores[sample]
    sxx = float(np.sum((x - x.mean()) ** 2))
    slope = float(np.sum((x - x.mean()) * (y - y.mean())) / sxx) if sxx > 0 else 0.0
    mean = float(y.mean() + slope * (scores.mean() - x.mean()))
    if n < 3:
        return mean, float("nan")
    residuals = y - y.mean() - slope * (x - x.mean())
    variance = (1 - n / big_n) * float(np.sum(residuals**2)) / (n - 2) / n
    return mean, math.sqrt(max(variance, 0.0))


def separation_problem(rates: Rates) -> str | None:
    """Why the adjustment cannot be made with ``rates`` (tpr - fpr at most :data:`MIN_SEPARATION`), or None."""
    tpr, fpr = rates.tpr, rates.fpr
    if tpr - fpr > MIN_SEPARATION:
        return None
    return (f"the shipped model barely separates the classes: it calls {tpr:.1%} of authentic rows authentic "
            f"(tpr, {rates.true_authentic} of {rates.true_authentic + rates.false_fake}) and {fpr:.1%} of fake "
            f"rows authentic (fpr, {rates.false_authentic} of {rates.false_authentic + rates.true_fake}); "
            f"tpr - fpr = {tpr - fpr:.3f} is not above {MIN_SEPARATION}, so the authentic share cannot be "
            "estimated from it")


def adjust(predicted_share: float, predicted_se: float, rates: Rates) -> tuple[float, float]:
    """Adjusted classify-and-count: the labelled share behind a predicted share, and its delta-method se."""
    problem = separation_problem(rates)
    if problem:
        raise ValueError(problem)
    tpr, fpr = rates.tpr, rates.fpr
    gap = tpr - fpr
    share = (predicted_share - fpr) / gap
    var_tpr, var_fpr = rates.variances()
    clipped = min(max(share, 0.0), 1.0)
    variance = (predicted_se**2 + clipped**2 * var_tpr + (1 - clipped) ** 2 * var_fpr) / gap**2
    return share, math.sqrt(variance)


def estimate(list_scores: np.ndarray, list_threshold: float, sample: np.ndarray, sample_authentic: np.ndarray,
             rates: Rates) -> Estimate:
    """The authentic share of all followers and its 95% interval (see the module docstring).

    ``list_scores``: the list-only model's P(authentic) for every follower; ``sample``: indices of the
    simple random sample whose full profiles were scored; ``sample_authentic``: the shipped model's
    decision (1 authentic) for each of them; ``rates``: the shipped model's held-out confusion counts.
    """
    list_scores = np.asarray(list_scores, float)
    predicted, predicted_se = regression_estimate(list_scores, sample, sample_authentic)
    share, se = adjust(predicted, predicted_se, rates)
    clipped = min(max(share, 0.0), 1.0)
    return Estimate(share=clipped, low=max(share - Z95 * se, 0.0), high=min(share + Z95 * se, 1.0), se=se,
                    predicted_share=predicted, predicted_se=predicted_se,
                    list_share=float(np.mean(list_scores >= list_threshold)), followers=len(list_scores),
                    sampled=len(sample))


def sample_indices(population: int, size: int, seed: int) -> np.ndarray:
    """A seeded simple random sample without replacement of ``min(size, population)`` indices, sorted."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(population, size=min(size, population), replace=False))
