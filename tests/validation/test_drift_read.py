"""reports/drift.json read back (evaluate, track, ci-report): checked at the edge, one line naming the field."""

from __future__ import annotations

import json

import pytest

from pipeline.core.errors import InputError
from pipeline.validation import drift

GOOD = {"verdict": "drift", "summary": "drift; drifted: follower_count",
        "features": {"follower_count": {"drifted": True}, "is_private": {"drifted": False}},
        "drifted_features": ["follower_count"], "score": {"drifted": False}}


def test_a_missing_report_is_none_and_a_good_one_reads_back(tmp_path):
    assert drift.read_report(tmp_path / "drift.json") is None
    (tmp_path / "drift.json").write_text(json.dumps(GOOD))
    assert drift.read_report(tmp_path / "drift.json") == GOOD


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "not a drift report"),
    ("[1, 2]", "expected a JSON object"),
    (json.dumps(GOOD | {"verdict": "fine"}), "verdict: expected one of"),
    (json.dumps(GOOD | {"summary": "no drift"}), "summary: expected a line that starts with the verdict"),
    (json.dumps(GOOD | {"features": {"follower_count": {"drifted": "yes"}}}), "features: expected an object"),
    (json.dumps(GOOD | {"drifted_features": []}), "drifted_features: expected exactly the features marked drifted"),
    (json.dumps(GOOD | {"verdict": "no drift", "summary": "no drift"}), "verdict: 'no drift' contradicts"),
])
def test_an_edited_or_broken_report_is_one_line(tmp_path, text, message):
    path = tmp_path / "drift.json"
    path.write_text(text)
    with pytest.raises(InputError) as raised:
        drift.read_report(path)
    assert message in str(raised.value) and "\n" not in str(raised.value)
    assert str(raised.value).endswith("`dvc repro validate` rewrites it")
