"""reports/ci.md from constructed locks, metrics and gate verdicts: what the pull request's comment says."""

from __future__ import annotations

import yaml

from pipeline.evaluation import compare
from pipeline.reporting import ci_report
from tests.evaluation.test_compare import results_table


def lock(**md5s: str) -> str:
    stages = {"crawl": [("data/raw/profiles.jsonl", md5s.get("profiles", "p1")), ("reports/crawl.json", "t")],
              "featurize": [("data/features/features.parquet", md5s.get("features", "f1"))],
              "train": [("models/model.keras", md5s.get("model", "m1")),
                        ("data/predictions/splits.parquet", md5s.get("splits", "s1"))]}
    return yaml.safe_dump({"stages": {s: {"outs": [{"path": p, "md5": m} for p, m in outs]}
                                      for s, outs in stages.items()}})


GATE = {"enabled": True, "blessed": False, "alpha": 0.05, "failed": ["min_accuracy"],
        "rules": [{"name": "min_accuracy", "passed": False, "detail": "lower end < 0.99"}]}
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
    assert "The gate's baseline is the committed run's own split results" in text


def test_changed_data_and_a_stale_baseline_are_called_out():
    text = report(lock(features="f2"), {**METRICS, "accuracy": 0.95}, baseline_md5="old")
    assert "- data stages: **NOT bit-identical**" in text
    assert "| `data/features/features.parquet` | `f1` | `f2` |" in text and "`reports/crawl.json`" not in text
    assert "| accuracy | 0.9000 | 0.9500 | OUTSIDE the seed noise (±0.0200, 2 seed std) |" in text
    assert "baseline is NOT the committed run's split results" in text
