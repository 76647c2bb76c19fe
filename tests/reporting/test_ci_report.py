"""reports/ci.md from constructed locks, metrics and gate verdicts: what the pull request's comment says."""

from __future__ import annotations

import json
import subprocess

import pyarrow.parquet as pq
import pytest
import yaml

from pipeline.core.params import GateParams
from pipeline.evaluation import compare, gate
from pipeline.reporting import ci_report
from tests.conftest import BIN, REPO, sh
from tests.evaluation.test_compare import results_table


def lock(**md5s: str) -> str:
    stages = {"crawl": [("data/raw/profiles.jsonl", md5s.get("profiles", "p1")), ("reports/crawl.json", "t")],
              "featurize": [("data/features/features.parquet", md5s.get("features", "f1"))],
              "train": [("models/model.keras", md5s.get("model", "m1")),
                        ("data/predictions/splits.parquet", md5s.get("splits", "s1"))]}
    return yaml.safe_dump({"stages": {s: {"outs": [{"path": p, "md5": m} for p, m in outs]}
                                      for s, outs in stages.items()}})


GATE = {"enabled": True, "judged": True, "blessed": False, "reason": None, "alpha": 0.05, "failed": ["min_accuracy"],
        "skipped": ["no_regression"],
        "rules": [{"name": "min_accuracy", "status": "fail", "detail": "lower end < 0.99"},
                  {"name": "no_regression", "status": "skipped", "detail": "baseline not comparable: different data"}]}
METRICS = dict.fromkeys(ci_report.KEY_METRICS, 0.9)
VARIANCE = {"holdout": {"init_std": 0.01}}


def report(fresh_lock: str, fresh_metrics=METRICS, baseline_md5="s1") -> str:
    a = compare.run_results(results_table(), "HEAD")
    b = compare.run_results(results_table(shift=0.02, noise_seed=1), "this run")
    return ci_report.build(lock(), fresh_lock, compare.compare(a, b, 0.05), "note.", METRICS, fresh_metrics,
                           VARIANCE, GATE, "0123456789abcdef", baseline_md5)


def test_a_reproduced_run_reports_bit_identical_data_and_the_verdicts():
    text = report(lock(model="m2"), {**METRICS, "accuracy": 0.915, "roc_auc": 0.95})
    head = text.splitlines()[:5]
    assert head == ["# igfake CI: reproduction report for `0123456789ab`", "",
                    "- data stages: **bit-identical**", "- metrics against the committed run: **better**",
                    "- quality gate: **NOT blessed**"]
    assert "Model outputs: `models/model.keras` differ from the committed lock" in text
    assert "| accuracy | 0.9000 | 0.9150 | within the seed noise (±0.0200, 2 seed std) |" in text
    assert "| roc_auc | 0.9000 | 0.9500 | differs (see the k-fold comparison" in text
    assert "| precision_fake | 0.9000 | 0.9000 | identical |" in text
    assert "| min_accuracy | FAIL | lower end < 0.99 |" in text
    assert "| no_regression | skipped | baseline not comparable: different data |" in text
    assert "this check fails, as `igfake promote` would refuse this model" in text
    assert "The gate's baseline is the committed run's own split results" in text


def test_changed_data_and_a_stale_baseline_are_called_out():
    text = report(lock(features="f2"), {**METRICS, "accuracy": 0.95}, baseline_md5="old")
    assert "- data stages: **NOT bit-identical**" in text
    assert "| `data/features/features.parquet` | `f1` | `f2` |" in text and "`reports/crawl.json`" not in text
    assert "| accuracy | 0.9000 | 0.9500 | OUTSIDE the seed noise (±0.0200, 2 seed std) |" in text
    assert "baseline is NOT the committed run's split results" in text


def test_a_gate_that_judged_nothing_is_called_out_and_fails_the_check():
    not_judged = gate.not_judged("this run has 0 k-fold split(s)", 0.05)
    text = ci_report.build(lock(), lock(), None, "no splits", METRICS, METRICS, VARIANCE, not_judged, "0" * 12)
    assert "- quality gate: **not judged**" in text
    assert "**Not judged**: this run has 0 k-fold split(s). A model the gate did not judge cannot be promoted" in text


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A committed project holding what `dvc repro` leaves for ci-report: a lock, the headline, the verdict,
    the split results and the gate's baseline (no DVC cache: the comparison falls back to the baseline)."""
    root = tmp_path_factory.mktemp("ci")
    (root / "dvc.yaml").write_text("stages: {}\n")
    (root / "params.yaml").write_text((REPO / "params.yaml").read_text())
    (root / "dvc.lock").write_text(lock())
    for path in ("reports", "data/predictions", "data/baseline"):
        (root / path).mkdir(parents=True)
    (root / "reports/metrics.json").write_text(json.dumps(METRICS))
    pq.write_table(results_table(), root / "data/predictions/splits.parquet")
    pq.write_table(results_table(noise_seed=3), root / "data/baseline/splits.parquet")
    for args in (["init", "-q"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"]):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)
    return root


@pytest.mark.parametrize(("verdict", "status"), [
    (gate.judge(GateParams(True, 0.5, 0.5, False, False), compare.run_results(results_table(), "w"), None, 0.05), 0),
    (GATE, 1),
    (gate.not_judged("the gate is off (evaluate.gate.enabled: false)", 0.05, enabled=False), 1),
])
def test_ci_report_writes_the_report_always_and_fails_unless_the_model_is_blessed(project, verdict, status):
    """CI is red exactly when the change would ship a model the gate does not bless: the report is written
    either way (the pull request's comment says why), and the exit status says whether CI passes."""
    (project / "reports/gate.json").write_text(json.dumps(verdict))
    (project / "reports/ci.md").unlink(missing_ok=True)
    done = sh([str(BIN / "igfake"), "ci-report"], cwd=project, check=False)
    assert done.returncode == status, done.stderr
    text = (project / "reports/ci.md").read_text()
    assert f"- quality gate: **{ci_report.gate_label(verdict)}**" in text
    if status:
        assert done.stderr.strip().splitlines()[-1].startswith(
            f"igfake ci-report: the model is {gate.label(verdict)} ({gate.why(verdict)})")
    if status == 0:  # and a verdict that is not one evaluate writes is bad input, not a verdict
        (project / "reports/gate.json").write_text(json.dumps({**verdict, "blessed": "yes"}))
        bad = sh([str(BIN / "igfake"), "ci-report"], cwd=project, check=False)
        assert bad.returncode == 2 and "reports/gate.json: blessed: expected true or false, got 'yes'" in bad.stderr
