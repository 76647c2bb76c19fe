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
    # Every cell a different count: 4 authentic called authentic, 3 called fake, 2 fakes called authentic, 1 fake.
    labels = np.array([1] * 7 + [0] * 3)
    predicted = np.array([1, 1, 1, 1, 0, 0, 0, 1, 1, 0])
    assert Rates.from_predictions(labels, predicted) == Rates(true_authentic=4, false_fake=3, false_authentic=2,
                                                              true_fake=1)


def test_one_labelled_row_per_class_gives_rates_of_zero_or_one_and_a_variance_over_one_row():
    rates = Rates(true_authentic=1, false_fake=0, false_authentic=1, true_fake=0)
    assert (rates.tpr, rates.fpr) == (1.0, 1.0)
    assert rates.variances() == (pytest.approx(0.75 * 0.25), pytest.approx(0.75 * 0.25))  # (1 + 0.5) / 2 = 0.75
    assert Rates(0, 1, 0, 1).variances() == (pytest.approx(0.25 * 0.75), pytest.approx(0.25 * 0.75))


def test_a_gap_of_exactly_0_05_between_the_rates_is_refused():
    rates = Rates(true_authentic=1, false_fake=7, false_authentic=3, true_fake=37)  # 1/8 - 3/40 == 0.05 exactly
    assert rates.tpr - rates.fpr == 0.05
    with pytest.raises(ValueError, match=r"barely separates the classes: it calls 12\.5% of authentic rows authentic "
                                         r"\(tpr, 1 of 8\) and 7\.5% of fake rows authentic \(fpr, 3 of 40\); "
                                         r"tpr - fpr = 0\.050 is not above 0\.05, so the authentic share cannot "
                                         r"be estimated from it$"):
        quantify.adjust(0.1, 0.01, rates)


def test_an_estimate_reads_back_as_a_dict_of_its_fields():
    e = quantify.Estimate(share=0.4, low=0.3, high=0.5, se=0.05, predicted_share=0.45, predicted_se=0.04,
                          list_share=0.6, followers=100, sampled=20)
    assert e.as_dict() == {"share": 0.4, "low": 0.3, "high": 0.5, "se": 0.05, "predicted_share": 0.45,
                           "predicted_se": 0.04, "list_share": 0.6, "followers": 100, "sampled": 20}


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


def test_the_regression_estimate_and_its_standard_error_by_hand():
    """Six followers, four sampled. x_s = (0.1, 0.2, 0.5, 0.8), mean 0.4; y = (0, 0, 1, 1), mean 0.5;
    S_xy = 0.5, S_xx = 0.3, slope 5/3; everyone's mean score 0.5, so the estimate is 0.5 + 5/3 * 0.1 = 2/3.
    Residuals (0, -1/6, 1/3, -1/6), sum of squares 1/6; variance (1 - 4/6) * (1/6) / (4 - 2) / 4 = 1/144."""
    scores = np.array([0.1, 0.2, 0.4, 0.5, 0.8, 1.0])
    mean, se = quantify.regression_estimate(scores, np.array([0, 1, 3, 4]), np.array([0, 0, 1, 1]))
    assert mean == pytest.approx(2 / 3, abs=1e-12)
    assert se == pytest.approx(1 / 12, abs=1e-12)
    # Constant scores in the sample carry no slope: the plain sample mean, residuals about it.
    mean, se = quantify.regression_estimate(np.array([0.3, 0.3, 0.3, 0.9]), np.array([0, 1, 2]), np.array([1, 0, 0]))
    assert mean == pytest.approx(1 / 3, abs=1e-12)
    assert se == pytest.approx(np.sqrt((1 - 3 / 4) * (4 / 9 + 1 / 9 + 1 / 9) / 1 / 3), abs=1e-12)
    # Two sampled units leave no residual degree of freedom: an estimate without a standard error.
    mean, se = quantify.regression_estimate(scores, np.array([0, 5]), np.array([0, 1]))
    assert mean == pytest.approx(0.0 + (1 - 0) / 0.9 * (0.5 - 0.1), abs=1e-12) and np.isnan(se)
    with pytest.raises(ValueError, match=r"^an empty sample estimates nothing$"):
        quantify.regression_estimate(scores, np.array([], int), np.array([]))


