"""The statistics of `igfake compare`, on constructed split results whose truth is known.

And the false-positive rate under the null, over many resamplings of stored results: the committed
baseline (``data/baseline/splits.parquet``) holds every member of a real default run on every split, so
two disjoint sets of its member seeds are two runs of the same recipe with different seeds.
"""

from __future__ import annotations

import re

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


def test_a_split_results_table_reduces_to_each_splits_seed_mean_in_the_order_train_wrote():
    rows = [{"model": "mlp", "split": split, "split_digest": f"d{split}", "member_seed": seed, "train_rows": train,
             "test_rows": 1000 - train, "accuracy": acc, "roc_auc": acc, "log_loss": 1 - acc}
            for split, train, accs in (("r1f0", 800, (0.9, 0.8)), ("r0f0", 799, (0.7, 0.5)),
                                       ("holdout", 750, (0.6, 0.6)))
            for seed, acc in zip((4, 7), accs, strict=True)]
    rows.append({**rows[0], "model": "forest", "accuracy": 0.1})
    run = compare.run_results(splits.table(rows, PROTOCOL), "ws")
    assert list(run.splits.index) == ["r1f0", "r0f0", "holdout"] and list(run.kfold.index) == ["r1f0", "r0f0"]
    assert run.splits["seeds"].tolist() == [2, 2, 2] and run.member_seeds == (4, 7)
    assert run.splits["train_rows"].tolist() == [800, 799, 750] and run.splits["test_rows"].tolist() == [200, 201, 250]
    assert run.splits["split_digest"].tolist() == ["dr1f0", "dr0f0", "dholdout"]
    np.testing.assert_allclose(run.splits["accuracy"], [0.85, 0.6, 0.6])
    assert run.name == "ws:mlp" and run.protocol == PROTOCOL


def test_a_table_with_a_split_and_seed_twice_or_without_the_model_is_refused_by_name():
    rows = results_table().to_pylist()
    twice = [*rows, {**rows[3], "accuracy": 0.5}, {**rows[14], "accuracy": 0.4}]
    with pytest.raises(CompareError, match=re.escape(
            f"ws: model 'mlp' has split {rows[3]['split']!r}, member seed {rows[3]['member_seed']} more than once "
            "(not a split results table train wrote)")):
        compare.run_results(splits.table(twice, PROTOCOL), "ws")
    with pytest.raises(CompareError, match=re.escape("ws: no results for model 'mlp' (it has: none)")):
        compare.run_results(splits.table([], PROTOCOL), "ws")


def test_noise_free_unpaired_runs_give_an_exact_difference():
    """Every split the same in both runs: no variance, so the interval is the difference itself, the
    p-value 0 (or 1 for no difference), and the degrees of freedom J_a + J_b - 2 (Welch's are 0/0)."""
    a = one_seed_run("a", [0.90] * 5, test_rows=200, train_rows=800)
    b = one_seed_run("b", [0.95] * 4, test_rows=100, train_rows=900)
    acc = compare.compare(a, b, alpha=0.05).metric("accuracy")
    assert (acc.low, acc.high, acc.p_value, acc.df) == (pytest.approx(0.05), pytest.approx(0.05), 0.0, 7.0)
    same = compare.compare(a, one_seed_run("c", [0.90] * 4, 100, 900), alpha=0.05).metric("accuracy")
    assert (same.difference, same.p_value, same.df, same.verdict) == (0.0, 1.0, 7.0, compare.NO_DIFFERENCE)


def test_two_splits_are_enough_to_compare_and_the_comparison_says_what_it_compared():
    a = one_seed_run("a", [0.90, 0.92], test_rows=200, train_rows=800)
    b = one_seed_run("a", [0.93, 0.96], test_rows=200, train_rows=800)  # the same split digests: paired
    c = compare.compare(a, b, alpha=0.1)
    assert (c.a, c.b, c.paired, c.splits, c.alpha) == ("a:mlp", "a:mlp", True, 2, 0.1)
    acc = c.metric("accuracy")
    # d = (0.03, 0.04): mean 0.035, variance 0.00005; t(0.95, 1 df) = 6.313752 from the table.
    half = 6.313752 * np.sqrt((1 / 2 + 0.25) * 0.00005)
    assert (acc.a_mean, acc.b_mean, acc.difference, acc.df) == pytest.approx((0.91, 0.945, 0.035, 1.0))
    assert (acc.low, acc.high) == pytest.approx((0.035 - half, 0.035 + half), abs=1e-6)
    unpaired = compare.compare(a, one_seed_run("b", [0.93, 0.96, 0.94], 200, 800), alpha=0.05)
    assert (unpaired.a, unpaired.b, unpaired.paired, unpaired.splits, unpaired.alpha) == (
        "a:mlp", "b:mlp", False, 2, 0.05)
    with pytest.raises(CompareError, match=r"^b:mlp: 1 k-fold split\(s\); a comparison needs at least 2 "
                                           r"\(set train\.split\.repeats >= 1\)$"):
        compare.compare(a, one_seed_run("b", [0.9], 200, 800), alpha=0.05)


