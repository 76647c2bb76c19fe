"""The vectorised features (``compute_batch``) at the edges: buffer ends, huge counts, no-follow accounts,
the row-wise fallback, and the tables they are built from; expected values by hand or from the row-wise form."""

from __future__ import annotations

import warnings

import numpy as np
import pyarrow as pa
import pytest

from pipeline import features
from pipeline.features import count_parts
from tests.test_features import ADVERSARIAL_TEXTS, USER

EDGES = [["a.b"], [""], ["", ""], ["a", ""], ["", "a"], ["x\u3000"], ["a", "b\u3000"], ["a\x85"], ["\u2029"],
         [" ", "a"], ["a_b", "", "c d", ""], ["\u3000a"], ["é", "\u2028"]]


@pytest.mark.parametrize("texts", EDGES)
@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
def test_parts_are_counted_at_every_edge_of_the_buffer(texts, kind):
    """A separator as the buffer's last character, an empty string first or last, a one-string array."""
    got = features.count_parts_array(pa.array(texts, kind))
    assert got.to_pylist() == [count_parts(t) for t in texts] and got.type == pa.int64()


def test_parts_of_a_slice_from_the_middle_of_a_large_string_array():
    arr = pa.array(ADVERSARIAL_TEXTS, pa.large_string())
    assert features.count_parts_array(arr.slice(7, 9)).to_pylist() == [count_parts(t) for t in ADVERSARIAL_TEXTS[7:16]]
    assert features.count_parts_array(arr.slice(3, 0)).to_pylist() == []


def test_the_separator_byte_tables_are_the_utf8_of_the_separators():
    """By hand: the one-byte separators are \\t-\\r, \\x1c-\\x20, '.' and '_'; the others' UTF-8, in order."""
    one_byte, longer = features._separator_bytes()
    assert one_byte.shape == (256,) and one_byte.dtype == bool
    assert np.flatnonzero(one_byte).tolist() == [9, 10, 11, 12, 13, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x2E, 0x5F]
    multi = ["\x85", "\xa0", "\u1680", *map(chr, range(0x2000, 0x200B)), "\u2028", "\u2029", "\u202f", "\u205f",
             "\u3000"]
    assert longer == tuple(c.encode("utf-8") for c in multi)


def test_flags_are_cast_to_int8():
    got = features._flag("is_private")(pa.table({"is_private": [True, False, True]}))
    assert got.to_pylist() == [1, 0, 1] and got.type == pa.int8()


def test_ratios_of_accounts_following_no_one_are_zero_without_a_warning_and_huge_counts_divide_exactly():
    batch = pa.table({"follower_count": [0, 5, 2**53 + 1, 3, 2**53], "following_count": [0, 0, 3, 2**53 + 1, 7]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = features._ratios(batch)
    # Python's int / int is the correctly rounded quotient; float64 division of the rounded counts is not.
    assert got.tolist() == [0.0, 0.0, (2**53 + 1) / 3, 3 / (2**53 + 1), 2**53 / 7]
    assert float(2**53 + 1) / 3.0 != (2**53 + 1) / 3


def test_the_follower_list_set_in_a_batch_takes_the_row_wise_features_where_there_is_no_vectorised_one():
    entries = [{"username": "farm_0042.x", "full_name": "Zoë Ann", "is_private": False, "is_verified": True,
                "has_anonymous_profile_picture": True},
               {"username": "maya٣", "full_name": "", "is_private": True, "is_verified": False,
                "has_anonymous_profile_picture": False}]
    got = features.compute_batch(pa.Table.from_pylist(entries), "follower_list")
    assert got.to_pylist() == [
        {"username_type": 1, "username_parts": 3, "full_name_length": 7, "full_name_parts": 2,
         "full_name_question_marks": 1, "is_private": 0, "is_verified": 1, "has_anonymous_profile_picture": 1,
         "username_length": 11, "username_digits": 4},
        {"username_type": 3, "username_parts": 1, "full_name_length": 0, "full_name_parts": 0,
         "full_name_question_marks": 0, "is_private": 1, "is_verified": 0, "has_anonymous_profile_picture": 0,
         "username_length": 5, "username_digits": 1},
    ]
    assert got.schema == features.compute(entries, "follower_list").schema
    assert got.schema.field("username_length").type == pa.int16()


def test_featurize_computes_the_set_it_is_asked_for():
    labelled = pa.Table.from_pylist([USER | {"label": 1}])
    table = features.featurize(labelled, "follower_list")
    assert table.column_names == ["pk", "label", *features.feature_names("follower_list")]
    assert table.column("username_length").to_pylist() == [9]


def test_the_feature_spec_by_hand():
    spec = features.spec("follower_list")
    assert set(spec) == {"feature_set", "features", "input_dtype", "label"}
    assert (spec["feature_set"], spec["input_dtype"]) == ("follower_list", "float32")
    assert spec["label"] == {"name": "label", "authentic": 1, "fake": 0}
    assert spec["features"][-1] == {"index": 9, "name": "username_digits", "dtype": "int16",
                                    "description": "digits in username", "heavy_tailed": False}
    assert spec["features"][0] == {"index": 0, "name": "username_type", "dtype": "int8",
                                   "description": "username regex type 0-3", "heavy_tailed": False}


def test_every_column_has_its_features_type_row_wise_and_vectorised():
    table = pa.Table.from_pylist([USER, USER | {"username": "4x", "following_count": 0}])
    for got in (features.compute(table.to_pylist()), features.compute_batch(table)):
        assert [c.type for c in got.columns] == [f.dtype for f in features.SEED16]
    entries = features.compute_batch(table, "follower_list")
    assert [c.type for c in entries.columns] == [f.dtype for f in features.FOLLOWER_LIST]
    types = features.username_types(pa.array(["maya.lind", "4x", "maya"]))
    assert types.type == pa.int8() and types.to_pylist() == [1, 0, 3]
