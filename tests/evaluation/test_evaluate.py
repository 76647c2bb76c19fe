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