def test_every_reason_not_to_pair_and_every_protocol_difference_is_noted():
    other = {"features_md5": "0" * 32, "threshold": "0.6", "split.folds": "5"}  # no split.repeats
    a = run("a")
    first = results_table(seeds=[0, 2, 5]).to_pylist()[:3 * 6]  # the hold-out and 5 k-fold splits, 3 seeds each
    b = compare.run_results(splits.table(first, other), "b")
    with pytest.raises(CompareError, match=re.escape(
            f"a:mlp and b:mlp cannot be paired: different data (features md5 {'f' * 32} vs {'0' * 32}); "
            "different k-fold splits (10 vs 5)")):
        compare.compare(a, b, alpha=0.05, allow_unpaired=False)
    c = compare.compare(a, b, alpha=0.05)
    assert c.notes == [
        f"UNPAIRED: different data (features md5 {'f' * 32} vs {'0' * 32}); different k-fold splits (10 vs 5); "
        "the runs are compared as independent samples (weaker)",
        "member seeds differ (0-9 vs 0,2,5): seed noise is part of the difference, averaged within each split",
        "split.repeats differs (2 vs None)",
        "threshold differs (0.5 vs 0.6)",
    ]


@pytest.mark.parametrize(("a_seeds", "b_seeds", "shown"), [((0,), (3, 4), "0 vs 3-4"), ((7,), (1, 2, 3), "7 vs 1-3")])
def test_member_seeds_are_shown_as_a_range_only_when_they_are_one(a_seeds, b_seeds, shown):
    a = compare.run_results(results_table(seeds=a_seeds), "a")
    b = compare.run_results(results_table(seeds=b_seeds, noise_seed=1), "b")
    assert compare.compare(a, b, alpha=0.05).notes[0].startswith(f"member seeds differ ({shown}): ")


def test_the_markdown_report_and_the_json_of_a_comparison_hand_written():
    metrics = [compare.MetricComparison("accuracy", 0.9, 0.92, 0.02, 0.005, 0.035, 0.0123, 9.0, "better"),
               compare.MetricComparison("log_loss", 0.3, 0.31, 0.01, -0.01, 0.03, 0.4, 9.0, compare.NO_DIFFERENCE)]
    paired = compare.Comparison("HEAD:mlp", "workspace:mlp", True, 10, 0.05, metrics, ["member seeds differ (x)"])
    assert compare.to_markdown(paired) == (
        "## `workspace:mlp` against `HEAD:mlp`\n"
        "\n"
        "Verdict: **better** at alpha 0.05; paired over 10 k-fold splits (Nadeau-Bengio corrected resampled t-test).\n"
        "\n"
        "| metric | A | B | B - A | 95% interval | p | verdict |\n"
        "|---|---|---|---|---|---|---|\n"
        "| accuracy | 0.9000 | 0.9200 | +0.0200 | [+0.0050, +0.0350] | 0.0123 | better |\n"
        "| log_loss | 0.3000 | 0.3100 | +0.0100 | [-0.0100, +0.0300] | 0.4 | no detectable difference |\n"
        "\n"
        "- member seeds differ (x)\n")
    unpaired = compare.Comparison("a", "b", False, 4, 0.1, metrics[1:])
    assert compare.to_markdown(unpaired) == (
        "## `b` against `a`\n\nVerdict: **no detectable difference** at alpha 0.1; UNPAIRED (Welch's t on each "
        "run's corrected k-fold mean).\n\n| metric | A | B | B - A | 90% interval | p | verdict |\n"
        "|---|---|---|---|---|---|---|\n"
        "| log_loss | 0.3000 | 0.3100 | +0.0100 | [-0.0100, +0.0300] | 0.4 | no detectable difference |\n")
    assert paired.as_dict() == {
        "a": "HEAD:mlp", "b": "workspace:mlp", "paired": True, "splits": 10, "alpha": 0.05, "verdict": "better",
        "notes": ["member seeds differ (x)"],
        "metrics": [{"metric": "accuracy", "a_mean": 0.9, "b_mean": 0.92, "difference": 0.02, "low": 0.005,
                     "high": 0.035, "p_value": 0.0123, "df": 9.0, "verdict": "better"},
                    {"metric": "log_loss", "a_mean": 0.3, "b_mean": 0.31, "difference": 0.01, "low": -0.01,
                     "high": 0.03, "p_value": 0.4, "df": 9.0, "verdict": compare.NO_DIFFERENCE}]}


def test_the_summary_is_each_metrics_corrected_interval_by_hand():
    a = one_seed_run("a", [0.90, 0.92, 0.94, 0.91, 0.93], test_rows=200, train_rows=800)
    got = compare.summary(a, 0.05, ["accuracy", "log_loss"])
    half = 2.776445 * np.sqrt((1 / 5 + 1 / 4) * 0.001 / 4)  # t(0.975, 4 df) from the table
    assert list(got) == ["accuracy", "log_loss"]
    assert (got["accuracy"].mean, got["accuracy"].low, got["accuracy"].high) == pytest.approx(
        (0.92, 0.92 - half, 0.92 + half), abs=1e-6)
    assert (got["log_loss"].low, got["log_loss"].high, got["log_loss"].df) == pytest.approx(
        (0.08 - half, 0.08 + half, 4), abs=1e-6)
    assert list(compare.summary(a, 0.05)) == list(splits.SPLIT_METRICS)
