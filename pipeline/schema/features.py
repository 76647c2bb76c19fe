"""The features table's schema (``data/features/features.parquet``): ``pk``, ``label``, then a feature set.

The columns and their Arrow types are the feature set's (:data:`pipeline.features.FEATURE_SETS`), so a
feature added there is checked here with no second list. The rules: every feature is non-null; a code or
a flag (:attr:`~pipeline.features.Feature.codes`) takes one of its codes; any other integer feature (a
count, a length, a number of parts) is >= 0; a float feature (the follower/following ratio) is finite and
>= 0. ``pk`` is a profile's key, ``label`` the vocabulary's coding of the classes.
"""

from __future__ import annotations

import functools

import pandera.pandas as pdr
import pyarrow as pa

from pipeline import features
from pipeline.instagram.records import USER_SCHEMA
from pipeline.schema import FINITE, KEY, LABEL_DOMAIN, NOT_NEGATIVE, column, table_schema, validate

# featurize copies these two fields from the labelled table (pipeline.labelling.table.SCHEMA); a test
# holds them equal to it, so train can check the features without depending on the labelling package.
PK = USER_SCHEMA.field("pk")
LABEL = pa.field("label", pa.int8(), nullable=False)


def _checks(feature: features.Feature) -> list[pdr.Check]:
    if feature.codes is not None:
        return [pdr.Check.isin(list(feature.codes))]
    if pa.types.is_floating(feature.dtype):
        return [FINITE, NOT_NEGATIVE]
    return [NOT_NEGATIVE]


@functools.cache
def schema(feature_set: str) -> pdr.DataFrameSchema:
    """The features table of ``feature_set``, as :func:`pipeline.features.featurize` writes it."""
    return table_schema(f"features ({feature_set})", [
        column(PK, [KEY], unique=True),
        column(LABEL, [LABEL_DOMAIN]),
        *(column(pa.field(f.name, f.dtype, nullable=False), _checks(f)) for f in features.FEATURE_SETS[feature_set]),
    ])


def check(table: pa.Table, feature_set: str, where: object) -> None:
    """Stop with one line naming ``where``, the column, the rule and the rows, unless ``table`` fits."""
    validate(table, schema(feature_set), where)
