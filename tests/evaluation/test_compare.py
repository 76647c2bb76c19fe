"""The statistics of `igfake compare`, on constructed split results whose truth is known.

And the false-positive rate under the null, over many resamplings of stored results: the committed
baseline (``data/baseline/splits.parquet``) holds every member of a real default run on every split, so
two disjoint sets of its member seeds are two runs of the same recipe with different seeds.
"""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
from scipy import stats

from pipeline.core import paths
from pipeline.core.errors import CompareError
from pipeline.evaluation import compare, intervals, splits
from tests.conftest import REPO

FOLDS, REPEATS, SEEDS = 5, 2, 10
PROTOCOL = {"features_md5": "f" * 32, "threshold": "0.5", "split.folds": "5", "split.repeats": "2"}


def results_table(shift: float = 0.0, noise_seed: int = 0, seeds=range(SEEDS), protocol=PROTOCOL,
                  digest_salt: str = "", model: str = "mlp", split_effects: np.ndarray | None = None):
    """A split results table as train writes it: split difficulty shared by every run, seed noise of its own.

    ``split_effects`` is the part of each split's score every model shares (its test rows are easier or
    harder), which pairing cancels; ``shift`` is the true difference.
    """
    names = ["holdout"] + [f"r{r}f{f}" for r in range(REPEATS) for f in range(FOLDS)]
    effects = np.random.default_rng(99).normal(0, 0.012, len(names)) if split_effects is None else split_effects
    rng = np.random.default_rng(noise_seed)
    rows = []
    for name, effect in zip(names, effects, strict=True):
        for seed in seeds:
            noise = rng.normal(0, 0.01)
            rows.append({"model": model, "split": name, "split_digest": f"{digest_salt}{name}", "member_seed": seed,
                         "train_rows": 800, "test_rows": 200, "accuracy": 0.93 + effect + shift + noise,
                         "roc_auc": 0.97 + effect / 2 + shift / 2 + noise / 2,
                         "log_loss": 0.20 - effect - 2 * shift - noise})
    return splits.table(rows, protocol)


def run(label="a", **kwargs) -> compare.RunResults:
    return compare.run_results(results_table(**kwargs), label)


def test_identical_runs_show_no_difference_and_an_interval_holding_zero():
    c = compare.compare(run("a"), run("b"), alpha=0.05)
    assert c.paired and c.splits == FOLDS * REPEATS and c.verdict == compare.NO_DIFFERENCE
    for m in c.metrics:
        assert m.difference == 0 and m.low <= 0 <= m.high and m.p_value == 1.0
        assert m.verdict == compare.NO_DIFFERENCE


def test_a_shifted_run_is_better_and_its_interval_holds_the_shift():
    c = compare.compare(run("a"), run("b", shift=0.02, noise_seed=1), alpha=0.05)
    assert c.paired and c.verdict == "better"
    acc = c.metric("accuracy")
    assert acc.verdict == "better" and acc.low > 0 and acc.low <= 0.02 <= acc.high and acc.p_value < 0.05
    # Log loss falls as the model gets better: a negative difference is still "better".
    loss = c.metric("log_loss")
    assert loss.difference < 0 and loss.verdict == "better"
    # The same shift the other way round is worse.
    assert compare.compare(run("b", shift=0.02, noise_seed=1), run("a"), alpha=0.05).verdict == "worse"


def test_pairing_removes_split_difficulty_that_an_unpaired_test_cannot():
    """A 1-point gain under large split-to-split differences: visible paired, lost unpaired."""
    effects = np.random.default_rng(5).normal(0, 0.04, 1 + FOLDS * REPEATS)
    a = run("a", split_effects=effects)
    b = run("b", shift=0.01, noise_seed=1, split_effects=effects)
    paired = compare.compare(a, b, alpha=0.05)
    assert paired.paired and paired.metric("accuracy").verdict == "better"
    moved = run("b", shift=0.01, noise_seed=1, split_effects=effects, digest_salt="other-rows-")
    unpaired = compare.compare(a, moved, alpha=0.05)
    assert not unpaired.paired and unpaired.metric("accuracy").verdict == compare.NO_DIFFERENCE
    assert unpaired.notes[0].startswith("UNPAIRED: different test rows on split r0f0")
    assert "UNPAIRED" in compare.to_markdown(unpaired)


