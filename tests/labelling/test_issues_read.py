"""reports/label_issues.json read back (evaluate, `igfake label --review`): checked at the edge."""

from __future__ import annotations

import json

import pytest

from pipeline.core.errors import InputError
from pipeline.labelling import issues


def test_a_missing_report_is_none_for_evaluate_and_an_error_for_the_review(tmp_path):
    assert issues.read_report(tmp_path / "label_issues.json") is None
    with pytest.raises(InputError, match=r"^label_issues\.json: not found; run `dvc repro label-issues` first$"):
        issues.read(tmp_path / "label_issues.json", "label_issues.json")


def test_the_review_order_is_by_rank_whatever_the_file_order(tmp_path):
    path = tmp_path / "label_issues.json"
    path.write_text(json.dumps({"issues": [{"rank": 2, "pk": 30}, {"rank": 1, "pk": 10}, {"rank": 3, "pk": 10}]}))
    assert issues.read(path, "x") == [10, 30]


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "not a label issues report"),
    ("[]", "not a label issues report (expected a JSON object, got list)"),
    (json.dumps({"issues": [{"rank": 1, "pk": "12"}]}), "issues: expected a list"),
    (json.dumps({"issues": [{"rank": 1, "pk": True}]}), "issues: expected a list"),
    (json.dumps({"issues": [{"pk": 3}]}), "issues: expected a list"),
])
def test_a_broken_report_is_one_line(tmp_path, text, message):
    path = tmp_path / "label_issues.json"
    path.write_text(text)
    with pytest.raises(InputError) as raised:
        issues.read_report(path)
    assert message in str(raised.value) and "\n" not in str(raised.value)
