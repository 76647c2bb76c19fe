"""Features, defined once: training, evaluation, export and prediction all call :func:`compute`.

The feature set ``seed16`` is the article's 16 factors, in the article's order; ``follower_list`` is what
can be computed from a follower list's entry alone (the audit's list-only model). Every feature is a
function of one user-info record; :data:`FEATURE_SETS` maps a set's name to its ordered features.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.core.vocabulary import LABEL_VALUE
from pipeline.instagram.records import REEL_AUTO_ARCHIVE

_SPLIT = re.compile(r"[_.\s]+")
# Tried in order, anchored at the start of the lower-cased username, as the article's regexes were.
_USERNAME_TYPES = (
    (1, re.compile(r"[a-z]+[._][a-z0-9]+")),
    (2, re.compile(r"[a-z]+[._]?[0-9]+")),
    (3, re.compile(r"[a-z]+")),
)


def username_type(username: str) -> int:
    """1: letters, ``.``/``_``, letters or digits; 2: letters, optional ``.``/``_``, digits;
    3: starts with letters; 0: anything else."""
    lowered = username.lower()
    for code, pattern in _USERNAME_TYPES:
        if pattern.match(lowered):
            return code
    return 0


def count_parts(text: str) -> int:
    """Number of non-empty parts of ``text`` split on ``_``, ``.`` or whitespace."""
    return sum(1 for part in _SPLIT.split(text) if part)


def count_question_marks(text: str) -> int:
    """``?`` in ``text`` once encoded to ASCII with replacement, as the article's tool stored names:
    literal question marks plus every non-ASCII character (emoji, accents)."""
    return text.encode("ascii", errors="replace").count(b"?")


@dataclass(frozen=True)
class Feature:
    name: str
    dtype: pa.DataType
    compute: Callable[[Mapping[str, Any]], float]
    doc: str
    # Heavy-tailed counts (followers run from 0 to tens of millions): the model sees log1p of them.
    heavy_tailed: bool = False


def _ratio(user: Mapping[str, Any]) -> float:
    following = user["following_count"]
    return user["follower_count"] / following if following else 0.0


SEED16: tuple[Feature, ...] = (
    Feature("username_type", pa.int8(), lambda u: username_type(u["username"]), "username regex type 0-3"),
    Feature("username_parts", pa.int16(), lambda u: count_parts(u["username"]), "parts of username"),
    Feature("full_name_length", pa.int16(), lambda u: len(u["full_name"]), "characters in full_name"),
    Feature("full_name_parts", pa.int16(), lambda u: count_parts(u["full_name"]), "parts of full_name"),
    Feature("full_name_question_marks", pa.int16(), lambda u: count_question_marks(u["full_name"]),
            "non-ASCII characters and '?' in full_name"),
    Feature("biography_parts", pa.int16(), lambda u: count_parts(u["biography"]), "parts of biography"),
    Feature("biography_question_marks", pa.int16(), lambda u: count_question_marks(u["biography"]),
            "non-ASCII characters and '?' in biography"),
    Feature("follower_following_ratio", pa.float64(), _ratio, "follower_count / following_count, 0 if none",
            heavy_tailed=True),
    Feature("follower_count", pa.int64(), lambda u: u["follower_count"], "followers", heavy_tailed=True),
    Feature("following_count", pa.int64(), lambda u: u["following_count"], "accounts followed", heavy_tailed=True),
    Feature("media_count", pa.int64(), lambda u: u["media_count"], "posts", heavy_tailed=True),
    Feature("usertags_count", pa.int64(), lambda u: u["usertags_count"], "posts tagging the profile",
            heavy_tailed=True),
    Feature("is_private", pa.int8(), lambda u: int(u["is_private"]), "1 if private"),
    Feature("is_verified", pa.int8(), lambda u: int(u["is_verified"]), "1 if verified"),
    Feature("has_anonymous_profile_picture", pa.int8(), lambda u: int(u["has_anonymous_profile_picture"]),
            "1 if the default picture"),
    Feature("reel_auto_archive", pa.int8(),
            lambda u: REEL_AUTO_ARCHIVE.index(u.get("reel_auto_archive") or "unset"),
            "story archive setting: 0 unset, 1 on, 2 off"),
)

# What a follower list carries about each follower (username, full name, private, verified, default
# picture: ``Profile.short()`` in the simulator, the same in the API), so an audit can score every
# follower without one profile request each. The seed16 features of those fields, plus two the counts
# no longer stand in for: how long the username is and how many digits it holds (farms number their
# accounts).
FOLLOWER_LIST: tuple[Feature, ...] = (
    *(f for f in SEED16 if f.name in ("username_type", "username_parts", "full_name_length", "full_name_parts",
                                      "full_name_question_marks", "is_private", "is_verified",
                                      "has_anonymous_profile_picture")),
    Feature("username_length", pa.int16(), lambda u: len(u["username"]), "characters in username"),
    Feature("username_digits", pa.int16(), lambda u: sum(c.isdigit() for c in u["username"]),
            "digits in username"),
)

FEATURE_SETS: dict[str, tuple[Feature, ...]] = {"seed16": SEED16, "follower_list": FOLLOWER_LIST}


def feature_names(feature_set: str) -> list[str]:
    return [f.name for f in FEATURE_SETS[feature_set]]


def compute(users: Iterable[Mapping[str, Any]], feature_set: str = "seed16") -> pa.Table:
    """One row per user-info record, one typed column per feature, in the set's order."""
    features = FEATURE_SETS[feature_set]
    users = list(users)
    return pa.table(
        {f.name: pa.array([f.compute(u) for u in users], type=f.dtype) for f in features},
        schema=pa.schema([pa.field(f.name, f.dtype, nullable=False) for f in features]),
    )


def featurize(labelled: pa.Table, feature_set: str) -> pa.Table:
    """``pk`` and ``label`` of the labelled table beside the computed features, row for row."""
    computed = compute(labelled.to_pylist(), feature_set)
    columns = [labelled.column("pk"), labelled.column("label"), *computed.columns]
    schema = pa.schema([labelled.schema.field("pk"), labelled.schema.field("label"), *computed.schema])
    return pa.Table.from_arrays(columns, schema=schema)


def heavy_tailed_columns(feature_set: str) -> list[int]:
    """Indices of the set's heavy-tailed count features, which the model log-scales."""
    return [i for i, f in enumerate(FEATURE_SETS[feature_set]) if f.heavy_tailed]


def to_matrix(table: pa.Table, feature_set: str = "seed16") -> np.ndarray:
    """The model's input: the set's columns, in order, as float32."""
    return np.column_stack(
        [table.column(name).to_numpy().astype(np.float32) for name in feature_names(feature_set)]
    )


def spec(feature_set: str = "seed16") -> dict[str, Any]:
    """The feature spec written beside the Parquet file: what a consumer of the model must feed it."""
    return {
        "feature_set": feature_set,
        "features": [
            {"index": i, "name": f.name, "dtype": str(f.dtype), "description": f.doc,
             "heavy_tailed": f.heavy_tailed}
            for i, f in enumerate(FEATURE_SETS[feature_set])
        ],
        "input_dtype": "float32",
        "label": {"name": "label", **LABEL_VALUE},
    }
