"""The labelled table's schema (``data/interim/labelled.parquet``), over its Arrow ``SCHEMA``.

The columns, their types and which may be null are :data:`pipeline.labelling.table.SCHEMA`'s; the rules
here are what :func:`pipeline.labelling.table.join` and :func:`pipeline.instagram.records.normalize_user`
guarantee of each row: ``pk`` positive and unique, a non-empty username, texts no longer than the
features can count (``MAX_TEXT``), counts >= 0, ``reel_auto_archive`` one of its settings, ``label`` (and
``truth``, where known) the vocabulary's coding, ``account_type`` within its int8 range from 0.
"""

from __future__ import annotations

import functools

import pandera.pandas as pdr
import pyarrow as pa

from pipeline.instagram.records import MAX_TEXT, REEL_AUTO_ARCHIVE, REQUIRED_FIELDS
from pipeline.labelling.table import SCHEMA
from pipeline.schema import KEY, LABEL_DOMAIN, NOT_NEGATIVE, column, table_schema, validate

_TEXT = pdr.Check.str_length(max_value=MAX_TEXT)


def _rules() -> dict[str, list[pdr.Check]]:
    rules: dict[str, list[pdr.Check]] = {name: [NOT_NEGATIVE] for name, tp in REQUIRED_FIELDS.items() if tp is int}
    rules.update({name: [_TEXT] for name, tp in REQUIRED_FIELDS.items() if tp is str})
    rules["pk"] = [KEY]
    rules["username"] = [pdr.Check.str_length(1, MAX_TEXT)]
    rules["reel_auto_archive"] = [pdr.Check.isin(list(REEL_AUTO_ARCHIVE))]
    rules["label"] = rules["truth"] = [LABEL_DOMAIN]
    rules["account_type"] = [pdr.Check.in_range(0, 127)]
    return rules


@functools.cache
def schema() -> pdr.DataFrameSchema:
    """The labelled table, as :func:`pipeline.labelling.table.join` makes it."""
    rules = _rules()
    return table_schema("labelled", [column(f, rules.get(f.name, ()), unique=f.name == "pk") for f in SCHEMA])


def check(table: pa.Table, where: object) -> None:
    """Stop with one line naming ``where``, the column, the rule and the rows, unless ``table`` fits."""
    validate(table, schema(), where)
