"""Each rule of the gate and each field of its verdict file, with the exact words a reader sees."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from pipeline.core.errors import InputError
from pipeline.evaluation import compare, gate, splits
from tests.evaluation.test_compare import PROTOCOL, results_table
from tests.evaluation.test_gate import ON

LENIENT = dataclasses.replace(ON, min_accuracy=0.5, min_roc_auc=0.5)


def run(label="run", keep_splits: int | None = None, protocol=PROTOCOL, **kwargs) -> compare.RunResults:
    rows = results_table(**kwargs).to_pylist()
    if keep_splits is not None:  # the hold-out and the first keep_splits k-fold splits (10 seeds each)
        rows = rows[:10 * (1 + keep_splits)]
    return compare.run_results(splits.table(rows, protocol), label)


def rule(verdict: dict, name: str) -> dict:
    (found,) = [r for r in verdict["rules"] if r["name"] == name]
    return found


def test_no_baseline_fails_the_regression_rule_and_says_how_to_write_one():
    verdict = gate.judge(LENIENT, run(noise_seed=1), None, alpha=0.05)
    assert rule(verdict, "no_regression") == {"name": "no_regression", "status": "fail",
                                              "detail": "no baseline; write one with `igfake baseline`"}
    assert verdict["failed"] == ["no_regression"] and gate.label(verdict) == "not blessed"
    assert gate.why(verdict) == "no_regression: no baseline; write one with `igfake baseline`"


def test_a_baseline_of_one_split_is_skipped_and_one_of_two_is_compared_unpaired():
    one = gate.judge(LENIENT, run(noise_seed=1), run("baseline", keep_splits=1), alpha=0.05)
    assert rule(one, "no_regression") == {
        "name": "no_regression", "status": "skipped",
        "detail": "baseline not comparable: it has 1 k-fold split(s); only the absolute rules judge"}
    assert one["blessed"] and one["skipped"] == ["no_regression"] and one["baseline"] is None
    two = gate.judge(LENIENT, run(noise_seed=1), run("baseline", keep_splits=2), alpha=0.05)
    assert rule(two, "no_regression") == {
        "name": "no_regression", "status": "pass",
        "detail": "no metric significantly worse than the baseline (unpaired, p < 0.05)"}
    assert two["baseline"]["paired"] is False and two["skipped"] == []


def test_a_passing_paired_comparison_and_a_regression_on_several_metrics_in_words():
    same = gate.judge(LENIENT, run(noise_seed=1), run("baseline"), alpha=0.05)
    assert rule(same, "no_regression")["detail"] == "no metric significantly worse than the baseline (paired, p < 0.05)"
    worse = gate.judge(LENIENT, run(shift=-0.02, noise_seed=1), run("baseline"), alpha=0.1)
    metrics = [m for m in worse["baseline"]["metrics"] if m["verdict"] == "worse"]
    assert [m["metric"] for m in metrics] == ["accuracy", "roc_auc", "log_loss"]
    assert rule(worse, "no_regression")["detail"] == "; ".join(
        f"{m['metric']} {m['difference']:+.4f} [{m['low']:+.4f}, {m['high']:+.4f}] worse than the baseline"
        for m in metrics) + " (paired, p < 0.1)"


def test_a_bound_equal_to_the_lower_end_passes_and_the_detail_says_so():
    current = run(noise_seed=1)
    low = gate.judge(LENIENT, current, None, alpha=0.05)["intervals"]["accuracy"]
    at = gate.judge(dataclasses.replace(LENIENT, min_accuracy=low["low"], no_regression=False), current, None, 0.05)
    assert at["blessed"]
    assert rule(at, "min_accuracy")["detail"] == (
        f"k-fold accuracy {low['mean']:.4f}, 95% interval [{low['low']:.4f}, {low['high']:.4f}]: "
        f"lower end >= {low['low']:g}")


def test_two_k_fold_splits_are_judged_and_one_is_not():
    two = gate.judge(dataclasses.replace(LENIENT, no_regression=False), run(keep_splits=2), None, alpha=0.05)
    assert two["judged"] and two["blessed"]
    one = gate.judge(LENIENT, run(keep_splits=1), None, alpha=0.1)
    assert one == {"enabled": True, "judged": False, "blessed": False, "alpha": 0.1, "failed": [], "skipped": [],
                   "rules": [], "reason": "this run has 1 k-fold split(s) and the gate judges the repeated k-fold "
                                          "results (train.split.repeats >= 1 gives them)"}


def test_the_verdicts_written_hold_exactly_these_fields():
    off = gate.judge(dataclasses.replace(ON, enabled=False), run(), None, alpha=0.2)
    assert off == {"enabled": False, "judged": False, "blessed": False, "alpha": 0.2, "failed": [], "skipped": [],
                   "rules": [], "reason": "the gate is off (evaluate.gate.enabled: false)"}
    judged = gate.judge(dataclasses.replace(LENIENT, no_regression=False), run(noise_seed=1), None, alpha=0.05)
    assert set(judged) == {"enabled", "judged", "blessed", "reason", "failed", "skipped", "alpha", "rules",
                           "intervals", "baseline"}
    assert (judged["enabled"], judged["judged"], judged["reason"], judged["baseline"]) == (True, True, None, None)
    assert list(judged["intervals"]) == ["accuracy", "roc_auc"]  # the bounded metrics, nothing else


def test_why_names_every_skipped_rule():
    verdict = {"judged": True, "blessed": True, "rules": [
        {"name": "a", "status": "skipped", "detail": "x"}, {"name": "b", "status": "pass", "detail": ""},
        {"name": "c", "status": "skipped", "detail": "y"}]}
    assert gate.why(verdict) == "every rule passed (a skipped: x; c skipped: y)"


def written(tmp_path, **fields) -> str:
    good = gate.judge(dataclasses.replace(LENIENT, no_regression=False), run(noise_seed=1), None, alpha=0.05)
    path = tmp_path / "gate.json"
    path.write_text(json.dumps({**good, **fields}))
    return str(path)


@pytest.mark.parametrize("alpha", [0, 1, 1.5, True, "0.05", None])
def test_an_alpha_outside_zero_to_one_is_refused(tmp_path, alpha):
    path = written(tmp_path, alpha=alpha)
    with pytest.raises(InputError, match="^" + re.escape(
            f"{path}: alpha: expected the level the verdict was judged at, a number strictly between 0 and 1, got "
            f"{alpha!r}; run `dvc repro evaluate` to rebuild it") + "$"):
        gate.read(path)
    assert gate.read(written(tmp_path, alpha=0.999))["alpha"] == 0.999


@pytest.mark.parametrize(("fields", "message"), [
    ({"judged": "no"}, "judged: expected true or false, got 'no' (a verdict from before the gate judged without "
                       "stopping runs? run `dvc repro evaluate`)"),
    ({"rules": [{"name": "x", "status": "maybe", "detail": ""}]},
     "rules: expected a list of {name, status (pass, fail, skipped), detail}"),
    ({"blessed": False}, "blessed: false contradicts its rules (failed: none)"),
    ({"rules": [{"name": "min_accuracy", "status": "fail", "detail": ""},
                {"name": "min_roc_auc", "status": "fail", "detail": ""}]},
     "blessed: true contradicts its rules (failed: min_accuracy, min_roc_auc)"),
    ({"judged": False, "blessed": False, "reason": 5}, "reason: a verdict that judged nothing must say why, got 5"),
])
def test_a_verdict_file_is_refused_with_the_field_and_what_was_expected(tmp_path, fields, message):
    path = written(tmp_path, **fields)
    with pytest.raises(InputError, match="^" + re.escape(f"{path}: {message}") + "$"):
        gate.read(path)


def test_a_missing_unreadable_or_non_object_verdict_file_is_one_line(tmp_path):
    missing = tmp_path / "gate.json"
    with pytest.raises(InputError, match="^" + re.escape(f"{missing}: not found; run `dvc repro` first") + "$"):
        gate.read(missing)
    missing.write_bytes(b"\xff\xfe{}")
    with pytest.raises(InputError, match="^" + re.escape(f"{missing}: not a gate verdict (") + r".*\); run `dvc repro "
                                         r"evaluate` to rebuild it$"):
        gate.read(missing)
    missing.write_text("[1, 2]")
    with pytest.raises(InputError, match="^" + re.escape(f"{missing}: not a gate verdict (expected a JSON object, got "
                                                         "list); run `dvc repro evaluate` to rebuild it") + "$"):
        gate.read(missing)


def test_a_baseline_of_other_data_is_skipped_in_these_words():
    own = run(noise_seed=1, protocol={**PROTOCOL, "features_md5": "0" * 32})
    verdict = gate.judge(LENIENT, own, run("baseline"), alpha=0.05)
    assert rule(verdict, "no_regression")["detail"] == (
        f"baseline not comparable: different data (features md5 {'f' * 32} vs {'0' * 32}); only the absolute rules "
        "judge (`igfake baseline` makes this run's data the baseline)")


# A verdict written by hand, one min_accuracy rule at the bound 0.5 (0.5 * 1e-5 = 5e-06 exactly in binary, so
# the reader's rounding margin around it is [0.499995, 0.500005]): each case below sets only the lower end.
def by_hand(status: str, low: float, bound: str = "0.5", **fields) -> str:
    op = ">=" if status == "pass" else "<"
    failed = ["min_accuracy"] if status == "fail" else []
    verdict = {"enabled": True, "judged": True, "blessed": not failed, "reason": None, "failed": failed,
               "skipped": [], "alpha": 0.05, "baseline": None,
               "rules": [{"name": "min_accuracy", "status": status,
                          "detail": f"k-fold accuracy 0.6000, 95% interval [0.5000, 0.7000]: lower end {op} {bound}"}],
               "intervals": {"accuracy": {"low": low, "mean": 0.6, "high": 0.7, "level": 0.95}}}
    return json.dumps({**verdict, **fields})


@pytest.mark.parametrize(("status", "low"), [
    ("pass", 0.5), ("pass", 0.5 - 5e-06), ("pass", 0.499996),  # at the bound, at the margin's edge, within it
    ("fail", 0.5), ("fail", 0.500004), ("fail", 0.4),  # a fail at or just above the bound is within the rounding
])
def test_a_lower_end_at_the_bound_or_within_its_rounding_agrees_with_either_status(status, low):
    assert gate.parse(by_hand(status, low), "gate.json")["rules"][0]["status"] == status


@pytest.mark.parametrize(("status", "low", "message"), [
    ("pass", 0.49999, "status pass contradicts intervals.accuracy: its lower end 0.49999 is < 0.5"),
    ("pass", 0.3, "status pass contradicts intervals.accuracy: its lower end 0.3 is < 0.5"),
    ("fail", 0.5 + 5e-06, "status fail contradicts intervals.accuracy: its lower end 0.500005 is >= 0.5"),
    ("fail", 0.6, "status fail contradicts intervals.accuracy: its lower end 0.6 is >= 0.5"),
])
def test_a_lower_end_beyond_the_rounding_contradicts_the_status_in_these_words(status, low, message):
    with pytest.raises(InputError, match="^" + re.escape(f"gate.json: rules: min_accuracy: {message}") + "$"):
        gate.parse(by_hand(status, low), "gate.json")


def test_a_bound_that_is_not_a_number_is_refused_in_one_line():
    with pytest.raises(InputError, match="^" + re.escape(
            "gate.json: rules: min_accuracy: expected status pass or fail and a detail ending 'lower end >= BOUND' "
            "or '< BOUND', got pass 'k-fold accuracy 0.6000, 95% interval [0.5000, 0.7000]: lower end >= abc'")
            + "$"):
        gate.parse(by_hand("pass", 0.6, bound="abc"), "gate.json")


@pytest.mark.parametrize("ends", [(0.6, 0.6, 0.7), (0.5, 0.7, 0.7), (0.6, 0.6, 0.6)])
def test_an_interval_with_equal_ends_is_in_order(ends):
    low, mean, high = ends
    text = by_hand("pass", low, intervals={"accuracy": {"low": low, "mean": mean, "high": high}})
    assert gate.parse(text, "gate.json")["intervals"]["accuracy"] == {"low": low, "mean": mean, "high": high}


@pytest.mark.parametrize("interval", [{"low": 0.6, "mean": 0.8, "high": 0.7}, {"low": 0.6, "mean": 0.55, "high": 0.7},
                                      0.6, [0.6, 0.6, 0.7]])
def test_a_mean_outside_its_interval_or_an_interval_that_is_not_an_object_is_refused(interval):
    low = interval["low"] if isinstance(interval, dict) else 0.6
    with pytest.raises(InputError, match="^" + re.escape(
            f"gate.json: intervals: accuracy: expected numbers low <= mean <= high, got {interval!r}") + "$"):
        gate.parse(by_hand("pass", low, intervals={"accuracy": interval}), "gate.json")


@pytest.mark.parametrize("name", ["min_log_loss", "accuracy", "no_drift"])
def test_a_rule_the_reader_has_no_evidence_for_is_taken_as_written(name):
    """Only min_accuracy, min_roc_auc and no_regression carry evidence in the file; any other rule's detail is
    free text, even one named after a bounded metric."""
    verdict = json.loads(by_hand("pass", 0.6))
    verdict["rules"].append({"name": name, "status": "pass", "detail": "free text"})
    assert gate.parse(json.dumps(verdict), "gate.json")["rules"][1]["detail"] == "free text"


COMPARED = {"paired": True, "metrics": [{"metric": "accuracy", "verdict": "worse"},
                                        {"metric": "roc_auc", "verdict": "worse"},
                                        {"metric": "log_loss", "verdict": "no difference"}]}


def test_a_skipped_regression_rule_is_not_held_to_a_comparison_and_a_passed_one_names_every_worse_metric():
    verdict = json.loads(by_hand("pass", 0.6, baseline=COMPARED))
    skipped = {**verdict, "skipped": ["no_regression"],
               "rules": [*verdict["rules"], {"name": "no_regression", "status": "skipped", "detail": "x"}]}
    assert gate.parse(json.dumps(skipped), "gate.json")["skipped"] == ["no_regression"]
    passed = {**verdict, "rules": [*verdict["rules"], {"name": "no_regression", "status": "pass", "detail": "x"}]}
    with pytest.raises(InputError, match="^" + re.escape(
            "gate.json: rules: no_regression: status pass contradicts baseline.metrics (worse: accuracy, roc_auc)")
            + "$"):
        gate.parse(json.dumps(passed), "gate.json")


@pytest.mark.parametrize(("drift", "rule_"), [
    ({"verdict": "drift", "summary": "drift; drifted: follower_count"},
     {"name": "no_drift", "status": "fail", "detail": "drift; drifted: follower_count"}),
    ({"verdict": "prior shift only", "summary": "prior shift only; authentic share 0.300 -> 0.700 (p=0.001)"},
     {"name": "no_drift", "status": "pass", "detail": "prior shift only; authentic share 0.300 -> 0.700 (p=0.001)"}),
    ({"verdict": "no drift", "summary": "no drift"}, {"name": "no_drift", "status": "pass", "detail": "no drift"}),
    (None, {"name": "no_drift", "status": "skipped", "detail": "no drift report (reports/drift.json, stage validate)"}),
])
def test_the_no_drift_rule_follows_the_drift_reports_verdict_and_is_last(drift, rule_):
    on = dataclasses.replace(LENIENT, no_regression=False, no_drift=True)
    verdict = gate.judge(on, run(noise_seed=1), None, alpha=0.05, drift=drift)
    assert [r["name"] for r in verdict["rules"]] == ["min_accuracy", "min_roc_auc", "no_drift"]
    assert verdict["rules"][-1] == rule_
    assert verdict["failed"] == (["no_drift"] if rule_["status"] == "fail" else [])
    assert verdict["skipped"] == (["no_drift"] if drift is None else [])
