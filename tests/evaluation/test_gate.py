"""The quality gate and the `igfake compare` / `igfake baseline` commands, on constructed split results."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from pipeline.cli import main
from pipeline.core.errors import InputError
from pipeline.core.params import GateParams
from pipeline.evaluation import compare, gate, splits
from tests.conftest import REPO, repo_params, run_env
from tests.evaluation.test_compare import PROTOCOL, results_table

ON = GateParams(enabled=True, min_accuracy=0.9, min_roc_auc=0.95, no_regression=True)


def run(label="run", **kwargs) -> compare.RunResults:
    return compare.run_results(results_table(**kwargs), label)


def test_a_good_run_like_its_baseline_is_blessed():
    verdict = gate.judge(ON, run(noise_seed=1), run("baseline"), alpha=0.05)
    assert verdict["judged"] and verdict["blessed"] and verdict["failed"] == [] and verdict["skipped"] == []
    assert [r["name"] for r in verdict["rules"]] == ["min_accuracy", "min_roc_auc", "no_regression"]
    assert [r["status"] for r in verdict["rules"]] == ["pass"] * 3
    acc = verdict["intervals"]["accuracy"]
    assert acc["low"] >= 0.9 and acc["low"] < acc["mean"] < acc["high"]
    assert verdict["baseline"]["paired"] and verdict["baseline"]["verdict"] == compare.NO_DIFFERENCE
    assert gate.headline(verdict) == {"blessed": 1, "judged": 1}
    assert gate.label(verdict) == "blessed" and gate.why(verdict) == "every rule passed"


def test_the_lower_end_of_the_interval_must_reach_the_bound_not_the_mean():
    current = run(noise_seed=1)
    mean = compare.summary(current, 0.05)["accuracy"]
    strict = dataclasses.replace(ON, min_accuracy=round(mean.mean, 3), no_regression=False)
    verdict = gate.judge(strict, current, None, alpha=0.05)
    assert verdict["judged"] and not verdict["blessed"] and verdict["failed"] == ["min_accuracy"]
    assert gate.headline(verdict) == {"blessed": 0, "judged": 1}
    assert re.fullmatch(rf"min_accuracy: k-fold accuracy 0\.9\d+, 95% interval \[0\.9\d+, 0\.9\d+\]: lower end < "
                        rf"{strict.min_accuracy}", gate.why(verdict)), gate.why(verdict)


T_975_9 = 2.262157  # Student's t, 97.5th percentile, 9 degrees of freedom, from a printed table


def hand_interval(table, metric: str) -> tuple[float, float]:
    """(lower end, mean) of ``metric``'s 95% k-fold interval, worked out from the rows: the seed mean of each
    of the 10 k-fold splits, their sample variance times (1/J + n_test/n_train), t with 9 df."""
    rows = table.to_pandas()
    means = rows[rows["split"] != "holdout"].groupby("split")[metric].mean().to_numpy()
    assert len(means) == 10
    se = ((1 / 10 + 200 / 800) * means.var(ddof=1)) ** 0.5
    return means.mean() - T_975_9 * se, means.mean()


@pytest.mark.parametrize("metric", ["accuracy", "roc_auc"])
def test_a_bound_between_the_lower_end_and_the_mean_fails_and_each_metric_meets_its_own_bound(metric):
    """The rule is the interval's lower end, not the mean: a bound strictly between the two fails, one just
    below the lower end passes. Each metric is judged against its own bound (ROC AUC sits about 0.04 above
    accuracy here, so the other metric's bound would give the other answer)."""
    table = results_table(noise_seed=1)
    current = compare.run_results(table, "run")
    low, mean = hand_interval(table, metric)
    other = {"accuracy": "roc_auc", "roc_auc": "accuracy"}[metric]
    other_low, other_mean = hand_interval(table, other)
    assert low + 0.002 < mean and abs(other_mean - mean) > 0.02  # the draw leaves room for both bounds
    between = {f"min_{metric}": (low + mean) / 2, f"min_{other}": other_low - 0.001}
    failing = gate.judge(dataclasses.replace(ON, no_regression=False, **between), current, None, alpha=0.05)
    assert failing["failed"] == [f"min_{metric}"] and not failing["blessed"]
    assert failing["intervals"][metric]["low"] == pytest.approx(low, abs=1e-6)
    assert failing["intervals"][metric]["mean"] == pytest.approx(mean, abs=1e-12)
    below = {f"min_{metric}": low - 0.001, f"min_{other}": other_low - 0.001}
    passing = gate.judge(dataclasses.replace(ON, no_regression=False, **below), current, None, alpha=0.05)
    assert passing["blessed"] and passing["failed"] == []
    # The other metric's bound set between its lower end and mean fails that rule alone.
    swapped = {f"min_{metric}": low - 0.001, f"min_{other}": (other_low + other_mean) / 2}
    assert gate.judge(dataclasses.replace(ON, no_regression=False, **swapped), current, None,
                      alpha=0.05)["failed"] == [f"min_{other}"]


def test_a_significant_regression_against_the_baseline_fails_the_gate():
    lenient = dataclasses.replace(ON, min_accuracy=0.8)
    verdict = gate.judge(lenient, run(shift=-0.02, noise_seed=1), run("baseline"), alpha=0.05)
    assert verdict["failed"] == ["no_regression"] and not verdict["blessed"]
    (rule,) = [r for r in verdict["rules"] if r["name"] == "no_regression"]
    assert rule["status"] == "fail"
    assert rule["detail"].startswith("accuracy -0.0") and "worse than the baseline" in rule["detail"]
    assert "(paired, p < 0.05)" in rule["detail"]


def test_a_baseline_of_other_data_is_not_compared_and_the_absolute_rules_judge_alone():
    """A user's own data against the simulator's baseline: a much worse run is not called a regression
    (the difference says nothing about the recipe), and the verdict says why; the bounds still apply."""
    lenient = dataclasses.replace(ON, min_accuracy=0.5, min_roc_auc=0.5)
    own = run(shift=-0.2, noise_seed=1, protocol={**PROTOCOL, "features_md5": "0" * 32})
    verdict = gate.judge(lenient, own, run("baseline"), alpha=0.05)
    assert verdict["judged"] and verdict["blessed"] and verdict["skipped"] == ["no_regression"]
    (rule,) = [r for r in verdict["rules"] if r["name"] == "no_regression"]
    assert rule["status"] == "skipped" and rule["detail"].startswith(
        f"baseline not comparable: different data (features md5 {'f' * 32} vs {'0' * 32})")
    assert verdict["baseline"] is None and "no_regression skipped: baseline not comparable" in gate.why(verdict)
    # The same run against a baseline of the same data is judged by it, and fails.
    same_data = gate.judge(lenient, run(shift=-0.2, noise_seed=1), run("baseline"), alpha=0.05)
    assert same_data["failed"] == ["no_regression"]
    # The absolute rules still judge a run of other data.
    strict = gate.judge(dataclasses.replace(lenient, min_accuracy=0.9), own, run("baseline"), alpha=0.05)
    assert strict["failed"] == ["min_accuracy"] and strict["skipped"] == ["no_regression"]


def test_a_turned_off_gate_judges_nothing_so_nothing_is_blessed():
    verdict = gate.judge(dataclasses.replace(ON, enabled=False), run(shift=-0.5), run("baseline"), alpha=0.05)
    assert verdict["enabled"] is False and verdict["judged"] is False and verdict["blessed"] is False
    assert verdict["reason"] == "the gate is off (evaluate.gate.enabled: false)" and verdict["rules"] == []
    assert gate.headline(verdict) == {"blessed": 0, "judged": 0} and gate.label(verdict) == "not judged"


def test_a_run_without_k_fold_splits_is_not_judged_with_the_reason():
    holdout_only = splits.table([r for r in results_table().to_pylist() if r["split"] == "holdout"], PROTOCOL)
    verdict = gate.judge(ON, compare.run_results(holdout_only, "run"), run("baseline"), alpha=0.05)
    assert verdict["judged"] is False and verdict["blessed"] is False and verdict["enabled"] is True
    assert verdict["reason"].startswith("this run has 0 k-fold split(s)") and "train.split.repeats >= 1" in \
        verdict["reason"]
    assert gate.headline(verdict) == {"blessed": 0, "judged": 0} and gate.why(verdict) == verdict["reason"]


@pytest.mark.parametrize(("edit", "message"), [
    (lambda v: {**v, "blessed": "yes"}, "blessed: expected true or false, got 'yes'"),
    (lambda v: {k: x for k, x in v.items() if k != "judged"}, "judged: expected true or false, got None"),
    (lambda v: {**v, "rules": [{**v["rules"][0], "status": "fail"}, *v["rules"][1:]]},
     "blessed: true contradicts its rules (failed: min_accuracy)"),
    (lambda v: {**v, "judged": False, "blessed": False}, "reason: a verdict that judged nothing must say why"),
    (lambda v: {**v, "judged": False, "blessed": True, "reason": "x"}, "blessed: true but judged: false"),
    (lambda v: {**v, "rules": [{"name": "min_accuracy", "passed": True, "detail": ""}]}, "rules: expected a list"),
])
def test_a_verdict_read_back_is_checked_at_the_edge(tmp_path, edit, message):
    """reports/gate.json decides what can be promoted: a hand-edited or stale one is refused, naming the field."""
    good = gate.judge(ON, run(noise_seed=1), run("baseline"), alpha=0.05)
    path = tmp_path / "gate.json"
    path.write_text(json.dumps(good))
    assert gate.read(path) == good
    path.write_text(json.dumps(edit(good)))
    with pytest.raises(InputError, match=re.escape(f"{path}: {message}")):
        gate.read(path)
    path.write_text("{not json")
    with pytest.raises(InputError, match=r"not a gate verdict"):
        gate.read(path)


def test_params_yaml_gate_and_alpha_are_validated():
    evaluate = repo_params().evaluate
    assert evaluate.gate.enabled and 0 < evaluate.gate.min_accuracy < 1
    assert 0 < repo_params().compare.alpha < 1


@pytest.fixture
def two_runs(tmp_path):
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(results_table(), a)
    shifted = results_table(shift=0.02, noise_seed=1).to_pylist() + results_table(model="logreg", shift=-0.03,
                                                                                  noise_seed=2).to_pylist()
    pq.write_table(splits.table(shifted, PROTOCOL), b)
    return a, b


def test_compare_prints_markdown_and_json(two_runs, capsys):
    a, b = two_runs
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert f"## `{b}:mlp` against `{a}:mlp`" in out and "Verdict: **better** at alpha 0.05; paired over 10" in out
    assert main(["compare", str(a), str(b), "--json", "--alpha", "0.01"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == "better" and report["alpha"] == 0.01 and report["paired"]
    assert {m["metric"] for m in report["metrics"]} == {"accuracy", "roc_auc", "log_loss"}


def test_compare_two_models_of_one_run(two_runs, capsys):
    _, b = two_runs
    assert main(["compare", str(b), "--against", "logreg", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["a"] == f"{b}:mlp" and report["b"] == f"{b}:logreg" and report["verdict"] == "worse"


def test_compare_refuses_with_one_line(two_runs, tmp_path, capsys):
    a, _ = two_runs
    other = tmp_path / "other.parquet"
    pq.write_table(results_table(protocol={**PROTOCOL, "features_md5": "0" * 32}), other)
    assert main(["compare", str(a), str(other), "--paired-only"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"igfake compare: error: {a}:mlp and {other}:mlp cannot be paired: different data "
                   f"(features md5 {'f' * 32} vs {'0' * 32})"]
    assert main(["compare", "no-such-rev-or-exp", str(a)]) == 2
    assert capsys.readouterr().err.strip() == ("igfake compare: error: no-such-rev-or-exp: neither a git revision nor "
                                               "a DVC experiment (see `dvc exp show`)")


def test_comparing_imports_no_tensorflow():
    """A user waiting for a verdict should not wait for TensorFlow to load."""
    code = ("import sys, pipeline.cli.compare, pipeline.cli.baseline, pipeline.cli.ci_report, "
            "pipeline.evaluation.gate\n"
            "from pipeline.cli import main\n"
            "main(['compare', 'no-such-rev-or-exp', 'workspace'])\n"
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n")
    probe = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=run_env(), capture_output=True, text=True,
                           check=True)
    assert probe.stdout.split() == ["False", "False"]
    assert "no-such-rev-or-exp: neither a git revision nor a DVC experiment" in probe.stderr
