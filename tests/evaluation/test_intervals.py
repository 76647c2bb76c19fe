"""One k-fold interval and one verdict: by hand, against SciPy's own t-test, and the same in every report.

The oracles here share no code with :mod:`pipeline.evaluation.intervals`: quantiles from a printed t table,
means and variances worked out by hand, and ``scipy.stats.ttest_1samp`` (the uncorrected test: with the
correction term set to zero the two must agree exactly).
"""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats

from pipeline.core.errors import CompareError
from pipeline.core.params import GateParams
from pipeline.evaluation import compare, evaluate, gate, intervals, splits, variance
from pipeline.reporting import report
from pipeline.tracking import runs

# Student's t, 97.5th and 95th percentiles, from a printed table (not from SciPy).
T_975 = {2: 4.302653, 3: 3.182446, 9: 2.262157}
T_95 = {9: 1.833113}


def test_the_interval_of_a_mean_by_hand():
    values = [0.90, 0.92, 0.94]  # mean 0.92, sample variance 0.0004
    got = intervals.corrected_interval(values, test_train_ratio=0.25, alpha=0.05)
    se = np.sqrt((1 / 3 + 0.25) * 0.0004)
    assert got.mean == pytest.approx(0.92)
    assert (got.low, got.high) == pytest.approx((0.92 - T_975[2] * se, 0.92 + T_975[2] * se), abs=1e-6)
    assert got.df == 2 and got.level == 0.95
    # A lower level is narrower: alpha 0.1 uses the 95th percentile.
    ten = intervals.corrected_interval([0.1 * k for k in range(10)], test_train_ratio=0.0, alpha=0.1)
    assert ten.high - ten.mean == pytest.approx(T_95[9] * np.std([0.1 * k for k in range(10)], ddof=1) / np.sqrt(10),
                                                abs=1e-6)


