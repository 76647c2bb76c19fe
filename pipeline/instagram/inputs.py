"""User-info records as people hand them to ``igfake predict``: whatever shape they come in.

Five shapes, told apart by content: JSON Lines (one record per line, as ``data/raw/profiles.jsonl``),
one record on its own, the API's answer ``{"user": {...}, "status": "ok"}`` (also as a line of JSON
Lines), the article's dump (one object keyed by pk) and a JSON array of records. Every record then goes
through :func:`~pipeline.instagram.records.normalize_user`; a bad one stops the read with file, record
and field, a bad file (missing, a directory, not UTF-8, not JSON, nested too deeply to parse, empty) with one line
saying so.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from pipeline.core.errors import FieldError, InputError
from pipeline.instagram.records import checked, normalize_user, read_errors

STDIN = "-"
# Counts become int64 features (and float32 model inputs); a larger number is a corrupt record, not a
# very popular profile.
MAX_COUNT = 2**63 - 1
_COUNTS = ("follower_count", "following_count", "media_count", "usertags_count")

# Python's JSON parser recurses once per level of [ or {: past its recursion limit it gives up.
TOO_DEEP = "JSON nested too deeply to parse; expected user-info records (objects a few levels deep)"

JSON_LINES = "JSON Lines"
ONE_RECORD = "one user-info record"
API_ANSWER = "an API answer {\"user\": ...}"
PK_KEYED = "the article's dump keyed by pk"
JSON_ARRAY = "a JSON array of records"


@dataclass(frozen=True)
class Records:
    name: str  # the file, or <stdin>
    shape: str  # which of the shapes above it was
    users: list[dict[str, Any]]  # normalised user-info records, in input order


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _loads(text: str) -> Any:
    return json.loads(text, parse_constant=_reject_constant)


def read_bytes(source: str | Path, stdin: BinaryIO | None = None) -> tuple[str, bytes]:
    """(name, content) of a file, or of standard input for ``-``; a clear error for what cannot be read."""
    if str(source) == STDIN:
        return "<stdin>", (stdin or sys.stdin.buffer).read()
    path = Path(source)
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a file of user-info records")
    if not path.exists():
        raise InputError(f"{path}: no such file (to score an account's followers by username, use "
                         f"`igfake audit USERNAME`)")
    with read_errors(path):
        return str(path), path.read_bytes()


def _unwrap(record: Any) -> Any:
    """The record inside an API answer ``{"user": {...}}``; anything else as it is."""
    if isinstance(record, dict) and isinstance(record.get("user"), dict) and "pk" not in record:
        return record["user"]
    return record


def parse(name: str, content: bytes) -> tuple[str, list[tuple[str, Any]]]:
    """(shape, [(where, raw record)]): detect the shape and split the content into records."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not UTF-8 text (byte {exc.start}); expected JSON user-info records") from None
    start = len(text) - len(text.lstrip())
    if start == len(text):
        raise InputError(f"{name}: no profiles: the input is empty")
    whole: Any = None
    if text[start] in "{[":
        try:
            whole = _loads(text)
        except RecursionError:
            raise InputError(f"{name}: {TOO_DEEP}") from None
        except ValueError:
            whole = None  # several JSON lines are not one JSON document (or it is broken: JSON Lines says where)
    if isinstance(whole, list):
        return JSON_ARRAY, [(f"{name}: item {i}", _unwrap(r)) for i, r in enumerate(whole)]
    if isinstance(whole, dict):
        if whole and all(isinstance(k, str) and k.isdigit() for k in whole):
            return PK_KEYED, [(f"{name}: pk {k}", {"pk": int(k), **r} if isinstance(r, dict) and "pk" not in r
                               else r) for k, r in whole.items()]
        if _unwrap(whole) is not whole:
            return API_ANSWER, [(name, whole["user"])]
        return ONE_RECORD, [(name, whole)]
    records = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((f"{name}:{lineno}", _unwrap(_loads(line))))
        except RecursionError:
            raise InputError(f"{name}:{lineno}: {TOO_DEEP}") from None
        except ValueError as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise InputError(f"{name}:{lineno}: not valid JSON ({reason}); expected JSON Lines of user-info "
                             "records, one record, an API answer or a dump keyed by pk") from None
    return JSON_LINES, records


def check_user(record: Any) -> dict[str, Any]:
    """:func:`normalize_user`, plus counts in the range the features can hold."""
    user = normalize_user(record)
    for field in _COUNTS:
        if user[field] > MAX_COUNT:
            raise FieldError(field, f"{user[field]} is out of range (at most {MAX_COUNT})")
    return user


def read_users(source: str | Path, stdin: BinaryIO | None = None) -> Records:
    """Every user-info record of ``source`` (a path, or ``-`` for standard input), checked."""
    name, content = read_bytes(source, stdin)
    shape, raw = parse(name, content)
    del content
    users = []
    for i, (where, record) in enumerate(raw):
        raw[i] = None  # the checked copy replaces the parsed one: on large inputs, half the memory
        users.append(checked(where, record, check_user))
    if not users:
        raise InputError(f"{name}: no profiles: {shape} with no records")
    return Records(name, shape, users)