def test_the_interval_is_nadeau_bengio_corrected_by_hand():
    a, b = run("a"), run("b", shift=0.01, noise_seed=3)
    d = (b.kfold["accuracy"] - a.kfold["accuracy"]).to_numpy()
    se = np.sqrt((1 / 10 + 200 / 800) * d.var(ddof=1))
    t = 2.2621571627409915  # t(0.975, df=9)
    acc = compare.compare(a, b, alpha=0.05).metric("accuracy")
    assert acc.difference == pytest.approx(d.mean())
    assert (acc.low, acc.high) == pytest.approx((d.mean() - t * se, d.mean() + t * se))
    assert acc.df == 9


def test_different_data_falls_back_to_unpaired_or_refuses():
    other = {**PROTOCOL, "features_md5": "0" * 32}
    c = compare.compare(run("a"), run("b", protocol=other), alpha=0.05)
    assert not c.paired and "different data" in c.notes[0]
    with pytest.raises(CompareError, match=r"^a:mlp and b:mlp cannot be paired: different data \(features md5"):
        compare.compare(run("a"), run("b", protocol=other), alpha=0.05, allow_unpaired=False)


def test_different_member_seeds_still_pair_by_split_and_say_so():
    c = compare.compare(run("a"), run("b", seeds=range(100, 110), noise_seed=4), alpha=0.05)
    assert c.paired and c.notes == ["member seeds differ (0-9 vs 100-109): seed noise is part of the difference, "
                                    "averaged within each split"]


def test_two_models_of_one_run_compare_paired():
    table = results_table()
    both = splits.table(table.to_pylist() + results_table(shift=-0.03, model="logreg").to_pylist(),
                                     PROTOCOL)
    assert compare.models(both) == ["mlp", "logreg"]
    c = compare.compare(compare.run_results(both, "workspace", "mlp"),
                        compare.run_results(both, "workspace", "logreg"), alpha=0.05)
    assert c.paired and c.b == "workspace:logreg" and c.metric("accuracy").verdict == "worse"
    with pytest.raises(CompareError, match=r"no results for model 'forest' \(it has: mlp, logreg\)"):
        compare.run_results(both, "workspace", "forest")


def test_a_holdout_only_run_is_refused_with_what_to_do():
    holdout_only = splits.table([r for r in results_table().to_pylist() if r["split"] == "holdout"],
                                             PROTOCOL)
    with pytest.raises(CompareError, match=r"0 k-fold split\(s\).*train.split.repeats >= 1"):
        compare.compare(run("a"), compare.run_results(holdout_only, "b"), alpha=0.05)


def test_false_positive_rate_under_the_null_stays_within_alpha():
    """Same recipe, different member seeds: two disjoint draws of 10 of the baseline's stored members,
    5,000 times, each compared as `igfake compare` does (seed means per split, corrected paired t-test).
    The rate must stay within alpha plus three binomial standard errors of 5,000 draws. (It is far
    below alpha: the correction budgets for split-to-split variance that pairing removes.)"""
    table = pq.read_table(REPO / paths.BASELINE.relative_to(paths.ROOT)).to_pandas()
    table = table[(table["model"] == "mlp") & (table["split"] != compare.HOLDOUT)]
    cube = table.set_index(["member_seed", "split"])[list(splits.SPLIT_METRICS)].unstack("split")
    seeds, n_splits = len(cube), cube.columns.get_level_values("split").nunique()
    assert seeds >= 20 and n_splits >= 6  # a real default run: many members, k-fold splits
    scores = cube.to_numpy().reshape(seeds, len(splits.SPLIT_METRICS), n_splits)  # [seed, metric, split]
    ratio = float((table["test_rows"] / table["train_rows"]).mean())
    alpha, draws, half = 0.05, 5000, 10
    order = np.argsort(np.random.default_rng(2024).random((draws, seeds)), axis=1)
    a = scores[order[:, :half]].mean(axis=1)  # [draw, metric, split]
    b = scores[order[:, half:2 * half]].mean(axis=1)
    _, low, high, p = intervals.corrected_t_test(b - a, ratio, alpha)
    detected = (low > 0) | (high < 0)
    assert np.array_equal(detected, p < alpha)  # the interval and the p-value tell the same story
    rates = dict(zip(splits.SPLIT_METRICS, detected.mean(axis=0), strict=True))
    assert all(rate <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / draws) for rate in rates.values()), rates
    # The same draws without the correction (the naive paired t-test) are what the correction guards against.
    naive = intervals.corrected_t_test(b - a, 0.0, alpha)
    assert ((naive[1] > 0) | (naive[2] < 0)).mean() >= detected.mean()


