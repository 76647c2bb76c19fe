import json

import numpy as np
import pyarrow as pa
import pytest

from pipeline import features
from pipeline.features import count_parts, count_question_marks, username_type


@pytest.mark.parametrize(
    ("username", "expected"),
    [
        ("maya.lind", 1), ("maya_92", 1), ("Maya.Lind", 1),  # letters, separator, letters/digits
        ("maya1992", 2),  # letters then digits
        ("maya", 3), ("maya._x", 3), ("maya_", 3),  # starts with letters, nothing more that 1/2 match
        ("_maya", 0), ("1maya", 0), (".maya", 0),
    ],
)
def test_username_type_follows_the_article_regexes_in_order(username, expected):
    assert username_type(username) == expected


def test_parts_split_on_dot_underscore_and_whitespace():
    assert count_parts("maya.lind_92") == 3
    assert count_parts("  coffee  &\ttravel\nberlin ") == 4
    assert count_parts("") == 0
    assert count_parts("__..") == 0


def test_question_marks_count_non_ascii_like_the_article():
    assert count_question_marks("Maya ✨ Lind?") == 2
    assert count_question_marks("Zoë") == 1
    assert count_question_marks("plain") == 0


USER = {
    "pk": 7, "username": "maya.lind", "full_name": "Maya ✨", "biography": "coffee. travel?",
    "follower_count": 300, "following_count": 150, "media_count": 12, "usertags_count": 3,
    "is_private": True, "is_verified": False, "has_anonymous_profile_picture": False,
    "reel_auto_archive": "off",
}


def test_seed16_computes_the_article_features_in_order():
    table = features.compute([USER, USER | {"following_count": 0, "reel_auto_archive": "unset"}])
    assert table.column_names == features.feature_names("seed16")
    assert len(table.column_names) == 16
    row = table.to_pylist()[0]
    assert row == {
        "username_type": 1, "username_parts": 2, "full_name_length": 6, "full_name_parts": 2,
        "full_name_question_marks": 1, "biography_parts": 2, "biography_question_marks": 1,
        "follower_following_ratio": 2.0, "follower_count": 300, "following_count": 150, "media_count": 12,
        "usertags_count": 3, "is_private": 1, "is_verified": 0, "has_anonymous_profile_picture": 0,
        "reel_auto_archive": 2,
    }
    second = table.to_pylist()[1]
    assert second["follower_following_ratio"] == 0.0 and second["reel_auto_archive"] == 0


def test_matrix_and_spec_agree_on_order_and_count():
    table = features.compute([USER])
    matrix = features.to_matrix(table)
    assert matrix.dtype == np.float32 and matrix.shape == (1, 16)
    spec = features.spec()
    assert [f["name"] for f in spec["features"]] == table.column_names
    assert [f["dtype"] for f in spec["features"]] == [str(t) for t in table.schema.types]
    json.dumps(spec)


def test_featurize_keeps_pk_and_label_beside_the_features_row_for_row():
    from pipeline.labelling.table import SCHEMA

    rows = [USER | {"pk": 1, "relationship": "fans", "label": 1, "label_source": "t"},
            USER | {"pk": 2, "username": "_x", "relationship": "fans", "label": 0, "label_source": "t"}]
    table = features.featurize(pa.Table.from_pylist(rows, schema=SCHEMA), "seed16")
    assert table.column_names[:2] == ["pk", "label"]
    assert table.column("pk").to_pylist() == [1, 2]
    assert table.column("username_type").to_pylist() == [1, 0]
    assert table.schema.field("label").type == pa.int8()
