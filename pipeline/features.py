"""Features, defined once: training, evaluation, export and prediction all call :func:`compute`.

The feature set ``seed16`` is the article's 16 factors, in the article's order; ``follower_list`` is what
can be computed from a follower list's entry alone (the audit's list-only model). Every feature is a
function of one user-info record; :data:`FEATURE_SETS` maps a set's name to its ordered features.

Batch scoring (``igfake score``) computes the same features a whole Arrow batch at a time
(:func:`compute_batch`): each feature's vectorised form sits beside its row-wise one and shares its
patterns and character sets, so the two cannot drift apart; ``tests/test_features.py`` holds them equal
on every Unicode code point and on the training table. Arrow's regexes are RE2, whose whitespace class and case
folding are ASCII-only where Python's are Unicode: that is why the separators are spelled out below.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core.vocabulary import LABEL_VALUE
from pipeline.instagram.records import REEL_AUTO_ARCHIVE

# What parts are split on: "_", "." and whitespace as Python's ``re`` means ``\s`` (str.isspace), as
# code-point ranges. Written out because RE2's ``\s`` is ASCII-only (no \v, \x1c-\x1f, no-break spaces);
# both regexes below are built from this one tuple, and a test checks it against ``[_.\s]``.
SEPARATOR_RANGES = (
    (0x09, 0x0D), (0x1C, 0x20), (0x2E, 0x2E), (0x5F, 0x5F), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680),
    (0x2000, 0x200A), (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000),
)
_SPLIT = re.compile("[" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in SEPARATOR_RANGES) + "]+")
# Tried in order, anchored at the start of the lower-cased username, as the article's regexes were.
_USERNAME_PATTERNS = ((1, r"[a-z]+[._][a-z0-9]+"), (2, r"[a-z]+[._]?[0-9]+"), (3, r"[a-z]+"))
_USERNAME_TYPES = tuple((code, re.compile(pattern)) for code, pattern in _USERNAME_PATTERNS)
# The non-ASCII characters whose str.lower() holds ASCII (and so can meet the ASCII patterns above):
# Arrow lower-cases ASCII only, so these are replaced first. A test derives the table from str.lower.
LOWER_TO_ASCII = {"\u0130": "i\u0307", "\u212a": "k"}
# What the article's ASCII encoding turned into "?": "?" itself and every non-ASCII code point.
_QUESTION_MARK_RE2 = r"[?\x{80}-\x{10ffff}]"


def username_type(username: str) -> int:
    """1: letters, ``.``/``_``, letters or digits; 2: letters, optional ``.``/``_``, digits;
    3: starts with letters; 0: anything else."""
    lowered = username.lower()
    for code, pattern in _USERNAME_TYPES:
        if pattern.match(lowered):
            return code
    return 0


def username_types(usernames: pa.Array) -> pa.Array:
    """:func:`username_type` of every string of an Arrow array (int8)."""
    if not pc.all(pc.string_is_ascii(usernames)).as_py():
        for special, lowered in LOWER_TO_ASCII.items():
            usernames = pc.replace_substring(usernames, special, lowered)
    usernames = pc.ascii_lower(usernames)
    out = pa.array(np.zeros(len(usernames), np.int8))
    for code, pattern in reversed(_USERNAME_PATTERNS):  # the first pattern that matches wins
        out = pc.if_else(pc.match_substring_regex(usernames, f"^(?:{pattern})"), pa.scalar(code, pa.int8()), out)
    return out


def count_parts(text: str) -> int:
    """Number of non-empty parts of ``text`` split on ``_``, ``.`` or whitespace."""
    return sum(1 for part in _SPLIT.split(text) if part)


def _separator_bytes() -> tuple[np.ndarray, tuple[bytes, ...]]:
    """The separators as UTF-8: a table of the one-byte ones, and the multi-byte sequences."""
    one_byte = np.zeros(256, bool)
    longer = []
    for low, high in SEPARATOR_RANGES:
        for code in range(low, high + 1):
            encoded = chr(code).encode("utf-8")
            if len(encoded) == 1:
                one_byte[encoded[0]] = True
            else:
                longer.append(encoded)
    return one_byte, tuple(longer)


_ONE_BYTE_SEPARATORS, _LONGER_SEPARATORS = _separator_bytes()


def count_parts_array(texts: pa.Array) -> pa.Array:
    """:func:`count_parts` of every string of an Arrow array (of normalised, non-null strings).

    A part starts at each character that is no separator and follows a separator or the string's start;
    they are counted on the UTF-8 bytes with numpy, a pass over the buffer. (RE2 finds the same runs,
    ``pc.count_substring_regex(texts, "[^<separators>]+")``, but pays a call per match: 10x slower.)
    """
    texts = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
    texts = pc.cast(texts, pa.large_string())  # one offset width, whatever came in
    n = len(texts)
    offsets = np.frombuffer(texts.buffers()[1], np.int64)[texts.offset : texts.offset + n + 1]
    data_buffer = texts.buffers()[2]
    if n == 0 or data_buffer is None or offsets[-1] == offsets[0]:
        return pa.array(np.zeros(n, np.int64))
    data = np.frombuffer(data_buffer, np.uint8)[offsets[0] : offsets[-1]]
    bounds = offsets - offsets[0]
    separator = _ONE_BYTE_SEPARATORS[data]
    leads = np.flatnonzero(data >= 0xC0)  # first bytes of multi-byte characters: few in most text
    for sequence in _LONGER_SEPARATORS:
        at = leads[data[leads] == sequence[0]]
        at = at[at + len(sequence) <= len(data)]
        for k in range(1, len(sequence)):
            at = at[data[at + k] == sequence[k]]
        separator[at] = True
    chars = np.flatnonzero((data & 0xC0) != 0x80)  # where each character's first byte is
    starts = np.zeros(len(data) + 1, bool)
    starts[chars] = ~separator[chars] & np.concatenate(([True], separator[chars[:-1]]))
    first = bounds[:-1][bounds[1:] > bounds[:-1]]  # a non-empty string's first byte starts a character
    starts[first] = ~separator[first]
    running = np.concatenate(([0], np.cumsum(starts[:-1], dtype=np.int64)))
    return pa.array(running[bounds[1:]] - running[bounds[:-1]])


def count_question_marks(text: str) -> int:
    """``?`` in ``text`` once encoded to ASCII with replacement, as the article's tool stored names:
    literal question marks plus every non-ASCII character (emoji, accents)."""
    return text.encode("ascii", errors="replace").count(b"?")


def count_question_marks_array(texts: pa.Array) -> pa.Array:
    """:func:`count_question_marks` of every string of an Arrow array."""
    return pc.count_substring_regex(texts, _QUESTION_MARK_RE2)


# Batch = any Arrow batch of normalised user-info columns (a RecordBatch or a Table), indexed by name.
Batch = Any
# Counts at or beyond 2**53 are not all exact as float64, so their ratio is not the exact quotient that
# Python's int / int rounds: those rows (no real profile has them) take the row-wise division.
_EXACT_FLOAT = 2**53


def _ratios(batch: Batch) -> np.ndarray:
    followers = np.asarray(batch["follower_count"], dtype=np.int64)
    following = np.asarray(batch["following_count"], dtype=np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(following > 0, followers.astype(np.float64) / following.astype(np.float64), 0.0)
    for i in np.flatnonzero((followers >= _EXACT_FLOAT) | (following >= _EXACT_FLOAT)):
        out[i] = _ratio({"follower_count": int(followers[i]), "following_count": int(following[i])})
    return out


def _flag(name: str) -> Callable[[Batch], pa.Array]:
    return lambda b: pc.cast(b[name], pa.int8())


@dataclass(frozen=True)
class Feature:
    name: str
    dtype: pa.DataType
    compute: Callable[[Mapping[str, Any]], float]
    doc: str
    # Heavy-tailed counts (followers run from 0 to tens of millions): the model sees log1p of them.
    heavy_tailed: bool = False
    # The same feature of a whole Arrow batch of normalised records (None: computed row by row).
    columns: Callable[[Batch], Any] | None = None
    # A code's or a flag's values, all it can take (pipeline.schema.features checks them); None: a count or
    # a measure, any value from 0 up.
    codes: tuple[int, ...] | None = None


_FLAG = (0, 1)  # a boolean field as an int8 feature


def _ratio(user: Mapping[str, Any]) -> float:
    following = user["following_count"]
    return user["follower_count"] / following if following else 0.0


SEED16: tuple[Feature, ...] = (
    Feature("username_type", pa.int8(), lambda u: username_type(u["username"]), "username regex type 0-3",
            columns=lambda b: username_types(b["username"]), codes=(0, *(code for code, _ in _USERNAME_PATTERNS))),
    Feature("username_parts", pa.int16(), lambda u: count_parts(u["username"]), "parts of username",
            columns=lambda b: count_parts_array(b["username"])),
    Feature("full_name_length", pa.int16(), lambda u: len(u["full_name"]), "characters in full_name",
            columns=lambda b: pc.utf8_length(b["full_name"])),
    Feature("full_name_parts", pa.int16(), lambda u: count_parts(u["full_name"]), "parts of full_name",
            columns=lambda b: count_parts_array(b["full_name"])),
    Feature("full_name_question_marks", pa.int16(), lambda u: count_question_marks(u["full_name"]),
            "non-ASCII characters and '?' in full_name", columns=lambda b: count_question_marks_array(b["full_name"])),
    Feature("biography_parts", pa.int16(), lambda u: count_parts(u["biography"]), "parts of biography",
            columns=lambda b: count_parts_array(b["biography"])),
    Feature("biography_question_marks", pa.int16(), lambda u: count_question_marks(u["biography"]),
            "non-ASCII characters and '?' in biography", columns=lambda b: count_question_marks_array(b["biography"])),
    Feature("follower_following_ratio", pa.float64(), _ratio, "follower_count / following_count, 0 if none",
            heavy_tailed=True, columns=_ratios),
    Feature("follower_count", pa.int64(), lambda u: u["follower_count"], "followers", heavy_tailed=True,
            columns=lambda b: b["follower_count"]),
    Feature("following_count", pa.int64(), lambda u: u["following_count"], "accounts followed", heavy_tailed=True,
            columns=lambda b: b["following_count"]),
    Feature("media_count", pa.int64(), lambda u: u["media_count"], "posts", heavy_tailed=True,
            columns=lambda b: b["media_count"]),
    Feature("usertags_count", pa.int64(), lambda u: u["usertags_count"], "posts tagging the profile",
            heavy_tailed=True, columns=lambda b: b["usertags_count"]),
    Feature("is_private", pa.int8(), lambda u: int(u["is_private"]), "1 if private", columns=_flag("is_private"),
            codes=_FLAG),
    Feature("is_verified", pa.int8(), lambda u: int(u["is_verified"]), "1 if verified", columns=_flag("is_verified"),
            codes=_FLAG),
    Feature("has_anonymous_profile_picture", pa.int8(), lambda u: int(u["has_anonymous_profile_picture"]),
            "1 if the default picture", columns=_flag("has_anonymous_profile_picture"), codes=_FLAG),
    Feature("reel_auto_archive", pa.int8(),
            lambda u: REEL_AUTO_ARCHIVE.index(u.get("reel_auto_archive") or "unset"),
            "story archive setting: 0 unset, 1 on, 2 off",
            columns=lambda b: pc.index_in(b["reel_auto_archive"], value_set=pa.array(REEL_AUTO_ARCHIVE)),
            codes=tuple(range(len(REEL_AUTO_ARCHIVE)))),
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


def compute_batch(batch: Batch, feature_set: str = "seed16") -> pa.Table:
    """:func:`compute` of a whole Arrow batch of normalised user-info records (a RecordBatch or a Table, as
    :func:`pipeline.instagram.records.normalize_batch` returns them): the same table, vectorised."""
    features = FEATURE_SETS[feature_set]
    rows = None
    columns = []
    for f in features:
        if f.columns is not None:
            values = f.columns(batch)
        else:  # no vectorised form: the row-wise one
            rows = batch.to_pylist() if rows is None else rows
            values = [f.compute(u) for u in rows]
        columns.append(pa.array(values, type=f.dtype) if not isinstance(values, pa.Array | pa.ChunkedArray)
                       else pc.cast(values, f.dtype))
    schema = pa.schema([pa.field(f.name, f.dtype, nullable=False) for f in features])
    return pa.Table.from_arrays(columns, schema=schema)


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
