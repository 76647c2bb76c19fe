"""The quality gate and the `igfake compare` / `igfake baseline` commands, on constructed split results."""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from pipeline.cli import main
from pipeline.core.errors import InputError
from pipeline.core.params import GateParams
from pipeline.evaluation import compare, gate, splits
from tests.conftest import REPO, repo_params, run_env
from tests.evaluation.test_compare import PROTOCOL, results_table

ON = GateParams(enabled=True, min_accuracy=0.9, min_roc_auc=0.95, no_regression=True, no_drift=False)


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


@functools.cache
def _verdicts() -> dict[str, dict]:
    """Verdicts as judge writes them, blessed, failed on min_accuracy, failed on no_regression (shared: copy
    before editing in place)."""
    lenient = dataclasses.replace(ON, min_accuracy=0.8)
    return {"blessed": gate.judge(ON, run(noise_seed=1), run("baseline"), alpha=0.05),
            "min_accuracy failed": gate.judge(dataclasses.replace(ON, min_accuracy=0.95, no_regression=False),
                                              run(noise_seed=1), None, alpha=0.05),
            "regressed": gate.judge(lenient, run(shift=-0.02, noise_seed=1), run("baseline"), alpha=0.05)}


def _rule(verdict: dict, name: str, **changes: object) -> list[dict]:
    return [{**r, **changes} if r["name"] == name else r for r in verdict["rules"]]


def _flip_bound(verdict: dict, name: str, status: str) -> dict:
    """``name``'s status, its detail's outcome and the flags all edited to agree: only the interval knows."""
    op, other = (">=", "<") if status == "pass" else ("<", ">=")
    (detail,) = [r["detail"] for r in verdict["rules"] if r["name"] == name]
    failed = [] if status == "pass" else [name]
    return {**verdict, "rules": _rule(verdict, name, status=status, detail=detail.replace(f"lower end {other} ",
                                                                                          f"lower end {op} ")),
            "blessed": not failed, "failed": failed}


# (the verdict edited, the edit, the message after the file's name); each one main accepted as it was.
VERDICT_CASES = [
    ("blessed", lambda v: {**v, "failed": ["no_regression"]},
     "failed: ['no_regression'] contradicts its rules (status fail: none)"),
    ("blessed", lambda v: {**v, "skipped": ["no_regression"]},
     "skipped: ['no_regression'] contradicts its rules (status skipped: none)"),
    ("blessed", lambda v: {**v, "rules": _rule(v, "min_accuracy", status="fail"), "blessed": False,
                           "failed": ["min_accuracy"]},
     "rules: min_accuracy: status fail contradicts its detail 'k-fold accuracy 0.9"),
    ("blessed", lambda v: _flip_bound(v, "min_accuracy", "fail"),
     "rules: min_accuracy: status fail contradicts intervals.accuracy: its lower end 0.9"),
    ("min_accuracy failed", lambda v: _flip_bound(v, "min_accuracy", "pass"),
     "rules: min_accuracy: status pass contradicts intervals.accuracy: its lower end 0.9"),
    ("blessed", lambda v: {**v, "rules": _rule(v, "min_roc_auc", detail="fine")},
     "rules: min_roc_auc: expected status pass or fail and a detail ending 'lower end >= BOUND' or '< BOUND', "
     "got pass 'fine'"),
    ("blessed", lambda v: {**v, "rules": _rule(v, "min_roc_auc", status="skipped"), "skipped": ["min_roc_auc"]},
     "rules: min_roc_auc: expected status pass or fail"),
    ("blessed", lambda v: {**v, "intervals": {**v["intervals"], "accuracy": {**v["intervals"]["accuracy"],
                                                                             "low": "0.93"}}},
     "intervals: accuracy: expected numbers low <= mean <= high"),
    ("blessed", lambda v: {**v, "intervals": {**v["intervals"], "roc_auc": {**v["intervals"]["roc_auc"],
                                                                            "low": 2.0}}},
     "intervals: roc_auc: expected numbers low <= mean <= high"),
    ("blessed", lambda v: {**v, "intervals": [1, 2]}, "intervals: expected an object of metric -> interval"),
    ("blessed", lambda v: {**v, "rules": _rule(v, "no_regression", status="fail"), "blessed": False,
                           "failed": ["no_regression"]},
     "rules: no_regression: status fail contradicts baseline.metrics (worse: none)"),
    ("regressed", lambda v: {**v, "rules": _rule(v, "no_regression", status="pass"), "blessed": True, "failed": []},
     "rules: no_regression: status pass contradicts baseline.metrics (worse: accuracy"),
    ("regressed", lambda v: {**v, "baseline": {**v["baseline"], "metrics": "none"}},
     "baseline: metrics: expected a list of the comparison's metrics"),
]


