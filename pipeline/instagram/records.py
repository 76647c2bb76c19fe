"""The user-info record: what one ``GET /api/v1/users/{pk}/info/`` returns under ``"user"``.

Validation is strict because everything downstream trusts these fields. A record that fails is not
dropped: callers quarantine it together with the :class:`FieldError` reason and count it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pipeline.errors import FieldError, InputError

REEL_AUTO_ARCHIVE = ("unset", "on", "off")

# field -> type every user-info record must carry. Instagram sends more; we keep all of it in data/raw.
REQUIRED_FIELDS: dict[str, type] = {
    "pk": int,
    "username": str,
    "full_name": str,
    "biography": str,
    "follower_count": int,
    "following_count": int,
    "media_count": int,
    "usertags_count": int,
    "is_private": bool,
    "is_verified": bool,
    "has_anonymous_profile_picture": bool,
}


def normalize_user(record: Any) -> dict[str, Any]:
    """Check a user-info record and return it with ``pk`` as an int and ``reel_auto_archive`` filled in.

    Instagram sends ``pk`` as a number or a digit string depending on the endpoint and version, and
    omits ``reel_auto_archive`` when it was never set; both are normalised here, once.
    """
    if not isinstance(record, dict):
        raise FieldError("<record>", f"expected a JSON object, got {type(record).__name__}")
    out = dict(record)
    pk = out.get("pk")
    if isinstance(pk, str) and pk.isdigit():
        out["pk"] = int(pk)
    for name, tp in REQUIRED_FIELDS.items():
        if name not in out:
            raise FieldError(name, "missing")
        value = out[name]
        if value is None and tp is str:
            out[name] = value = ""
        if tp is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise FieldError(name, f"expected an integer, got {value!r}")
        if not isinstance(value, tp):
            raise FieldError(name, f"expected {tp.__name__}, got {value!r}")
        if tp is int and value < 0:
            raise FieldError(name, f"expected a non-negative integer, got {value!r}")
    if not out["username"]:
        raise FieldError("username", "empty")
    archive = out.get("reel_auto_archive") or "unset"
    if archive not in REEL_AUTO_ARCHIVE:
        raise FieldError("reel_auto_archive", f"expected one of {REEL_AUTO_ARCHIVE}, got {archive!r}")
    out["reel_auto_archive"] = archive
    return out


def read_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object) for every non-blank line; bad JSON names the file and line."""
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None


def read_profiles(path: Path) -> list[dict[str, Any]]:
    """The crawl's user-info records, each checked again: a bad one names file, line and field."""
    users = []
    for lineno, record in read_jsonl(path):
        try:
            users.append(normalize_user(record))
        except FieldError as exc:
            pk = record.get("pk") if isinstance(record, dict) else None
            raise InputError(f"{path}:{lineno}: record pk={pk}: {exc}") from None
    return users


def relationships(graph: Iterable[dict[str, Any]]) -> dict[int, str]:
    """Each profile's relation to the seed accounts, in the calibration's terms.

    ``fans`` follow a seed that does not follow back, ``unrequited`` are followed by a seed without
    following it, ``mutual`` both. Across several seeds the closest relation wins.
    """
    rank = {"unrequited": 0, "fans": 1, "mutual": 2}
    out: dict[int, str] = {}
    for row in graph:
        follows, followed = bool(row["follows_seed"]), bool(row["followed_by_seed"])
        kind = "mutual" if follows and followed else ("fans" if follows else "unrequited")
        pk = int(row["pk"])
        if pk not in out or rank[kind] > rank[out[pk]]:
            out[pk] = kind
    return out


def read_dump(path: Path) -> Iterator[tuple[str, int | None, Any]]:
    """``(where, pk, record)`` for every user-info record in a dump file, in file order.

    Two formats, told apart by content rather than by name: one JSON object keyed by pk whose values
    are user-info records (what the article's tools wrote; a record may carry ``is_authentic``, which
    is kept), or JSON Lines with one record per line. ``where`` is ``file: pk <key>`` or ``file:<line>``;
    ``pk`` is the key the record was filed under (None for JSON Lines). A record's own ``pk`` may be
    missing in the keyed format: the key supplies it.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: crawl.files names a file that does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    try:
        whole = json.loads(text) if text.lstrip().startswith("{") else None
    except json.JSONDecodeError:
        whole = None  # several JSON lines are not one JSON document
    if isinstance(whole, dict):
        strays = [k for k in whole if not k.isdigit()]
        if not strays:
            for key, record in whole.items():
                if isinstance(record, dict) and "pk" not in record:
                    record = {"pk": int(key), **record}
                yield f"{path}: pk {key}", int(key), record
            return
        if "pk" not in whole and "username" not in whole:
            raise InputError(f"{path}: a JSON object whose keys are not pks (e.g. {strays[0]!r}): expected one "
                             "object keyed by pk, or JSON Lines of user-info records")
        yield f"{path}", None, whole  # a single record in a file of its own
        return
    for lineno, record in read_jsonl(path):
        yield f"{path}:{lineno}", None, record


# field -> type of the short record a follower/following list page carries for each account.
LIST_ENTRY_FIELDS: dict[str, type] = {
    "pk": int,
    "username": str,
    "full_name": str,
    "is_private": bool,
    "is_verified": bool,
    "has_anonymous_profile_picture": bool,
}


def normalize_list_entry(record: Any) -> dict[str, Any]:
    """Check one entry of a follower list page (the short record) and return it with ``pk`` as an int.

    The same rules as :func:`normalize_user`, on the fields a list entry carries.
    """
    if not isinstance(record, dict):
        raise FieldError("<record>", f"expected a JSON object, got {type(record).__name__}")
    out = {name: record.get(name) for name in LIST_ENTRY_FIELDS}
    if isinstance(out["pk"], str) and out["pk"].isdigit():
        out["pk"] = int(out["pk"])
    if out["full_name"] is None:
        out["full_name"] = ""
    for name, tp in LIST_ENTRY_FIELDS.items():
        value = out[name]
        if name not in record:
            raise FieldError(name, "missing")
        if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
            raise FieldError(name, f"expected {'an integer' if tp is int else tp.__name__}, got {value!r}")
    if not out["username"]:
        raise FieldError("username", "empty")
    return out