def test_the_error_rates_and_their_variances_by_hand():
    """3 of 4 authentic called authentic, 1 of 5 fake called authentic; half a count each way:
    tpr's variance 0.7 * 0.3 / 4, fpr's 0.25 * 0.75 / 5."""
    rates = Rates(true_authentic=3, false_fake=1, false_authentic=1, true_fake=4)
    assert (rates.tpr, rates.fpr) == (pytest.approx(0.75), pytest.approx(0.2))
    assert rates.variances() == (pytest.approx(0.0525, abs=1e-15), pytest.approx(0.0375, abs=1e-15))
    # A perfect rate on few rows does not claim to be exact: 0.5 / 11 of an error, over 10 rows.
    perfect = Rates(true_authentic=10, false_fake=0, false_authentic=0, true_fake=10)
    assert perfect.variances() == (pytest.approx((10.5 / 11) * (0.5 / 11) / 10), pytest.approx((0.5 / 11) *
                                                                                               (10.5 / 11) / 10))
    # No labelled row of a class: its rate is 0 over no rows, not a division by zero.
    assert Rates(0, 0, 1, 4).tpr == 0.0 and Rates(3, 1, 0, 0).fpr == 0.0


def test_the_adjusted_share_and_its_delta_method_standard_error_by_hand():
    """Predicted 0.6 (se 0.05) through tpr 0.75, fpr 0.2: share (0.6 - 0.2) / 0.55 = 8/11, and variance
    (0.05^2 + (8/11)^2 var_tpr + (3/11)^2 var_fpr) / 0.55^2 with the variances above."""
    rates = Rates(true_authentic=3, false_fake=1, false_authentic=1, true_fake=4)
    share, se = quantify.adjust(0.6, 0.05, rates)
    assert share == pytest.approx(8 / 11, abs=1e-12)
    assert se == pytest.approx(np.sqrt((0.0025 + 64 / 121 * 0.0525 + 9 / 121 * 0.0375) / 0.3025), abs=1e-12)
    # Beyond the rates' range the share is unclipped, the variance weights use the clipped share (1 here).
    share, se = quantify.adjust(0.9, 0.05, rates)
    assert share == pytest.approx(0.7 / 0.55, abs=1e-12)
    assert se == pytest.approx(np.sqrt((0.0025 + 0.0525) / 0.3025), abs=1e-12)
    # The refusal sits at a gap of 0.05: tpr 0.3, fpr 0.25 is refused; tpr 0.3, fpr 0.2 is not.
    with pytest.raises(ValueError, match="barely separates"):
        quantify.adjust(0.5, 0.01, Rates(3, 7, 1, 3))
    assert quantify.adjust(0.5, 0.01, Rates(3, 7, 1, 4))[0] == pytest.approx((0.5 - 0.2) / 0.1)


