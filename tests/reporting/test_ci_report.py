"""reports/ci.md from constructed locks, metrics and gate verdicts: what the pull request's comment says."""

from __future__ import annotations

import json
import subprocess

import pyarrow.parquet as pq
import pytest
import yaml

from pipeline.core.errors import IgfakeError
from pipeline.core.params import GateParams
from pipeline.evaluation import compare, gate, sources
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


# -- broken inputs: always a report, a red line naming the file, exit 2 ----------------------------------


def _commit(root, *paths_: str, remove: bool = False) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, *(["rm", "-q", "--cached"] if remove else ["add"]), "--", *paths_], cwd=root,
                   check=True, capture_output=True)
    subprocess.run([*git, "commit", "-qm", "change"], cwd=root, check=True, capture_output=True)


BLESSED = gate.judge(GateParams(True, 0.5, 0.5, False, False), compare.run_results(results_table(), "w"), None, 0.05)
# How each case breaks a copy of the project, and the one line it must give: a string, or the reader that
# owns the file (the gate's verdict, the split results), whose one-line error ci-report must pass on.
READ_GATE = lambda r: gate.read(r / "reports/gate.json")  # noqa: E731
BROKEN = {
    "dvc.lock missing": (lambda r: (r / "dvc.lock").unlink(), "dvc.lock: not found; run `dvc repro` first"),
    "dvc.lock not YAML": (lambda r: (r / "dvc.lock").write_text("stages:\n\tcrawl: {}\n"),  # a tab: hand-edited
                          "dvc.lock: not YAML (found character '\\t' that cannot start any token at line 2); "
                          "`dvc repro` rewrites it"),
    "dvc.lock not a lock": (lambda r: (r / "dvc.lock").write_text("- 1\n"),
                            "dvc.lock: not a dvc.lock (no mapping of stages); `dvc repro` rewrites it"),
    "committed dvc.lock missing": (lambda r: _commit(r, "dvc.lock", remove=True),
                                   "HEAD:dvc.lock: not committed; commit the dvc.lock `dvc repro` writes"),
    "metrics.json missing": (lambda r: (r / "reports/metrics.json").unlink(),
                             "reports/metrics.json: not found; run `dvc repro` first"),
    "metrics.json malformed": (lambda r: (r / "reports/metrics.json").write_text('{"accuracy": 0.9'),
                               "reports/metrics.json: not a JSON report (Expecting ',' delimiter: line 1 column 17 "
                               "(char 16)); `dvc repro` rewrites it"),
    "metrics.json not an object": (lambda r: (r / "reports/metrics.json").write_text("[0.9]"),
                                   "reports/metrics.json: not a JSON report (expected a JSON object, got list); "
                                   "`dvc repro` rewrites it"),
    "metrics.json lacks a key": (lambda r: (r / "reports/metrics.json").write_text(json.dumps(
        {k: v for k, v in METRICS.items() if k != "roc_auc"})),
        "reports/metrics.json: roc_auc: missing; `dvc repro evaluate` rewrites it"),
    "metrics.json out of range": (lambda r: (r / "reports/metrics.json").write_text(json.dumps(
        {**METRICS, "accuracy": 1.7})),
        "reports/metrics.json: accuracy: expected a number from 0 to 1, got 1.7; `dvc repro evaluate` rewrites it"),
    "metrics.json NaN": (lambda r: (r / "reports/metrics.json").write_text(json.dumps(
        {**METRICS, "recall_fake": float("nan")})),
        "reports/metrics.json: recall_fake: expected a number from 0 to 1, got nan; `dvc repro evaluate` rewrites it"),
    "committed metrics.json malformed": (
        lambda r: ((r / "reports/metrics.json").write_text("{"), _commit(r, "reports/metrics.json"),
                   (r / "reports/metrics.json").write_text(json.dumps(METRICS))),
        "HEAD:reports/metrics.json: not a JSON report (Expecting property name enclosed in double quotes: line 1 "
        "column 2 (char 1)); `dvc repro` rewrites it"),
    "committed variance.json lacks its key": (
        lambda r: ((r / "reports/variance.json").write_text('{"holdout": {}}'), _commit(r, "reports/variance.json")),
        "HEAD:reports/variance.json: holdout.init_std: expected a standard deviation (a number, at least 0), got None; "
        "`dvc repro evaluate` rewrites it"),
    "split results missing": (lambda r: (r / "data/predictions/splits.parquet").unlink(),
                              lambda r: sources.read(sources.WORKSPACE, r)),
    "gate.json missing": (lambda r: (r / "reports/gate.json").unlink(), READ_GATE),
    "gate.json malformed": (lambda r: (r / "reports/gate.json").write_text('{"blessed": tru'), READ_GATE),
    "gate.json lacks a key": (lambda r: (r / "reports/gate.json").write_text(json.dumps(
        {k: v for k, v in BLESSED.items() if k != "blessed"})), READ_GATE),
    "gate.json contradicts its rules": (lambda r: (r / "reports/gate.json").write_text(json.dumps(
        {**GATE, "blessed": True})), READ_GATE),
}


