"""The quality gate and the `igfake compare` / `igfake baseline` commands, on constructed split results."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from pipeline.cli import main
from pipeline.core.errors import GateError, ParamsError
from pipeline.core.params import GateParams
from pipeline.evaluation import compare, gate
from tests.conftest import REPO, repo_section, run_env
from tests.evaluation.test_compare import PROTOCOL, predictions, results_table

ON = GateParams(enabled=True, min_accuracy=0.9, min_roc_auc=0.95, no_regression=True)


def run(label="run", **kwargs) -> compare.RunResults:
    return compare.run_results(results_table(**kwargs), label)


def test_a_good_run_like_its_baseline_is_blessed():
    verdict = gate.judge(ON, run(noise_seed=1), run("baseline"), alpha=0.05)
    assert verdict["blessed"] and verdict["failed"] == []
    assert [r["name"] for r in verdict["rules"]] == ["min_accuracy", "min_roc_auc", "no_regression"]
    acc = verdict["intervals"]["accuracy"]
    assert acc["low"] >= 0.9 and acc["low"] < acc["mean"] < acc["high"]
    assert verdict["baseline"]["paired"] and verdict["baseline"]["verdict"] == compare.NO_DIFFERENCE
    gate.require_blessed(verdict, "reports/gate.json")  # no error


def test_the_lower_end_of_the_interval_must_reach_the_bound_not_the_mean():
    current = run(noise_seed=1)
    mean = compare.summary(current, 0.05)["accuracy"]
    strict = dataclasses.replace(ON, min_accuracy=round(mean.mean, 3), no_regression=False)
    verdict = gate.judge(strict, current, None, alpha=0.05)
    assert not verdict["blessed"] and verdict["failed"] == ["min_accuracy"]
    message = (r"^reports/gate.json: the gate did not bless this model \(min_accuracy: k-fold accuracy 0\.9\d+, "
               rf"interval \[0\.9\d+, 0\.9\d+\]: lower end < {strict.min_accuracy}\); not exported")
    with pytest.raises(GateError, match=message):
        gate.require_blessed(verdict, "reports/gate.json")


def test_a_significant_regression_against_the_baseline_fails_the_gate():
    lenient = dataclasses.replace(ON, min_accuracy=0.8)
    verdict = gate.judge(lenient, run(shift=-0.02, noise_seed=1), run("baseline"), alpha=0.05)
    assert verdict["failed"] == ["no_regression"]
    (rule,) = [r for r in verdict["rules"] if r["name"] == "no_regression"]
    assert rule["detail"].startswith("accuracy -0.0") and "worse than the baseline" in rule["detail"]
    assert "(paired, p < 0.05)" in rule["detail"]


def test_a_turned_off_gate_blesses_anything():
    verdict = gate.judge(dataclasses.replace(ON, enabled=False), run(shift=-0.5), run("baseline"), alpha=0.05)
    assert verdict == {"enabled": False, "blessed": True, "failed": [], "rules": [], "alpha": 0.05}


def test_a_run_without_k_fold_splits_cannot_be_gated():
    holdout_only = predictions.split_results([r for r in results_table().to_pylist() if r["split"] == "holdout"],
                                             PROTOCOL)
    with pytest.raises(ParamsError, match=r"^evaluate.gate: .* 0 k-fold split\(s\): set train.split.repeats >= 1, "
                                          r"or evaluate.gate.enabled: false$"):
        gate.judge(ON, compare.run_results(holdout_only, "run"), None, alpha=0.05)


def test_params_yaml_gate_and_alpha_are_validated():
    evaluate = repo_section("evaluate")
    assert evaluate.gate.enabled and 0 < evaluate.gate.min_accuracy < 1
    assert 0 < repo_section("compare").alpha < 1


@pytest.fixture
def two_runs(tmp_path):
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(results_table(), a)
    shifted = results_table(shift=0.02, noise_seed=1).to_pylist() + results_table(model="logreg", shift=-0.03,
                                                                                  noise_seed=2).to_pylist()
    pq.write_table(predictions.split_results(shifted, PROTOCOL), b)
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
