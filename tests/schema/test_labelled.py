"""The labelled table's schema: its columns are the Arrow SCHEMA's, and each broken table stops with one line
naming the column, the rule and the rows (the expected lines are written out by hand)."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pandera.engines.pandas_engine import Engine

from pipeline.core.errors import InputError
from pipeline.labelling.table import SCHEMA
from pipeline.schema import labelled as labelled_schema
from tests.schema.conftest import ROWS
from tests.schema.test_features import first_row, replace

WHERE = "data/interim/labelled.parquet"
pdr_dtype = Engine.dtype

BROKEN = {
    "a column renamed": (lambda t: t.rename_columns(["class" if n == "label" else n for n in t.column_names]),
                         "label: column missing; class: column not in the schema"),
    "a column missing": (lambda t: t.drop_columns(["truth"]), "truth: column missing"),
    "a label outside the domain": (replace("label", first_row(3)), f"label: 1 of {ROWS} rows fail isin([0, 1])"),
    "a truth outside the domain": (replace("truth", first_row(-1)), f"truth: 1 of {ROWS} rows fail isin([0, 1])"),
    "a null label": (replace("label", first_row(None)), f"label: 1 of {ROWS} rows fail not null"),
    "a negative count": (replace("following_count", first_row(-5)),
                         f"following_count: 1 of {ROWS} rows fail greater_than_or_equal_to(0)"),
    "an empty username": (replace("username", lambda c: [""] * len(c)),
                          f"username: {ROWS} of {ROWS} rows fail str_length(1, 32767)"),
    "a text too long to count": (replace("biography", first_row("x" * 2**15)),
                                 f"biography: 1 of {ROWS} rows fail str_length(None, 32767)"),
    "an unknown archive setting": (replace("reel_auto_archive", first_row("sometimes")),
                                   f"reel_auto_archive: 1 of {ROWS} rows fail isin(['unset', 'on', 'off'])"),
    "a negative account type": (replace("account_type", first_row(-1)),
                                f"account_type: 1 of {ROWS} rows fail in_range(0, 127)"),
    "a flag as an integer": (replace("is_private", lambda c: pc.cast(c, pa.int8())),
                             "is_private: type int8, expected bool"),
    "a profile twice": (lambda t: pa.concat_tables([t.slice(0, 2), t]), f"pk: 4 of {ROWS + 2} rows fail unique"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_table_stops_with_one_line_naming_the_column_and_the_rule(labelled, case):
    breaks, expected = BROKEN[case]
    with pytest.raises(InputError) as caught:
        labelled_schema.check(breaks(labelled), WHERE)
    assert str(caught.value) == f"{WHERE}: {expected}"


def test_the_table_join_makes_fits_and_truth_and_account_type_may_be_null(labelled):
    labelled_schema.check(labelled, WHERE)
    unknown = replace("account_type", lambda c: [None] * len(c))(replace("truth", lambda c: [None] * len(c))(labelled))
    labelled_schema.check(unknown, WHERE)


def test_the_schemas_columns_types_and_nulls_are_the_arrow_schemas():
    columns = labelled_schema.schema().columns
    assert [(name, c.nullable) for name, c in columns.items()] == [(f.name, f.nullable) for f in SCHEMA]
    for f in SCHEMA:  # the type each column is checked for is the Arrow field's
        assert columns[f.name].dtype.check(pdr_dtype(pd.ArrowDtype(f.type))), f.name
        assert not columns[f.name].dtype.check(pdr_dtype(pd.ArrowDtype(pa.large_string()))), f.name
    assert {name for name, c in columns.items() if c.nullable} == {"truth", "account_type"}