@pytest.fixture
def broken_project(project, tmp_path):
    """A copy of the committed project whose model is blessed: only a broken input can fail the check."""
    import shutil

    root = tmp_path / "project"
    shutil.copytree(project, root)
    (root / "reports/gate.json").write_text(json.dumps(BLESSED))
    (root / "reports/ci.md").unlink(missing_ok=True)
    return root


def _ci_report(root, *args: str):
    return sh([str(BIN / "igfake"), "ci-report", *args], cwd=root, check=False)


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_input_is_a_red_line_in_the_report_and_fails_the_check_in_one_line(case, broken_project):
    break_it, message = BROKEN[case]
    break_it(broken_project)
    if callable(message):
        with pytest.raises(IgfakeError) as read:
            message(broken_project)
        message = str(read.value).replace(f"{broken_project}/", "")
    done = _ci_report(broken_project)
    done.stderr = done.stderr.replace(f"{broken_project}/", "")
    assert (done.returncode, done.stderr) == (2, f"igfake ci-report: error: {message}\n")
    text = (broken_project / "reports/ci.md").read_text().replace(f"{broken_project}/", "")
    assert text.count("> [!CAUTION]") == 1 and f"\n> - {message}\n" in text
    assert "## Quality gate" in text and "## Plots" in text  # the rest of the report is still there


def test_every_broken_input_is_listed_and_stderr_names_the_first(broken_project):
    (broken_project / "dvc.lock").unlink()
    (broken_project / "reports/gate.json").write_text("{")
    done = _ci_report(broken_project)
    assert done.returncode == 2
    assert done.stderr == ("igfake ci-report: error: dvc.lock: not found; run `dvc repro` first (and 1 more broken "
                           "input(s): see reports/ci.md)\n")
    text = (broken_project / "reports/ci.md").read_text()
    head = text.splitlines()
    assert (head[2], head[4]) == ("- data stages: **not compared**", "- quality gate: **unreadable**")
    assert "> - dvc.lock: not found; run `dvc repro` first\n> - reports/gate.json: not a gate verdict" in text
    assert "**Not compared**: this run's `dvc.lock` is missing or broken (above)." in text
    assert "**Unreadable**: `reports/gate.json` is missing or broken (above)" in text


def test_an_unknown_revision_to_compare_against_is_a_red_line_too(broken_project):
    done = _ci_report(broken_project, "--against", "no-such-branch")
    assert (done.returncode, done.stderr) == (
        2, "igfake ci-report: error: --against no-such-branch: not a git revision (a commit, a branch or a tag)\n")
    text = (broken_project / "reports/ci.md").read_text()
    assert "**Not compared**: the committed `dvc.lock` is missing or broken (above)." in text


def test_a_committed_metrics_file_older_than_a_key_metric_is_no_broken_input(broken_project):
    """A commit from before a metric was reported lacks it: "no committed value", not a red line."""
    (broken_project / "reports/metrics.json").write_text(json.dumps(
        {k: v for k, v in METRICS.items() if k != "precision_fake"}))
    _commit(broken_project, "reports/metrics.json")
    (broken_project / "reports/metrics.json").write_text(json.dumps(METRICS))
    done = _ci_report(broken_project)
    assert done.returncode == 0, done.stderr
    text = (broken_project / "reports/ci.md").read_text()
    assert "[!CAUTION]" not in text and "| precision_fake | - | 0.9000 | no committed value |" in text