def test_the_two_phase_estimate_and_its_interval_by_hand():
    """The six followers above through those rates: share (2/3 - 0.2) / 0.55, se by the delta method,
    the interval share +- 1.959964 se cut to [0, 1]; the list model alone calls 3 of 6 authentic at 0.5."""
    scores = np.array([0.1, 0.2, 0.4, 0.5, 0.8, 1.0])
    rates = Rates(true_authentic=3, false_fake=1, false_authentic=1, true_fake=4)
    e = quantify.estimate(scores, 0.5, np.array([0, 1, 3, 4]), np.array([0, 0, 1, 1]), rates)
    share = (2 / 3 - 0.2) / 0.55
    se = np.sqrt((1 / 144 + share**2 * 0.0525 + (1 - share) ** 2 * 0.0375) / 0.3025)
    assert (e.share, e.se, e.predicted_share, e.predicted_se) == pytest.approx((share, se, 2 / 3, 1 / 12), abs=1e-12)
    assert e.low == pytest.approx(share - 1.959964 * se, abs=1e-6) and 0 < e.low < share
    assert share + 1.959964 * se > 1 and e.high == 1.0  # cut at 1
    # One authentic in the sample, rates on 400 and 500 rows: predicted 23/60, share 1/3, the low end cut at 0.
    many = Rates(true_authentic=300, false_fake=100, false_authentic=100, true_fake=400)
    e = quantify.estimate(scores, 0.5, np.array([0, 1, 3, 4]), np.array([0, 0, 0, 1]), many)
    var_tpr, var_fpr = (300.5 / 401) * (100.5 / 401) / 400, (100.5 / 501) * (400.5 / 501) / 500
    se = np.sqrt((13 / 1440 + var_tpr / 9 + 4 / 9 * var_fpr) / 0.3025)
    assert (e.share, e.se, e.predicted_share) == pytest.approx((1 / 3, se, 23 / 60), abs=1e-12)
    assert e.high == pytest.approx(1 / 3 + 1.959964 * se, abs=1e-6) and e.high < 1
    assert 1 / 3 - 1.959964 * se < 0 and e.low == 0.0
    assert (e.list_share, e.followers, e.sampled) == (0.5, 6, 4)
    # A share estimated above 1 is reported as 1, its interval cut at 1.
    high = quantify.estimate(scores, 0.5, np.array([0, 1, 3, 4]), np.array([1, 1, 1, 1]), rates)
    assert high.share == 1.0 and high.high == 1.0 and high.low == pytest.approx(0.8 / 0.55 - 1.959964 * high.se,
                                                                                abs=1e-6)


def simulated_coverage(followers: int, sampled: int, labelled: int, draws: int, seed: int) -> float:
    """How often the 95% interval holds the true authentic share: every draw makes a new account (60%
    authentic), a list model that tracks the labels loosely, a shipped model erring at tpr 0.85 / fpr 0.15,
    and new held-out confusion counts of ``labelled`` rows per class, so the rates' own noise is in the draw."""
    rng = np.random.default_rng(seed)
    covered = 0
    for _ in range(draws):
        labels = rng.random(followers) < 0.6
        scores = np.clip(0.3 + 0.4 * labels + rng.normal(0, 0.25, followers), 0, 1)
        shipped = np.where(labels, rng.random(followers) < 0.85, rng.random(followers) < 0.15)
        hits, false_hits = rng.binomial(labelled, 0.85), rng.binomial(labelled, 0.15)
        rates = Rates(hits, labelled - hits, false_hits, labelled - false_hits)
        sample = np.sort(rng.choice(followers, sampled, replace=False))
        e = quantify.estimate(scores, 0.5, sample, shipped[sample], rates)
        covered += e.low <= labels.mean() <= e.high
    return covered / draws


@pytest.mark.parametrize(("followers", "sampled", "labelled", "draws"), [
    (400, 60, 30, 4000),  # small counts: the error rates' uncertainty dominates the interval
    (20000, 2000, 5000, 2000),  # large counts: the sample's dominates
])
def test_the_95_percent_interval_covers_93_to_97_percent_at_small_and_large_counts(followers, sampled, labelled,
                                                                                   draws):
    """Bounded from both sides: too narrow (a standard error 10% short, rate variances too small) falls
    under 93%, too wide (a variance counted twice) over 97%. Binomial noise of the coverage over these
    draws is at most 0.5 points, so the band is four of its standard errors either side of 95%."""
    coverage = simulated_coverage(followers, sampled, labelled, draws, seed=followers)
    assert 0.93 <= coverage <= 0.97, coverage