def test_with_no_correction_it_is_scipys_one_sample_t_test():
    rng = np.random.default_rng(3)
    d = rng.normal(0.01, 0.02, size=(50, 10))
    mean, low, high, p = intervals.corrected_t_test(d, test_train_ratio=0.0, alpha=0.05)
    oracle = stats.ttest_1samp(d, 0.0, axis=1)
    ci = oracle.confidence_interval(0.95)
    np.testing.assert_allclose(mean, d.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(p, oracle.pvalue, rtol=1e-10)
    np.testing.assert_allclose(low, ci.low, rtol=1e-10)
    np.testing.assert_allclose(high, ci.high, rtol=1e-10)
    # The correction widens by sqrt((1/J + ratio) / (1/J)): 1/5 of the rows tested, 4/5 trained on.
    _, wide_low, wide_high, _ = intervals.corrected_t_test(d, test_train_ratio=0.25, alpha=0.05)
    np.testing.assert_allclose((wide_high - wide_low) / (high - low), np.sqrt((0.1 + 0.25) / 0.1))


@pytest.mark.parametrize(("low", "high", "higher_is_better", "expected"), [
    (0.01, 0.03, True, "better"), (-0.03, -0.01, True, "worse"), (-0.01, 0.01, True, "no detectable difference"),
    (0.01, 0.03, False, "worse"), (-0.03, -0.01, False, "better"), (0.0, 0.02, True, "no detectable difference"),
])
def test_one_verdict_wording(low, high, higher_is_better, expected):
    assert intervals.verdict(low, high, higher_is_better) == expected
    assert expected in intervals.VERDICTS


def test_the_level_is_printed_from_alpha():
    assert [intervals.percent(1 - a) for a in (0.05, 0.1, 0.01, 0.025)] == ["95%", "90%", "99%", "97.5%"]


def split_results(acc: dict[str, list[list[float]]], test_rows: int = 20, train_rows: int = 80) -> pd.DataFrame:
    """Split results as evaluate writes them: per model, one list of member accuracies per k-fold split
    (plus a hold-out row), every other metric derived from the accuracy so each has its own numbers."""
    rows = []
    for model, per_split in acc.items():
        for j, members in enumerate([members for members in per_split]):
            for seed, a in enumerate(members):
                rows.append({"model": model, "split": f"r{j // 5}f{j % 5}", "member_seed": seed, "accuracy": a,
                             "roc_auc": min(1.0, a + 0.04), "log_loss": 1.2 - a,
                             "split_digest": f"d{j}", "train_rows": train_rows, "test_rows": test_rows})
        rows.append({"model": model, "split": "holdout", "member_seed": 0, "accuracy": 0.5, "roc_auc": 0.5,
                     "log_loss": 0.7, "split_digest": "h", "train_rows": 300, "test_rows": 100})
    return pd.DataFrame(rows)


def study_results() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    mlp = np.clip(0.93 + rng.normal(0, 0.012, (10, 1)) + rng.normal(0, 0.01, (10, 3)), 0, 1)
    forest = np.clip(mlp.mean(axis=1, keepdims=True) + 0.012 + rng.normal(0, 0.008, (10, 1)), 0, 1)
    return split_results({"mlp": mlp.tolist(), "forest": forest.tolist()})


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.2])
def test_every_report_shows_the_same_interval_and_verdict_for_the_same_splits(alpha):
    """metrics.json (through variance.json), gate.json, evaluation.json's comparison, `igfake compare` (B
    against A, --against) and the report's sentence: one interval per quantity, at 1 - compare.alpha."""
    frame = study_results()
    table = pa.Table.from_pandas(frame[list(splits.COLUMNS)], preserve_index=False)
    mlp, forest = compare.run_results(table, "workspace"), compare.run_results(table, "workspace", "forest")

    # The shipped model's k-fold accuracy interval: metrics.json's headline and gate.json's.
    var = variance.report(frame, alpha=alpha)
    headline = evaluate.headline({"accuracy": 0.9, "roc_auc": 0.9, "test_rows": 100, "threshold": {"value": 0.5},
                                  "seeds": {"mean": 0.9, "std": 0.0, "min": 0.9, "max": 0.9, "n": 3}}, var,
                                 {"blessed": 1, "judged": 1})
    verdict = gate.judge(GateParams(enabled=True, min_accuracy=0.5, min_roc_auc=0.5, no_regression=False,
                                    no_drift=False),
                         mlp, None, alpha)
    judged = verdict["intervals"]["accuracy"]
    assert (headline["kfold"]["mean"], headline["kfold"]["ci_low"], headline["kfold"]["ci_high"]) == \
        (judged["mean"], judged["low"], judged["high"])
    assert var["kfold"]["level"] == judged["level"] == 1 - alpha
    # ... and by hand: seed means per split, the corrected variance, t with 9 df.
    means = np.array([np.mean(m) for m in frame[(frame.model == "mlp") & (frame.split != "holdout")]
                      .groupby("split", sort=False)["accuracy"].apply(list)])
    half = stats.t.ppf(1 - alpha / 2, 9) * np.sqrt((1 / 10 + 20 / 80) * means.var(ddof=1))
    assert (judged["low"], judged["high"]) == pytest.approx((means.mean() - half, means.mean() + half), abs=1e-12)

    # MLP against the forest: evaluate's comparison is `igfake compare --against` (B = mlp, A = forest).
    ours = evaluate.kfold_comparison(frame, alpha)["forest"]
    theirs = compare.compare(forest, mlp, alpha).metric("accuracy")
    assert ours["mean_difference"] == theirs.difference
    assert ours["ci"] == [theirs.low, theirs.high]
    assert ours["p_value"] == theirs.p_value and ours["verdict"] == theirs.verdict
    assert ours["mean_difference"] < 0

    # The report's sentence quotes that interval and verdict, at that level.
    sentence = report.verdict({"comparison": {"kfold": {"forest": ours}, "holdout": {"forest": ours}}}, var, alpha)
    assert f"[{100 * theirs.low:+.1f}, {100 * theirs.high:+.1f}]" in sentence
    assert (intervals.NO_DIFFERENCE in sentence) == (theirs.verdict == intervals.NO_DIFFERENCE)
    if theirs.verdict == intervals.NO_DIFFERENCE:
        assert intervals.percent(1 - alpha) in sentence
    # MLflow's run description quotes the headline's interval at the gate's level.
    described = runs.description(json.loads(json.dumps(headline)), verdict)
    assert f"{intervals.percent(1 - alpha)} interval [{headline['kfold']['ci_low']:.3f}" in described