def one_seed_run(label: str, accuracy: list[float], test_rows: int, train_rows: int) -> compare.RunResults:
    """A run with one member seed, so each split's seed mean is the number given; other metrics follow it."""
    rows = [{"model": "mlp", "split": f"r0f{j}", "split_digest": f"{label}{j}", "member_seed": 0,
             "train_rows": train_rows, "test_rows": test_rows, "accuracy": a, "roc_auc": a, "log_loss": 1 - a}
            for j, a in enumerate(accuracy)]
    return compare.run_results(splits.table(rows, PROTOCOL), label)


def test_the_unpaired_comparison_is_welchs_t_on_each_runs_corrected_variance_by_hand():
    """A: 5 splits, 1/5 of the rows tested (n_test/n_train 1/4); B: 4 splits, 1/10 tested (1/9). Each run's
    mean gets its Nadeau-Bengio variance; Welch-Satterthwaite gives the degrees of freedom; SciPy's Welch
    test from those summary statistics gives the p-value."""
    a = one_seed_run("a", [0.90, 0.92, 0.94, 0.91, 0.93], test_rows=200, train_rows=800)
    b = one_seed_run("b", [0.96, 0.98, 0.94, 0.97], test_rows=100, train_rows=900)
    c = compare.compare(a, b, alpha=0.05)
    assert not c.paired and c.notes[0].startswith("UNPAIRED: different k-fold splits (5 vs 4)")
    # By hand: A's mean 0.92, sample variance 0.001 / 4; B's mean 0.9625, sample variance 0.000875 / 3.
    va = (1 / 5 + 1 / 4) * 0.001 / 4
    vb = (1 / 4 + 1 / 9) * 0.000875 / 3
    df = (va + vb) ** 2 / (va**2 / 4 + vb**2 / 3)
    half = stats.t.ppf(0.975, df) * np.sqrt(va + vb)
    welch = stats.ttest_ind_from_stats(0.9625, np.sqrt(vb * 4), 4, 0.92, np.sqrt(va * 5), 5, equal_var=False)
    acc = c.metric("accuracy")
    assert (acc.a_mean, acc.b_mean) == pytest.approx((0.92, 0.9625), abs=1e-12)
    assert acc.difference == pytest.approx(0.0425, abs=1e-12)
    assert acc.df == pytest.approx(df, rel=1e-12) and 6 < acc.df < 7  # neither J_a + J_b - 2 = 7 nor J - 1
    assert (acc.low, acc.high) == pytest.approx((0.0425 - half, 0.0425 + half), rel=1e-10)
    assert acc.p_value == pytest.approx(welch.pvalue, rel=1e-10)
    assert acc.verdict == "better" and acc.low > 0
    # Log loss (1 - accuracy) moves the other way: the same interval mirrored, and lower is better.
    loss = c.metric("log_loss")
    assert (loss.low, loss.high) == pytest.approx((-0.0425 - half, -0.0425 + half), rel=1e-10)
    assert loss.verdict == "better" and c.verdict == "better"
    # Without the correction term, the same numbers would claim a narrower interval: the term is there.
    assert half > 1.2 * stats.t.ppf(0.975, df) * np.sqrt(0.001 / 4 / 5 + 0.000875 / 3 / 4)


def metric_verdicts(*verdicts: str) -> compare.Comparison:
    metrics = [compare.MetricComparison(f"m{k}", 0.5, 0.5, 0.0, -1.0, 1.0, 0.5, 9.0, v) for k, v in enumerate(verdicts)]
    return compare.Comparison("a", "b", True, 10, 0.05, metrics)


@pytest.mark.parametrize(("verdicts", "overall"), [
    ((NONE := compare.NO_DIFFERENCE, NONE, "better"), "better"),
    ((NONE, NONE, "worse"), "worse"),
    (("better", NONE, "worse"), "mixed"),
    ((NONE, "worse", NONE), "worse"),
    (("better", "better", NONE), "better"),
    ((NONE, NONE, NONE), NONE),
])
def test_the_overall_verdict_reads_every_metric(verdicts, overall):
    """Only the last metric differs in the first cases: the overall verdict must still see it."""
    comparison = metric_verdicts(*verdicts)
    assert comparison.verdict == overall
    assert comparison.as_dict()["verdict"] == overall
