"""The features table's schema: its columns are the feature set's, and each broken table stops with one line
naming the column, the rule and the rows (the expected lines are written out by hand)."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from pipeline import features
from pipeline.core.errors import InputError
from pipeline.labelling.table import SCHEMA as LABELLED_SCHEMA
from pipeline.schema import features as features_schema
from tests.schema.conftest import ROWS

WHERE = "data/features/features.parquet"


def replace(name: str, values: Callable[[pa.ChunkedArray], object]) -> Callable[[pa.Table], pa.Table]:
    """The table with column ``name`` replaced by ``values(column)`` (an Arrow array, or a list typed as before)."""
    def change(table: pa.Table) -> pa.Table:
        column = table.column(name)
        new = values(column)
        new = new if isinstance(new, pa.Array | pa.ChunkedArray) else pa.array(new, type=column.type)
        return table.set_column(table.schema.get_field_index(name), name, new)
    return change


def first_row(value: object) -> Callable[[pa.ChunkedArray], list]:
    return lambda column: [value, *column.to_pylist()[1:]]


BROKEN = {
    "a column renamed": (
        lambda t: t.rename_columns(["followers" if n == "follower_count" else n for n in t.column_names]),
        "follower_count: column missing; followers: column not in the schema"),
    "a column missing": (lambda t: t.drop_columns(["media_count"]), "media_count: column missing"),
    "a column too many": (lambda t: t.append_column("score", pa.array([0.5] * t.num_rows)),
                          "score: column not in the schema"),
    "a negative follower_count": (replace("follower_count", first_row(-1)),
                                  f"follower_count: 1 of {ROWS} rows fail greater_than_or_equal_to(0)"),
    "every follower_count negative": (replace("follower_count", lambda c: pc.subtract(pc.negate(c), 1)),
                                      f"follower_count: {ROWS} of {ROWS} rows fail greater_than_or_equal_to(0)"),
    "a null in a feature": (replace("following_count", first_row(None)),
                            f"following_count: 1 of {ROWS} rows fail not null"),
    "NaN in the ratio": (replace("follower_following_ratio", first_row(float("nan"))),
                         f"follower_following_ratio: 1 of {ROWS} rows fail finite; "
                         f"follower_following_ratio: 1 of {ROWS} rows fail greater_than_or_equal_to(0)"),
    "an infinite ratio": (replace("follower_following_ratio", first_row(float("inf"))),
                          f"follower_following_ratio: 1 of {ROWS} rows fail finite"),
    "a label outside the domain": (replace("label", first_row(2)), f"label: 1 of {ROWS} rows fail isin([0, 1])"),
    "a flag that is no flag": (replace("is_private", first_row(2)), f"is_private: 1 of {ROWS} rows fail isin([0, 1])"),
    "an unknown username type": (replace("username_type", first_row(4)),
                                 f"username_type: 1 of {ROWS} rows fail isin([0, 1, 2, 3])"),
    "an unknown archive setting": (replace("reel_auto_archive", first_row(3)),
                                   f"reel_auto_archive: 1 of {ROWS} rows fail isin([0, 1, 2])"),
    "a count of the wrong type": (replace("follower_count", lambda c: pc.cast(c, pa.float64())),
                                  "follower_count: type double, expected int64"),
    "a count as text": (replace("follower_count", lambda c: pc.cast(c, pa.string())),
                        "follower_count: type string, expected int64"),
    "a label of the wrong type": (replace("label", lambda c: pc.cast(c, pa.int16())),
                                  "label: type int16, expected int8"),
    "a profile twice": (lambda t: pa.concat_tables([t, t.slice(0, 1)]), f"pk: 2 of {ROWS + 1} rows fail unique"),
    "pk 0": (replace("pk", first_row(0)), f"pk: 1 of {ROWS} rows fail greater_than(0)"),
    "columns moved": (lambda t: t.select(["label", "pk", *t.column_names[2:]]),
                      "columns out of order (expected pk, label, " + ", ".join(features.feature_names("seed16")) + ")"),
    "three rules and more": (
        lambda t: replace("label", first_row(5))(replace("media_count", first_row(-3))(
            replace("usertags_count", first_row(-1))(t.drop_columns(["is_verified"])))),
        f"is_verified: column missing; label: 1 of {ROWS} rows fail isin([0, 1]); "
        f"media_count: 1 of {ROWS} rows fail greater_than_or_equal_to(0); and 1 more"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_table_stops_with_one_line_naming_the_column_and_the_rule(featurized, case):
    breaks, expected = BROKEN[case]
    with pytest.raises(InputError) as caught:
        features_schema.check(breaks(featurized), "seed16", WHERE)
    assert str(caught.value) == f"{WHERE}: {expected}"


def test_the_table_featurize_writes_fits_and_every_follower_count_0_is_drift_not_a_schema_error(featurized):
    features_schema.check(featurized, "seed16", WHERE)
    # Each row is a possible profile; that every one has no followers is for the drift stage to flag.
    features_schema.check(replace("follower_count", lambda c: [0] * len(c))(featurized), "seed16", WHERE)


@pytest.mark.parametrize("feature_set", features.FEATURE_SETS)
def test_the_schemas_columns_are_exactly_pk_label_and_the_feature_set(feature_set):
    schema = features_schema.schema(feature_set)
    assert list(schema.columns) == ["pk", "label", *features.feature_names(feature_set)]
    types = {name: str(column.dtype) for name, column in schema.columns.items()}
    assert types == {"pk": "int64[pyarrow]", "label": "int8[pyarrow]",
                     **{f.name: f"{f.dtype}[pyarrow]" for f in features.FEATURE_SETS[feature_set]}}
    assert not any(column.nullable for column in schema.columns.values())


def test_pk_and_label_are_the_labelled_tables_fields():
    # featurize copies both from the labelled table; the features schema states them without importing it.
    assert LABELLED_SCHEMA.field("pk") == features_schema.PK
    assert LABELLED_SCHEMA.field("label") == features_schema.LABEL


def test_a_follower_list_table_is_checked_against_its_own_set(labelled):
    table = features.featurize(labelled, "follower_list")
    features_schema.check(table, "follower_list", WHERE)
    with pytest.raises(InputError, match=r"^x: username_length: column missing; username_digits: column missing"):
        features_schema.check(table.drop_columns(["username_length", "username_digits"]), "follower_list", "x")
    with pytest.raises(InputError, match=r"^x: username_length: column missing; username_digits: column missing; "
                                         r"biography_parts: column not in the schema; and 7 more$"):
        features_schema.check(features.featurize(labelled, "seed16"), "follower_list", "x")
