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


def test_the_follower_list_set_is_what_a_list_entry_carries_plus_the_usernames_length_and_digits():
    """The list-only model's features by hand: "farm_0042.x" is 11 characters with 4 digits (type 1, 3 parts),
    "Zoë Ann" 7 characters with one non-ASCII; digits as str.isdigit counts them, so "٣" (Arabic-Indic three)
    counts too."""
    entry = {"username": "farm_0042.x", "full_name": "Zoë Ann", "is_private": False, "is_verified": True,
             "has_anonymous_profile_picture": True}
    other = {**entry, "username": "maya٣", "full_name": ""}
    table = features.compute([entry, other], "follower_list")
    assert table.to_pylist() == [
        {"username_type": 1, "username_parts": 3, "full_name_length": 7, "full_name_parts": 2,
         "full_name_question_marks": 1, "is_private": 0, "is_verified": 1, "has_anonymous_profile_picture": 1,
         "username_length": 11, "username_digits": 4},
        {"username_type": 3, "username_parts": 1, "full_name_length": 0, "full_name_parts": 0,
         "full_name_question_marks": 0, "is_private": 0, "is_verified": 1, "has_anonymous_profile_picture": 1,
         "username_length": 5, "username_digits": 1},
    ]
    assert [f.dtype for f in features.FOLLOWER_LIST][-2:] == [pa.int16(), pa.int16()]
    np.testing.assert_array_equal(features.to_matrix(table, "follower_list")[0],
                                  np.array([1, 3, 7, 2, 1, 0, 1, 1, 11, 4], np.float32))


def test_the_heavy_tailed_features_are_the_five_counts_and_nothing_a_list_entry_carries():
    """The model log-scales these: the ratio and the four counts (seed16 columns 7-11), none of the flags,
    lengths or part counts, and none of the follower_list set."""
    assert features.heavy_tailed_columns("seed16") == [7, 8, 9, 10, 11]
    assert [features.feature_names("seed16")[i] for i in (7, 8, 9, 10, 11)] == [
        "follower_following_ratio", "follower_count", "following_count", "media_count", "usertags_count"]
    assert features.heavy_tailed_columns("follower_list") == []
    assert [f["heavy_tailed"] for f in features.spec("seed16")["features"]] == [i in range(7, 12) for i in range(16)]
    assert not any(f["heavy_tailed"] for f in features.spec("follower_list")["features"])


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


# -- the vectorised path (igfake score) is the same features ---------------------------------------------

# Every Unicode scalar value (no surrogates: UTF-8 and Arrow cannot hold them; validation refuses them).
CODE_POINTS = [chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000]


def test_the_spelled_out_separators_are_pythons_underscore_dot_and_whitespace():
    import re

    joined = "".join(CODE_POINTS)
    expected = set(re.findall(r"[_.\s]", joined))
    spelled = {chr(c) for a, b in features.SEPARATOR_RANGES for c in range(a, b + 1)}
    assert spelled == expected


def test_the_lower_case_table_is_every_non_ascii_character_str_lower_makes_ascii():
    derived = {c: low for c, low in zip(CODE_POINTS, map(str.lower, CODE_POINTS), strict=True)
               if low != c and not c.isascii() and any(ch.isascii() for ch in low)}
    assert derived == features.LOWER_TO_ASCII


def test_vectorised_string_features_equal_the_row_wise_ones_on_every_code_point():
    import pyarrow.compute as pc

    # Each code point at a username's start (where lower-casing decides the type), between two letters
    # (a separator or not) and twice (each non-ASCII one is two question marks).
    texts = [f"{c}a{c}1" for c in CODE_POINTS]
    arr = pa.array(texts)
    assert features.username_types(arr).to_pylist() == [username_type(t) for t in texts]
    assert features.count_parts_array(arr).to_pylist() == [count_parts(t) for t in texts]
    assert features.count_question_marks_array(arr).to_pylist() == [count_question_marks(t) for t in texts]
    assert pc.utf8_length(arr).to_pylist() == [len(t) for t in texts]


ADVERSARIAL_TEXTS = [
    "", " ", "?", "??", "_", "._ ", "a", "a b", " a ", "__a__b__", "Maya.Lind_92", "İstanbul", "\u212aelvin",
    "Zoë ✨ Lind?", "👩‍👩‍👧 family", "e\u0301", "\u200b\u200bzero width", "\u2028line\u2029para", "\x00nul",
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0", "١٢٣", "🔥" * 5000, "a." * 8000, "x" * 32767, "\U0010ffff",
]


@pytest.mark.parametrize("fn,vectorised", [
    (username_type, features.username_types), (count_parts, features.count_parts_array),
    (count_question_marks, features.count_question_marks_array)])
def test_vectorised_string_features_on_adversarial_strings_and_slices(fn, vectorised):
    arr = pa.array(ADVERSARIAL_TEXTS)
    assert vectorised(arr).to_pylist() == [fn(t) for t in ADVERSARIAL_TEXTS]
    # An Arrow slice (a batch cut from a bigger one) has offsets that do not start at 0.
    assert vectorised(arr.slice(7, 9)).to_pylist() == [fn(t) for t in ADVERSARIAL_TEXTS[7:16]]
    assert vectorised(pa.chunked_array([arr.slice(0, 3), arr.slice(3)])).to_pylist() == [
        fn(t) for t in ADVERSARIAL_TEXTS]


def _training_table():
    """The table featurize reads, built as label-import builds it from a simulated crawl."""
    from pipeline.instagram.records import normalize_user
    from pipeline.instagram.world import World
    from pipeline.labelling.table import join

    world = World(seed=11, seed_usernames=("a.one", "b_two"), accounts_per_seed=400, mistake_rate=0.03)
    users = [normalize_user(world.profiles[pk].user) for pk in sorted(world.profiles)]
    table, _ = join(users, world.labels(), {}, "simulator")
    return table


def test_compute_batch_equals_the_training_features_of_the_training_table():
    table = _training_table()
    trained = features.featurize(table, "seed16")
    batch = features.compute_batch(table, "seed16")
    assert batch.schema == trained.select(features.feature_names("seed16")).schema
    assert batch.equals(trained.select(features.feature_names("seed16")))
    np.testing.assert_array_equal(features.to_matrix(batch), features.to_matrix(trained))


def test_compute_batch_equals_compute_on_adversarial_records_and_huge_counts():
    from pipeline.instagram.records import normalize_batch, normalize_user

    records = [dict(USER, pk=i + 1, username=t or "u", full_name=t, biography=t[::-1])
               for i, t in enumerate(ADVERSARIAL_TEXTS)]
    records += [dict(USER, pk=100, full_name=None, biography=None),  # None texts read as ""
                dict(USER, pk=101, follower_count=2**63 - 1, following_count=3),  # beyond float64's exact ints
                dict(USER, pk=102, follower_count=2**53 + 1, following_count=2**53 + 3),
                dict(USER, pk=103, follower_count=5, following_count=0)]
    expected = features.compute([normalize_user(r) for r in records])
    good, bad = normalize_batch(pa.Table.from_pylist(records))
    assert bad == []
    assert features.compute_batch(good).equals(expected)
    ratio = features.compute_batch(good).column("follower_following_ratio").to_pylist()
    assert ratio[-3] == (2**63 - 1) / 3 and ratio[-1] == 0.0