def test_the_level_decides_the_verdict_the_same_way_in_every_tool():
    """The study's MLP trails the forest with p between 0.01 and 0.05 (the draw is chosen so): worse at
    alpha 0.05, no detectable difference at 0.01, in evaluate's comparison and in `igfake compare` alike."""
    frame = study_results()
    table = pa.Table.from_pandas(frame[list(splits.COLUMNS)], preserve_index=False)
    mlp, forest = compare.run_results(table, "workspace"), compare.run_results(table, "workspace", "forest")
    strict, usual = (evaluate.kfold_comparison(frame, a)["forest"] for a in (0.01, 0.05))
    assert 0.01 < usual["p_value"] < 0.05 and strict["p_value"] == usual["p_value"]
    assert usual["verdict"] == compare.compare(forest, mlp, 0.05).metric("accuracy").verdict == "worse"
    assert strict["verdict"] == compare.compare(forest, mlp, 0.01).metric("accuracy").verdict == \
        intervals.NO_DIFFERENCE
    assert strict["ci"][0] < usual["ci"][0] and usual["ci"][1] < 0 < strict["ci"][1]


def test_two_splits_are_the_fewest_an_interval_is_made_of():
    two = intervals.corrected_interval([0.90, 0.94], test_train_ratio=0.25, alpha=0.05)
    # Mean 0.92, sample variance 0.0008, t(0.975, 1 df) = 12.706205 from the table.
    half = 12.706205 * np.sqrt((1 / 2 + 0.25) * 0.0008)
    assert (two.low, two.high, two.df) == (pytest.approx(0.92 - half, abs=1e-5), pytest.approx(0.92 + half, abs=1e-5),
                                           1.0)
    assert two.as_dict() == {"mean": two.mean, "low": two.low, "high": two.high, "df": 1.0, "level": 0.95}
    with pytest.raises(CompareError, match=re.escape(
            "an interval needs at least 2 k-fold splits, got 1 (set train.split.repeats >= 1)")):
        intervals.corrected_interval([0.9], test_train_ratio=0.25, alpha=0.05)


def test_a_difference_without_noise_is_exact_and_warns_about_nothing():
    """Every split the same: the standard error is 0, so the p-value is 1 for a zero difference and 0 for any
    other (no division warning on the way), and the interval is the point."""
    d = np.array([[0.0, 0.0, 0.0], [0.01, 0.01, 0.01], [-0.02, -0.02, -0.02]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mean, low, high, p = intervals.corrected_t_test(d, test_train_ratio=0.25, alpha=0.05)
    np.testing.assert_array_equal(p, [1.0, 0.0, 0.0])
    np.testing.assert_allclose(mean, [0.0, 0.01, -0.02])
    np.testing.assert_allclose(low, [0.0, 0.01, -0.02])
    np.testing.assert_allclose(high, [0.0, 0.01, -0.02])


@pytest.mark.parametrize(("low", "high", "expected"), [
    (-0.02, 0.0, "no detectable difference"), (0.0, 0.0, "no detectable difference"), (0.001, 0.02, "better"),
])
def test_an_interval_touching_zero_is_no_detectable_difference_and_higher_is_better_by_default(low, high, expected):
    assert intervals.verdict(low, high) == expected
    assert intervals.verdict(-high, -low) == {"better": "worse"}.get(expected, expected)


def test_split_means_are_named_by_their_metric_and_indexed_by_split_in_order():
    rows = pd.DataFrame({"split": ["b", "b", "a", "a"], "member_seed": [0, 1, 0, 1], "accuracy": [0.9, 0.8, 0.7, 0.5]})
    means = intervals.split_means(rows, "accuracy")
    assert means.name == "accuracy" and list(means.index) == ["b", "a"]
    np.testing.assert_allclose(means.to_numpy(), [0.85, 0.6])


def test_float32_split_results_are_computed_in_float64():
    """A table written in float32 gives the interval of those float32 numbers, worked out in float64 (not
    float32 rounding, seven digits)."""
    values = np.array([0.9013, 0.9127, 0.9391, 0.9004, 0.9262], np.float32)
    exact = values.astype(np.float64)
    se = np.sqrt((1 / 5 + 0.25) * exact.var(ddof=1))
    got = intervals.corrected_interval(values, test_train_ratio=0.25, alpha=0.05)
    assert got.mean == exact.mean()
    assert intervals.corrected_variance(values, 0.25) == (1 / 5 + 0.25) * exact.var(ddof=1)
    assert got.high - got.mean == pytest.approx(stats.t.ppf(0.975, 4) * se, rel=1e-13)
    mean, *_ = intervals.corrected_t_test(values[None, :], 0.25, 0.05)
    assert mean[0] == exact.mean()
    np.testing.assert_array_equal(intervals.seed_means(values.reshape(1, 5)), [exact.mean()])