@pytest.mark.parametrize(("base", "edit", "message"), VERDICT_CASES,
                         ids=[f"{i}-{c[2].split(':')[0]}" for i, c in enumerate(VERDICT_CASES)])
def test_a_verdict_whose_rules_contradict_their_evidence_is_refused(tmp_path, base, edit, message):
    """A hand-edited verdict whose flags agree with each other but not with the rule's own evidence (the
    interval, the bound, the comparison) would carry a model through `igfake promote` or CI."""
    good = _verdicts()[base]
    path = tmp_path / "gate.json"
    path.write_text(json.dumps(good))
    assert gate.read(path) == good  # as judge wrote it
    path.write_text(json.dumps(edit(good)))
    with pytest.raises(InputError, match=re.escape(f"{path}: {message}")):
        gate.read(path)


def test_lists_of_no_rules_may_be_left_out_but_a_wrong_list_names_every_rule(tmp_path):
    """``failed`` / ``skipped`` read as empty when absent (nothing failed, nothing skipped); a list that
    contradicts the rules is refused with every rule of that status named, comma-separated."""
    path = tmp_path / "gate.json"
    blessed = {k: v for k, v in _verdicts()["blessed"].items() if k != "skipped"}
    assert not any(r["status"] == "skipped" for r in blessed["rules"])
    path.write_text(json.dumps(blessed))
    assert gate.read(path) == blessed
    both = gate.judge(dataclasses.replace(ON, min_accuracy=0.99, min_roc_auc=0.999, no_regression=False),
                      run(noise_seed=1), None, alpha=0.05)
    assert both["failed"] == ["min_accuracy", "min_roc_auc"]
    path.write_text(json.dumps({**both, "failed": ["min_accuracy"]}))
    with pytest.raises(InputError, match=re.escape(
            f"{path}: failed: ['min_accuracy'] contradicts its rules (status fail: min_accuracy, min_roc_auc)")):
        gate.read(path)


def test_judge_writes_the_bound_and_outcome_the_reader_checks():
    """The reader parses the outcome and the bound from a min_* rule's detail: judge's own must parse back."""
    for verdict in _verdicts().values():
        for rule in verdict["rules"]:
            if rule["name"].startswith("min_"):
                shape = gate.BOUND_DETAIL.search(rule["detail"])
                assert shape and (shape["op"] == ">=") == (rule["status"] == "pass"), rule
    assert gate.BOUND_DETAIL.search(_verdicts()["min_accuracy failed"]["rules"][0]["detail"])["bound"] == "0.95"


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=6),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                 max_size=3), max_leaves=6)


def _places(value, at=()):
    yield at
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield from _places(child, (*at, key))


@st.composite
def edited_verdicts(draw: st.DrawFn) -> str:
    verdict = json.loads(json.dumps(draw(st.sampled_from(list(_verdicts().values())))))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.sampled_from(list(_places(verdict))))
        if not at:
            verdict = draw(JSON)
            continue
        parent = verdict
        for key in at[:-1]:
            parent = parent[key]
        if draw(st.booleans()):
            parent[at[-1]] = draw(JSON)
        elif isinstance(parent, dict):
            del parent[at[-1]]
        else:
            parent.pop(at[-1])
        if not isinstance(verdict, dict | list):
            break
    return json.dumps(verdict)


@settings(max_examples=300, deadline=None)
@given(edited_verdicts())
def test_an_edited_verdict_is_refused_or_consistent_never_a_traceback(text):
    from pipeline.reporting import ci_report
    from pipeline.tracking import registry

    try:
        verdict = gate.parse(text, "gate.json")
    except InputError as exc:
        assert str(exc).startswith("gate.json: ") and "\n" not in str(exc)
        return
    # What every reader of a verdict does with it works, and what it says follows from the rules.
    gate.label(verdict), gate.why(verdict), gate.headline(verdict), registry.verdict_tags(verdict)
    ci_report.gate_section(verdict)
    failed = [r["name"] for r in verdict["rules"] if r["status"] == "fail"]
    assert verdict["blessed"] == (verdict["judged"] and not failed)
    assert verdict.get("failed", []) == failed
    for rule in verdict["rules"]:
        interval = (verdict.get("intervals") or {}).get(rule["name"].removeprefix("min_"))
        if rule["name"] in ("min_accuracy", "min_roc_auc") and interval:
            low, bound = interval["low"], float(gate.BOUND_DETAIL.search(rule["detail"])["bound"])
            if abs(low - bound) > 1e-5 * abs(bound):  # beyond the rounding of the bound the detail shows
                assert (low >= bound) == (rule["status"] == "pass"), rule
    event("accepted")
