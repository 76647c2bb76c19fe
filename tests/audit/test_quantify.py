"""The audit's estimator on constructed populations where the answer is known."""

import numpy as np
import pytest

from pipeline.audit import quantify
from pipeline.audit.quantify import Rates


def population(n: int, share: float, seed: int, list_bias: float = 0.0):
    """Labels with a given share, a noisy list score (optionally biased) and nothing else."""
    rng = np.random.default_rng(seed)
    labels = rng.random(n) < share
    scores = np.clip(0.5 + 0.25 * (labels - 0.5) * 2 + rng.normal(0, 0.25, n) + list_bias, 0, 1)
    return labels, scores


def test_sampling_everyone_gives_the_population_mean_exactly():
    labels, scores = population(500, 0.3, 1)
    mean, se = quantify.regression_estimate(scores, np.arange(500), labels)
    assert mean == pytest.approx(labels.mean(), abs=1e-12)
    assert se == 0.0


def test_an_outcome_the_scores_explain_is_estimated_exactly_from_any_sample():
    rng = np.random.default_rng(2)
    scores = rng.random(1000)
    outcome = 0.2 + 0.5 * scores
    sample = quantify.sample_indices(1000, 50, seed=3)
    mean, se = quantify.regression_estimate(scores, sample, outcome[sample])
    assert mean == pytest.approx(outcome.mean(), abs=1e-12)
    assert se == pytest.approx(0.0, abs=1e-9)


def test_regression_estimator_is_unbiased_and_its_interval_covers_whatever_the_list_models_bias():
    labels, scores = population(5000, 0.7, 4, list_bias=-0.3)  # a list model that sees far too few authentic
    assert np.mean(scores >= 0.5) < 0.5  # classify-and-count with it would be badly off
    estimates, covered = [], []
    for seed in range(300):
        sample = quantify.sample_indices(5000, 200, seed)
        mean, se = quantify.regression_estimate(scores, sample, labels[sample])
        estimates.append(mean)
        covered.append(abs(mean - labels.mean()) <= 1.96 * se)
    sd = np.std(estimates)
    assert abs(np.mean(estimates) - labels.mean()) < 3 * sd / np.sqrt(300)
    assert 0.91 <= np.mean(covered) <= 0.985
    # The scores help: the residual spread is below that of the plain sample mean.
    assert sd < np.sqrt(labels.mean() * (1 - labels.mean()) / 200 * (1 - 200 / 5000))


def test_adjusted_count_undoes_known_error_rates_exactly():
    rates = Rates(true_authentic=90, false_fake=10, false_authentic=20, true_fake=180)  # tpr 0.9, fpr 0.1
    for share in (0.0, 0.1, 0.5, 0.9, 1.0):
        predicted = 0.9 * share + 0.1 * (1 - share)
        estimate, se = quantify.adjust(predicted, 0.01, rates)
        assert estimate == pytest.approx(share)
        assert se > 0.01 / 0.8  # the rates' own uncertainty widens it


def test_adjusting_by_a_model_that_cannot_separate_is_refused():
    with pytest.raises(ValueError, match="barely separates"):
        quantify.adjust(0.5, 0.01, Rates(50, 50, 50, 50))


def test_rates_count_the_confusion_matrix():
    rates = Rates.from_predictions(np.array([1, 1, 1, 0, 0]), np.array([1, 0, 1, 1, 0]))
    assert rates == Rates(true_authentic=2, false_fake=1, false_authentic=1, true_fake=1)
    assert (rates.tpr, rates.fpr) == (pytest.approx(2 / 3), 0.5)


@pytest.mark.parametrize("share", [0.1, 0.5, 0.9])
def test_two_phase_estimate_recovers_the_labelled_share_through_an_erring_shipped_model(share):
    """Labels -> a shipped model that errs at known rates on the sample -> a biased list model on everyone:
    the estimate must find the labelled share, and its 95% interval must hold it about 95% of the time."""
    tpr, fpr = 0.93, 0.05
    rates = Rates(true_authentic=930, false_fake=70, false_authentic=50, true_fake=950)
    errors, covered = [], []
    for seed in range(200):
        labels, scores = population(4000, share, 100 + seed, list_bias=0.15)
        rng = np.random.default_rng(seed)
        shipped = np.where(labels, rng.random(4000) < tpr, rng.random(4000) < fpr)
        sample = quantify.sample_indices(4000, 300, seed)
        e = quantify.estimate(scores, 0.5, sample, shipped[sample], rates)
        errors.append(e.share - labels.mean())
        covered.append(e.low <= labels.mean() <= e.high)
        assert e.low <= e.share <= e.high and e.low >= 0 and e.high <= 1
    assert abs(np.mean(errors)) < 0.01
    assert np.mean(np.abs(errors)) < 0.03
    assert np.mean(covered) >= 0.9


def test_sample_is_seeded_distinct_and_capped():
    a, b = quantify.sample_indices(100, 30, 5), quantify.sample_indices(100, 30, 5)
    assert np.array_equal(a, b) and len(set(a)) == 30 and np.all(np.diff(a) > 0)
    assert not np.array_equal(a, quantify.sample_indices(100, 30, 6))
    assert np.array_equal(quantify.sample_indices(10, 30, 5), np.arange(10))
