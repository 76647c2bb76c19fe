"""The one batch function: the crawl's record check vectorised, and scores equal to igfake predict's."""

import json

import numpy as np
import pyarrow as pa
import pytest

from pipeline import cli, features
from pipeline.core.errors import FieldError, InputError
from pipeline.instagram.records import USER_SCHEMA, check_columns, normalize_batch, normalize_user
from pipeline.serving import litert
from pipeline.serving.batch import OUTPUT_SCHEMA, Scorer
from tests.serving.conftest import adversarial_users

# One record per rule of normalize_user, as a Parquet table can hold it (typed columns, nulls).
BAD = {
    "pk null": {"pk": None},
    "pk zero": {"pk": 0},
    "pk negative": {"pk": -4},
    "count null": {"media_count": None},
    "count negative": {"follower_count": -1},
    "bool null": {"is_private": None},
    "username empty": {"username": ""},
    "username null": {"username": None},
    "archive unknown": {"reel_auto_archive": "sometimes"},
    "text too long": {"biography": "b" * 40_000},
}


def _reason(record):
    try:
        normalize_user(record)
    except FieldError as exc:
        return exc.field, exc.reason
    return None


def test_bad_rows_get_normalize_users_reasons_and_good_rows_stay_in_order(users):
    rows = [dict(users[0], reel_auto_archive="on")]
    for change in BAD.values():
        rows += [dict(users[len(rows)], **change), dict(users[len(rows) + 1], reel_auto_archive=None)]
    table = pa.Table.from_pylist(rows)
    good, bad = normalize_batch(table)
    assert [(i, (e.field, e.reason)) for i, _, e in bad] == [(i, _reason(r)) for i, r in enumerate(rows)
                                                              if _reason(r) is not None]
    assert len(bad) == len(BAD)
    # Hand-checked: the reasons are the crawl's words.
    reasons = {(e.field, e.reason) for _, _, e in bad}
    assert ("pk", "expected a positive integer, got 0") in reasons
    assert ("media_count", "expected an integer, got None") in reasons
    assert ("biography", "40000 characters, more than the 32767 the features can hold") in reasons
    kept = [r for r in rows if _reason(r) is None]
    assert good.column("pk").to_pylist() == [r["pk"] for r in kept]
    assert good.column("reel_auto_archive").to_pylist() == [r["reel_auto_archive"] or "unset" for r in kept]
    assert good.schema == USER_SCHEMA


def test_uint64_pks_beyond_int64_and_digit_string_pks_are_checked_as_the_crawl_does(users):
    rows = [dict(users[i], pk=pk) for i, pk in enumerate([2**63, 2**63 - 1, 7])]
    schema = pa.Table.from_pylist([dict(r, pk=1) for r in rows]).schema
    table = pa.Table.from_pylist(rows, schema=schema.set(0, pa.field("pk", pa.uint64())))
    good, bad = normalize_batch(table)
    assert good.column("pk").to_pylist() == [2**63 - 1, 7]
    assert [(e.field, e.reason) for _, _, e in bad] == [("pk", f"expected an integer from 0 to 2**63 - 1, got {2**63}")]
    strings = pa.Table.from_pylist([dict(users[0], pk="123"), dict(users[1], pk="12x")])
    good, bad = normalize_batch(strings)
    assert good.column("pk").to_pylist() == [123]
    assert [(e.field, e.reason) for _, _, e in bad] == [("pk", "expected an integer, got '12x'")]


@pytest.mark.parametrize("column,dtype,message", [
    ("follower_count", pa.string(), "column 'follower_count' is string, expected an integer type"),
    ("follower_count", pa.float64(), "column 'follower_count' is double, expected an integer type"),
    ("is_private", pa.int8(), "column 'is_private' is int8, expected bool"),
    ("pk", pa.float64(), "column 'pk' is double, expected an integer type or digit strings"),
])
def test_a_column_of_the_wrong_type_is_named(column, dtype, message):
    schema = USER_SCHEMA.set(USER_SCHEMA.get_field_index(column), pa.field(column, dtype))
    with pytest.raises(InputError, match=f"^in.parquet: {message}$"):
        check_columns(schema, "in.parquet")
    with pytest.raises(InputError, match="no column 'biography'"):
        check_columns(USER_SCHEMA.remove(USER_SCHEMA.get_field_index("biography")), "in.parquet")
    check_columns(USER_SCHEMA.remove(USER_SCHEMA.get_field_index("reel_auto_archive")), "x")  # optional


def test_scorer_equals_igfake_predict_row_by_row(tmp_path, users, tflite, capsys):
    records = users + adversarial_users(users)
    path = tmp_path / "profiles.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert cli.main(["predict", str(path), "--model", str(tflite), "--threshold", "0.5"]) == 0
    predicted = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    scored = Scorer(litert.Model.load(tflite), 0.5)(pa.Table.from_pylist(records), "profiles")
    assert scored.quarantine == []
    assert scored.table.schema == OUTPUT_SCHEMA
    out = scored.table.to_pylist()
    assert [r["pk"] for r in out] == [r["pk"] for r in predicted]
    # predict prints p rounded to 6 places; its decision is taken on the unrounded p, as the batch's is.
    np.testing.assert_allclose([r["p_authentic"] for r in out], [r["p_authentic"] for r in predicted], atol=5e-7)
    assert [r["authentic"] for r in out] == [r["authentic"] for r in predicted]
    assert {r["model_sha256"] for r in out} == {__import__("hashlib").sha256(tflite.read_bytes()).hexdigest()}
    # And the batch's model input is the training features' exactly.
    x_rows = features.to_matrix(features.compute([normalize_user(r) for r in records]))
    x_batch = features.to_matrix(features.compute_batch(normalize_batch(pa.Table.from_pylist(records))[0]))
    np.testing.assert_array_equal(x_batch, x_rows)


def test_predict_refuses_a_text_too_long_for_the_features_in_one_line(tmp_path, users, tflite, capsys):
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps(dict(users[0], biography="b" * 40_000)) + "\n")
    assert cli.main(["predict", str(path), "--model", str(tflite), "--threshold", "0.5"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("biography: 40000 characters, more than the 32767 the features can hold")
    assert "\n" not in err
