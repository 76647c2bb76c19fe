"""evaluate's computations on synthetic tables: thresholds from validation rows only, baselines beside the
MLP, label noise against the truth, slices, the paired comparisons and plots that line up."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from pipeline.core.errors import ParamsError
from pipeline.evaluation import evaluate, metrics
from tests.conftest import repo_params

ALPHA = repo_params().compare.alpha


def params(**overrides):
    return dataclasses.replace(repo_params().evaluate, bootstrap=300, **overrides)


def synthetic(n: int = 400, seed: int = 0):
    """A predictions table (MLP ensemble, 3 members, a logreg baseline) and the profiles behind it."""
    rng = np.random.default_rng(seed)
    truth = (rng.random(n) < 0.4).astype(int)
    label = np.where(rng.random(n) < 0.05, 1 - truth, truth)  # 5% label noise
    split = np.array(["train"] * (n // 2) + ["valid"] * (n // 4) + ["test"] * (n - n // 2 - n // 4), dtype=object)
    members = np.clip(0.25 + 0.5 * truth + rng.normal(0, 0.2, size=(3, n)), 0, 1)
    private = rng.random(n) < 0.3
    # Private profiles are hard: the members' scores for them are noise.
    members[:, private] = rng.random((3, int(private.sum())))
    table = pd.DataFrame({"pk": np.arange(n) + 10, "label": label, "split": split, "prob": members.mean(axis=0),
                          **{f"prob_seed_{s}": members[k] for k, s in enumerate((0, 1, 10))},
                          "prob_baseline_logreg": np.clip(0.3 + 0.4 * truth + rng.normal(0, 0.2, n), 0, 1)})
    profiles = pd.DataFrame({
        "pk": table["pk"], "username": [f"user_{i}" for i in range(n)], "follower_count": rng.integers(0, 20000, n),
        "following_count": rng.integers(0, 3000, n), "is_private": private, "is_verified": np.zeros(n, bool),
        "relationship": np.where(rng.random(n) < 0.5, "follower", "following"),
        "account_type": pd.array(rng.integers(1, 4, n), dtype="Int8"), "truth": truth})
    return table, profiles


def test_threshold_rules_look_at_validation_rows_only():
    y_valid = np.array([0] * 50 + [1] * 50)
    p_valid = np.r_[np.linspace(0.0, 0.3, 50), np.linspace(0.31, 1.0, 50)]  # separable at ~0.3
    chosen = evaluate.choose_threshold(params(threshold_rule="balanced_accuracy"), y_valid, p_valid)
    assert chosen["chosen_on"] == "valid" and 0.3 < chosen["value"] <= 0.31 + 1e-9
    assert chosen["valid_balanced_accuracy"] == 1.0
    fixed = evaluate.choose_threshold(params(threshold=0.42), y_valid, p_valid)
    assert fixed["value"] == 0.42 and fixed["rule"] == "fixed"

    # A test set that would prefer another threshold changes nothing: evaluate reads only valid rows.
    table, _ = synthetic()
    p = params(threshold_rule="balanced_accuracy")
    base = evaluate.evaluate(table, p, ALPHA).report["threshold"]["value"]
    shuffled = table.copy()
    test = shuffled["split"] == "test"
    shuffled.loc[test, "label"] = 1 - shuffled.loc[test, "label"]
    assert evaluate.evaluate(shuffled, p, ALPHA).report["threshold"]["value"] == base
    valid = table["split"] == "valid"
    moved = table.copy()
    moved.loc[valid, "prob"] = np.clip(moved.loc[valid, "prob"] + 0.2, 0, 1)
    assert evaluate.evaluate(moved, p, ALPHA).report["threshold"]["value"] != base


def test_precision_rule_reaches_its_target_with_the_most_recall():
    rng = np.random.default_rng(4)
    y = (rng.random(300) < 0.5).astype(int)
    prob = np.clip(0.3 + 0.4 * y + rng.normal(0, 0.2, 300), 0, 1)
    chosen = evaluate.choose_threshold(params(threshold_rule="precision_fake", target_precision_fake=0.9), y, prob)
    sweep = evaluate.threshold_sweep(y, prob)
    ok = sweep[sweep["precision_fake"] >= 0.9]
    assert chosen["target_reached"] and chosen["value"] == ok["threshold"].max()
    assert chosen["valid_precision_fake"] >= 0.9
    with pytest.raises(ParamsError, match="validation rows"):
        evaluate.choose_threshold(params(threshold_rule="precision_fake"), np.array([]), np.array([]))


def test_models_truth_and_seeds_are_reported_beside_each_other():
    table, profiles = synthetic()
    ev = evaluate.evaluate(table, params(), ALPHA, profiles=profiles)
    r = ev.report
    assert set(r["models"]) == {"mlp", "logreg"}
    test = table[table["split"] == "test"]
    y = test["label"].to_numpy()
    assert r["accuracy"] == pytest.approx(np.mean((test["prob"] >= 0.5) == (y == 1)))
    logreg = r["models"]["logreg"]["accuracy"]
    assert logreg["value"] == pytest.approx(np.mean((test["prob_baseline_logreg"] >= 0.5) == (y == 1)))
    assert logreg["ci95"][0] <= logreg["value"] <= logreg["ci95"][1]

    truth = profiles.set_index("pk").loc[test["pk"], "truth"].to_numpy()
    noise = r["truth"]
    assert noise["label_error_rate"]["value"] == pytest.approx(np.mean(y != truth))
    assert noise["mlp"]["accuracy_vs_truth"]["value"] == pytest.approx(np.mean((test["prob"] >= 0.5) == (truth == 1)))
    assert noise["mlp"]["accuracy_vs_labels"]["value"] == pytest.approx(r["accuracy"])

    # Seeds sort as numbers (0, 1, 10), and every metric is summarised over them.
    assert list(ev.seed_accuracy) == [0, 1, 10]
    assert r["seed_metrics"]["roc_auc"]["n"] == 3 and r["seeds"]["n"] == 3
    assert list(evaluate.plot_tables(ev)["seed_accuracy"]["seed"]) == [0, 1, 10]


def test_the_headline_leads_with_the_mlp_and_ends_with_the_baselines():
    table, profiles = synthetic()
    r = evaluate.evaluate(table, params(), ALPHA, profiles=profiles).report
    variance = {"kfold": {"mean": 0.9, "ci": [0.88, 0.92], "level": 0.95},
                "baselines": {"logreg": {"kfold": {"mean": 0.87}}}}
    head = evaluate.headline(r, variance, {"blessed": 0, "judged": 1})
    assert list(head)[:5] == ["accuracy", "roc_auc", "seeds", "kfold", "gate"] and list(head)[-1] == "baselines"
    assert head["gate"] == {"blessed": 0, "judged": 1}
    assert head["baselines"] == {"logreg": {"accuracy": r["models"]["logreg"]["accuracy"]["value"],
                                            "roc_auc": r["models"]["logreg"]["roc_auc"]["value"], "kfold_mean": 0.87}}
    assert head["baselines"]["logreg"]["accuracy"] != head["accuracy"]


def test_a_slice_worse_than_the_whole_is_flagged():
    table, profiles = synthetic(n=800)
    ev = evaluate.evaluate(table, params(), ALPHA, profiles=profiles)
    by = {(s["slicing"], s["slice"]): s for s in ev.slices}
    assert by[("private", "private")]["worse"] and not by[("private", "public")]["worse"]
    assert by[("private", "private")]["accuracy"] < by[("private", "public")]["accuracy"]
    assert sum(s["rows"] for s in ev.slices if s["slicing"] == "followers") == (table["split"] == "test").sum()
    assert {s["slice"] for s in ev.slices if s["slicing"] == "account_type"} <= {"personal", "business", "creator"}


def test_kfold_comparison_is_the_paired_nadeau_bengio_difference():
    rows = []
    acc = {"mlp": [0.90, 0.92, 0.94, 0.91], "forest": [0.94, 0.95, 0.97, 0.96]}
    for model, values in acc.items():
        for j, a in enumerate(values):
            for seed in ((0, 1) if model == "mlp" else (0,)):
                rows.append({"model": model, "split": f"r0f{j}", "member_seed": seed, "accuracy": a,
                             "train_rows": 80, "test_rows": 20})
    rows.append({"model": "mlp", "split": "holdout", "member_seed": 0, "accuracy": 0.5, "train_rows": 80,
                 "test_rows": 20})
    got = evaluate.kfold_comparison(pd.DataFrame(rows), alpha=0.05)["forest"]
    # Differences -0.04, -0.03, -0.03, -0.05: mean -0.0375, sample variance 2.75e-4 / 3.
    se = np.sqrt((1 / 4 + 20 / 80) * 2.75e-4 / 3)
    t_975_3df = 3.182446  # Student's t, 3 degrees of freedom (J - 1), 97.5th percentile: from a t table
    assert got["mean_difference"] == pytest.approx(-0.0375)
    assert got["ci"] == pytest.approx([-0.0375 - t_975_3df * se, -0.0375 + t_975_3df * se], abs=1e-6)
    assert got["ci"][1] < 0 and got["verdict"] == "worse" and got["splits"] == 4


def test_histogram_bins_are_fixed():
    a, edges_a = evaluate.histogram([0.91, 0.95, 0.955])
    b, edges_b = evaluate.histogram([0.60, 0.99])
    np.testing.assert_array_equal(edges_a, edges_b)
    assert a.sum() == 3 and b[0] == 1 and b[-1] == 1  # 0.60 counts in the first bin, not a new one
    assert metrics.summarize([0.9])["n"] == 1


def test_model_card_and_report_state_the_gates_verdict():
    from pipeline.reporting import report

    table, profiles = synthetic()
    r = evaluate.evaluate(table, params(), ALPHA, profiles=profiles).report
    labels = {"source": "simulator", "labelled": 400, "authentic": 160, "fake": 240}
    failed = {"enabled": True, "judged": True, "blessed": False, "failed": ["min_accuracy"],
              "rules": [{"name": "min_accuracy", "status": "fail", "detail": "lower end 0.81 < 0.92"},
                        {"name": "min_roc_auc", "status": "pass", "detail": "fine"}]}
    about = report.Card(repo_params().train, "seed16", 0.05)
    card = report.model_card(r, labels, {}, about, failed)
    assert "did NOT bless this model: min_accuracy (lower end 0.81 < 0.92). It cannot be promoted." in card
    assert "min_roc_auc" not in card
    page = report.html_report(r, [], {"holdout": {"mean": 0.9, "init_std": 0.01, "binomial_se": 0.02}}, labels, {},
                              card, 0.05, failed)
    assert '<p id="gate">The quality gate did NOT bless this model: min_accuracy' in page
    blessed = {**failed, "blessed": True, "rules": [
        {"name": "min_accuracy", "status": "pass", "detail": "ok"},
        {"name": "no_regression", "status": "skipped", "detail": "baseline not comparable: different data"}]}
    assert ("blessed this model: every rule passed (no_regression skipped: baseline not comparable: different "
            "data); `igfake promote` can make it the champion") in report.model_card(r, labels, {}, about, blessed)
    off = {"enabled": False, "judged": False, "blessed": False, "reason": "the gate is off (evaluate.gate.enabled: "
                                                                           "false)"}
    assert ("did not judge this model (the gate is off (evaluate.gate.enabled: false)), so it cannot be promoted"
            in report.model_card(r, labels, {}, about, off))


def test_evaluate_owns_the_threshold_every_decision_uses():
    """With a chosen threshold (balanced_accuracy on the validation rows), the hold-out metrics, the split
    results, the variance and the decision the model ships with all decide at that one threshold."""
    table, profiles = synthetic(n=600, seed=4)
    test = table[table["split"] == "test"]
    # Scores as train writes them: every member on the hold-out's test rows (no k-fold splits here).
    fitted = len(table) - len(test)
    scores = pd.DataFrame([{"model": "mlp", "split": "holdout", "member_seed": seed, "train_rows": fitted,
                            "pk": pk, "label": label, "prob": prob}
                           for seed in (0, 1, 10) for pk, label, prob in
                           zip(test["pk"], test["label"], test[f"prob_seed_{seed}"], strict=True)])
    ev = evaluate.evaluate(table, params(threshold_rule="balanced_accuracy"), ALPHA, profiles=profiles, scores=scores)
    threshold = ev.report["threshold"]["value"]
    assert ev.report["threshold"]["rule"] == "balanced_accuracy" and threshold != 0.5
    assert ev.decision["threshold"] == threshold and ev.decision["rule"] == "balanced_accuracy"
    assert ev.decision["chosen_on"] == "valid" and ev.decision["valid_rows"] == (table["split"] == "valid").sum()
    member = test["prob_seed_1"].to_numpy()
    at_chosen = np.mean((member >= threshold) == (test["label"].to_numpy() == 1))
    row = ev.splits[(ev.splits["split"] == "holdout") & (ev.splits["member_seed"] == 1)].iloc[0]
    assert row["accuracy"] == pytest.approx(at_chosen) and ev.seed_accuracy[1] == pytest.approx(at_chosen)
    assert ev.variance["holdout"]["mean"] == pytest.approx(np.mean(list(ev.seed_accuracy.values())))
    # Without cross-validated probabilities the rates come from the test rows, at the same threshold.
    called = test["prob"].to_numpy() >= threshold
    authentic = test["label"].to_numpy() == 1
    assert ev.decision["shipped_rates"] == {
        "true_authentic": int((authentic & called).sum()), "false_fake": int((authentic & ~called).sum()),
        "false_authentic": int((~authentic & called).sum()), "true_fake": int((~authentic & ~called).sum()),
        "tpr": pytest.approx((authentic & called).sum() / authentic.sum()),
        "fpr": pytest.approx((~authentic & called).sum() / (~authentic).sum()), "from": "shipped model, test rows"}
    # With them (train's k-fold study), every labelled row counts, decided at the same threshold.
    cv = table.assign(prob_cv=np.clip(table["prob"] + 0.01, 0, 1))
    rates = evaluate.evaluate(cv, params(threshold_rule="balanced_accuracy"), ALPHA).decision["shipped_rates"]
    cv_called = cv["prob_cv"].to_numpy() >= threshold
    assert rates["from"] == "cross-validated, all labelled rows"
    assert rates["true_authentic"] == int(((cv["label"] == 1).to_numpy() & cv_called).sum())
    assert sum(rates[k] for k in ("true_authentic", "false_fake", "false_authentic", "true_fake")) == len(table)


def test_the_ece_floor_is_the_binomial_noise_of_a_calibrated_model():
    """Every row at P = 0.5 falls in one bin, so a calibrated model's ECE is |share authentic - 0.5|, whose
    mean over draws is E|B/n - 1/2| for B ~ Binomial(n, 1/2): sqrt(1/(2 pi n)) to first order (0.0282 at
    n = 200; the exact sum is 0.0281). Certain rows (P 0 or 1) draw their own label: no noise at all."""
    floor = metrics.ece_floor(np.full(200, 0.5), bins=10, draws=4000, seed=0)
    assert floor["mean"] == pytest.approx(0.0281, abs=0.0015)
    assert floor["p95"] > floor["mean"] and floor["draws"] == 4000
    assert metrics.ece_floor(np.array([0.0, 1.0] * 50), bins=10, draws=100, seed=0)["mean"] == 0.0
    # Five times the rows: the floor falls by about sqrt(5).
    five = metrics.ece_floor(np.full(1000, 0.5), bins=10, draws=4000, seed=0)["mean"]
    assert floor["mean"] / five == pytest.approx(np.sqrt(5), rel=0.08)


def test_the_shipped_seed_spread_redraws_the_members_that_ship():
    """Four members right on 2, 3, 4 and 5 of 10 test rows. Shipping one member (train.ship: seed), a
    redraw is one of them at random: accuracies 0.2..0.5, population std sqrt(0.0125) = 0.1118. Shipping
    the ensemble averages the redrawn members: the spread shrinks. Identical members: no spread."""
    y = np.ones(10, int)
    members = np.zeros((4, 10))
    for m, right in enumerate((2, 3, 4, 5)):
        members[m, :right] = 0.9
    one = evaluate.shipped_seed_spread(y, members, 0.5, "seed", evaluate.calibration_lib.IDENTITY, 10, 4000, 0)
    assert one["members_shipped"] == 1 and one["members_drawn_from"] == 4
    assert one["accuracy_std"] == pytest.approx(np.sqrt(0.0125), rel=0.05)
    assert one["accuracy_mean"] == pytest.approx(0.35, abs=0.01)
    # Two members, the ensemble ships both: member a is right on 10 of 20 rows (0.2 on the other ten), b on
    # all (0.9). Redraws aa, ab, ba, bb are equally likely; ab and ba average 0.55 there, so only aa errs:
    # accuracy 0.5 with probability 1/4, else 1.0: mean 0.875, std 0.5 sqrt(3/16) = 0.2165 (one member: 0.25).
    pair = np.full((2, 20), 0.9)
    pair[0, 10:] = 0.2
    y20 = np.ones(20, int)
    whole = evaluate.shipped_seed_spread(y20, pair, 0.5, "ensemble", evaluate.calibration_lib.IDENTITY, 10, 4000, 0)
    single = evaluate.shipped_seed_spread(y20, pair, 0.5, "seed", evaluate.calibration_lib.IDENTITY, 10, 4000, 0)
    assert whole["members_shipped"] == 2 and whole["accuracy_mean"] == pytest.approx(0.875, abs=0.01)
    assert whole["accuracy_std"] == pytest.approx(0.5 * np.sqrt(3 / 16), rel=0.05)
    assert single["accuracy_std"] == pytest.approx(0.25, rel=0.05)
    same = evaluate.shipped_seed_spread(y, np.tile(members[:1], (4, 1)), 0.5, "ensemble",
                                        evaluate.calibration_lib.IDENTITY, 10, 200, 0)
    assert same["accuracy_std"] == 0.0 and same["ece_std"] == pytest.approx(0.0, abs=1e-12)


def test_the_shipped_seed_spread_decides_after_the_shipped_calibration():
    """A calibration that moves every probability across the threshold moves every decision: members all at
    0.6 on authentic rows are right uncalibrated and wrong after sigmoid(logit - 1) = 0.356."""
    y = np.ones(20, int)
    members = np.full((3, 20), 0.6)
    plain = evaluate.shipped_seed_spread(y, members, 0.5, "ensemble", evaluate.calibration_lib.IDENTITY, 10, 50, 0)
    shifted = evaluate.calibration_lib.Calibration("platt", 1.0, -1.0)
    moved = evaluate.shipped_seed_spread(y, members, 0.5, "ensemble", shifted, 10, 50, 0)
    assert plain["accuracy_mean"] == 1.0 and moved["accuracy_mean"] == 0.0
    assert moved["ece_mean"] == pytest.approx(1 - 1 / (1 + np.exp(-(np.log(0.6 / 0.4) - 1))), abs=1e-9)


def test_cross_validated_metrics_cover_every_labelled_row_or_are_left_out():
    table, _ = synthetic()
    assert "cross_validated" not in evaluate.evaluate(table, params(), ALPHA).report  # no prob_cv column
    rng = np.random.default_rng(3)
    with_cv = table.assign(prob_cv=np.clip(0.2 + 0.6 * table["label"] + rng.normal(0, 0.15, len(table)), 0, 1))
    r = evaluate.evaluate(with_cv, params(), ALPHA).report
    cv = r["cross_validated"]
    assert cv["rows"] == len(table)
    hand = np.mean((with_cv["prob_cv"] >= 0.5) == (with_cv["label"] == 1))
    assert cv["accuracy"]["value"] == pytest.approx(hand)
    assert cv["ece"]["value"] == pytest.approx(metrics.expected_calibration_error(with_cv["label"],
                                                                                  with_cv["prob_cv"], 10))
    # The hold-out's floor is on its 100 test rows, the cross-validated one on all 400: about half.
    assert cv["ece_floor"]["mean"] < r["ece_floor"]["mean"] * 0.75
    no_study = with_cv.assign(prob_cv=np.nan)  # train.split.repeats: 0
    assert "cross_validated" not in evaluate.evaluate(no_study, params(), ALPHA).report
