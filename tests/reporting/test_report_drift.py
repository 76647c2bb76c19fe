"""reports/drift.json in report.html and reports/ci.md: the verdict, each feature's line, the drifted ones named."""

from __future__ import annotations

import re

from pipeline.reporting import ci_report, report
from pipeline.validation import drift
from tests.reporting.test_ci_report import GATE, METRICS, VARIANCE, lock
from tests.validation.conftest import drift_params, world_table


def _broken() -> dict:
    return drift.drift(world_table(), world_table(edit=lambda u: u.update(follower_count=0)), "seed16",
                       drift_params())


def test_the_html_section_flags_the_broken_feature_and_no_other():
    html = "\n".join(report.drift_section(_broken()))
    assert "drift; drifted: follower_following_ratio, follower_count; authentic share 0.357 -&gt; 0.357" in html
    assert "bonferroni-corrected over 32 tests at alpha 0.05" in html
    rows = dict(re.findall(r"<tr><td>([a-z_]+)</td>.*?<td>(drifted|)</td></tr>", html))
    assert len(rows) == 16
    assert {name for name, flag in rows.items() if flag} == {"follower_following_ratio", "follower_count"}
    assert "Not measured" in "".join(report.drift_section(None))


def test_the_ci_report_has_a_drift_line():
    text = ci_report.build(lock(), lock(), None, "no splits", METRICS, METRICS, VARIANCE, GATE, "0" * 12,
                           drift=_broken())
    assert text.splitlines()[5] == ("- data drift against the reference: **drift**; drifted: "
                                    "follower_following_ratio, follower_count; authentic share 0.357 -> 0.357 (p=1)")
    without = ci_report.build(lock(), lock(), None, "no splits", METRICS, METRICS, VARIANCE, GATE, "0" * 12)
    assert "- data drift against the reference: not measured (no reports/drift.json)" in without


def test_the_headline_mlflow_logs_counts_what_drifted():
    headline = _broken()["headline"]
    assert headline["features_drifted"] == 2 and headline["drifted"] == 1
    assert headline["prior_difference"] == 0 and headline["prior_shifted"] == 0
    same = drift.drift(world_table(), world_table(), "seed16", drift_params())["headline"]
    assert same == {"features_drifted": 0, "max_psi": 0.0, "drifted": 0, "prior_difference": 0.0, "prior_shifted": 0}
