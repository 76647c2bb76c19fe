"""Table schemas, declared once with pandera: what every row of a pipeline table may hold.

Each table's columns, their Arrow types and their nullability come from the table's owner (the labelled
table's Arrow ``SCHEMA``, :data:`pipeline.features.FEATURE_SETS`); its schema module here adds the rules
no Arrow type states: ranges, domains, uniqueness (:mod:`.labelled`, :mod:`.features`). A stage calls
:func:`validate` on what it reads or writes; a table that breaks a rule stops it with one line naming the
file, the column, the rule and how many rows break it. The schema only checks: it never changes a table.

The rules are about single rows (and a key's uniqueness). A column that is valid row by row but no longer
looks like the data the model was trained on (every ``follower_count`` 0, a shifted class mix) is drift,
which the ``validate`` stage measures against a reference.

Tables are checked as pandas frames of Arrow-backed columns (``pd.ArrowDtype``), so the dtype checked is
the Arrow type itself (an int16 where int8 belongs fails) and an Arrow null is a null. A float NaN is a
value, not a null, to Arrow: the ``finite`` rule catches it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pdr
import pyarrow as pa

from pipeline.core import paths
from pipeline.core.errors import InputError
from pipeline.core.vocabulary import LABEL_VALUE

# At most this many broken rules in the one line; the rest are counted.
_SHOWN = 3


def _finite(series: pd.Series) -> pd.Series:
    return pd.Series(np.isfinite(series.to_numpy(dtype=np.float64, na_value=0.0)), index=series.index)


# A float's values: a number (no NaN, no infinity).
FINITE = pdr.Check(_finite, name="finite")
# A count, a length or a code: never negative.
NOT_NEGATIVE = pdr.Check.ge(0)
# A profile's key: Instagram's pk, positive (records.normalize_user refuses 0); the ``unique`` of the column
# says one row per profile.
KEY = pdr.Check.gt(0)
# The label's (and the truth's) values: the vocabulary's coding of the classes.
LABEL_DOMAIN = pdr.Check.isin(sorted(LABEL_VALUE.values()))


def column(field: pa.Field, checks: Sequence[pdr.Check] = (), unique: bool = False) -> pdr.Column:
    """A pandera column of ``field``'s Arrow type and nullability, with ``checks`` on its values."""
    return pdr.Column(pd.ArrowDtype(field.type), list(checks), nullable=field.nullable, unique=unique,
                      name=field.name)


def table_schema(name: str, columns: Sequence[pdr.Column]) -> pdr.DataFrameSchema:
    """Exactly ``columns``, in that order: a missing, extra (a renamed one is both) or moved column fails."""
    return pdr.DataFrameSchema({c.name: c for c in columns}, name=name, strict=True, ordered=True)


def validate(table: pa.Table, schema: pdr.DataFrameSchema, where: object) -> None:
    """Stop (:class:`InputError`, one line) unless every row of ``table`` keeps every rule of ``schema``."""
    frame = table.to_pandas(types_mapper=pd.ArrowDtype)
    try:
        schema.validate(frame, lazy=True)
    except pdr.errors.SchemaErrors as exc:
        problems = _describe(exc.failure_cases, schema, frame)
        more = f"; and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else ""
        shown = paths.shown(where) if isinstance(where, Path) else where
        raise InputError(f"{shown}: {'; '.join(problems[:_SHOWN])}{more}") from None


def _describe(failures: pd.DataFrame, schema: pdr.DataFrameSchema, frame: pd.DataFrame) -> list[str]:
    """One phrase per broken rule (column first), table-wide ones first, then in the schema's column order."""
    order = {name: i for i, name in enumerate(schema.columns)}
    found: dict[tuple[str, str], list[object]] = {}
    for row in failures.itertuples(index=False):
        if row.check == "column_ordered":  # one phrase for the whole order, not one per moved column
            found.setdefault(("", "column_ordered"), []).append(None)
        elif row.schema_context == "DataFrameSchema":  # about the table's columns: the failure case names one
            found.setdefault((str(row.failure_case), str(row.check)), []).append(None)
        else:
            found.setdefault((str(row.column), str(row.check)), []).append(row.index)
    # A column of the wrong type is reported as that alone: its value checks mean nothing, and a check that
    # raised on it (a string compared with 0) has no rows to count.
    mistyped = {name for name, check in found if check.startswith("dtype(")}
    found = {(name, check): cases for (name, check), cases in found.items()
             if name not in mistyped or check.startswith("dtype(")}
    table_wide = {"column_in_dataframe": 0, "column_in_schema": 1, "column_ordered": 2}

    def rank(key: tuple[str, str]) -> tuple[int, int]:
        name, check = key
        return (0, table_wide[check]) if check in table_wide else (1, order.get(name, len(order)))

    return [_phrase(name, check, cases, schema, frame) for (name, check), cases in
            sorted(found.items(), key=lambda item: rank(item[0]))]


def _phrase(name: str, check: str, cases: list[object], schema: pdr.DataFrameSchema, frame: pd.DataFrame) -> str:
    if check == "column_in_dataframe":
        return f"{name}: column missing"
    if check == "column_in_schema":
        return f"{name}: column not in the schema"
    if check == "column_ordered":
        return f"columns out of order (expected {', '.join(schema.columns)})"
    if check.startswith("dtype("):
        return f"{name}: type {_arrow_name(frame[name].dtype)}, expected {_arrow_name(schema.columns[name].dtype.type)}"
    rule = {"field_uniqueness": "unique", "not_nullable": "not null"}.get(check, check)
    return f"{name}: {len(set(map(str, cases)))} of {len(frame)} rows fail {rule}"


def _arrow_name(dtype: object) -> str:
    """``int8[pyarrow]`` -> ``int8``: the Arrow type's name, as the Arrow schemas spell it."""
    return str(dtype).removesuffix("[pyarrow]")

