"""The user-info record: what one ``GET /api/v1/users/{pk}/info/`` returns under ``"user"``.

Validation is strict because everything downstream trusts these fields. A record that fails is not
dropped: callers quarantine it together with the :class:`FieldError` reason and count it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core.errors import FieldError, InputError

REEL_AUTO_ARCHIVE = ("unset", "on", "off")
# Counts and pks become int64 columns (Arrow, numpy): a larger value cannot be stored, so it is bad input.
MAX_INT64 = 2**63 - 1
# Lengths and part counts of the strings become int16 features: a longer string cannot be featurised.
# (Instagram caps a biography at 150 characters, a name at 30 or so: only a corrupt record comes near.)
MAX_TEXT = 2**15 - 1

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
    # ASCII digits only: str.isdigit() also accepts "²" and other digits int() refuses.
    if isinstance(pk, str) and pk.isascii() and pk.isdigit() and len(pk) <= 19:
        out["pk"] = int(pk)
    for name, tp in REQUIRED_FIELDS.items():
        if name not in out:
            raise FieldError(name, "missing")
        value = out[name]
        if value is None and tp is str:
            out[name] = value = ""
        if tp is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise FieldError(name, f"expected an integer, got {_short(value)}")
        if not isinstance(value, tp):
            raise FieldError(name, f"expected {tp.__name__}, got {_short(value)}")
        if tp is int and not 0 <= value <= MAX_INT64:
            raise FieldError(name, f"expected an integer from 0 to 2**63 - 1, got {_short(value)}")
        if tp is str and not _encodable(value):
            raise FieldError(name, "not valid Unicode (a lone surrogate such as \\ud800)")
        if tp is str and len(value) > MAX_TEXT:
            raise FieldError(name, f"{len(value)} characters, more than the {MAX_TEXT} the features can hold")
    if out["pk"] == 0:
        raise FieldError("pk", "expected a positive integer, got 0")
    if not out["username"]:
        raise FieldError("username", "empty")
    archive = out.get("reel_auto_archive") or "unset"
    if archive not in REEL_AUTO_ARCHIVE:
        raise FieldError("reel_auto_archive", f"expected one of {REEL_AUTO_ARCHIVE}, got {archive!r}")
    out["reel_auto_archive"] = archive
    return out


# The normalised record as Arrow columns: what normalize_user returns, the fields features read.
_ARROW = {int: pa.int64(), str: pa.string(), bool: pa.bool_()}
USER_SCHEMA = pa.schema([pa.field(name, _ARROW[tp], nullable=False) for name, tp in REQUIRED_FIELDS.items()]
                        + [pa.field("reel_auto_archive", pa.string(), nullable=False)])
# Arrow types a column of user-info records may come in (before normalisation). A field's values
# that these types allow but normalize_user refuses (nulls, negative counts, pk 0, empty usernames,
# uint64 beyond int64) are bad records, quarantined; any other type is a bad column, refused whole.
_ACCEPTED_TYPES = {
    int: (pa.types.is_integer, "an integer type"),
    str: (lambda t: pa.types.is_string(t) or pa.types.is_large_string(t), "string"),
    bool: (pa.types.is_boolean, "bool"),
}


def check_columns(schema: pa.Schema, where: str) -> None:
    """Stop (:class:`InputError`) unless ``schema`` has every user-info field in a type it can hold.

    ``pk`` may also be a string column (Instagram sends it as digits in places); extra columns are fine.
    """
    for name, tp in {**REQUIRED_FIELDS, "reel_auto_archive": str}.items():
        if name not in schema.names:
            if name == "reel_auto_archive":  # optional: Instagram omits it when it was never set
                continue
            raise InputError(f"{where}: no column {name!r} (user-info records need "
                             f"{', '.join(REQUIRED_FIELDS)})")
        dtype = schema.field(name).type
        accepts, expected = _ACCEPTED_TYPES[tp]
        if not (accepts(dtype) or (name == "pk" and _ACCEPTED_TYPES[str][0](dtype))):
            raise InputError(f"{where}: column {name!r} is {dtype}, expected {expected}"
                             f"{' or digit strings' if name == 'pk' else ''}")


def _valid_fast(batch: pa.RecordBatch) -> np.ndarray:
    """Rows certain to pass normalize_user unchanged: typed, non-null, in range. The rest go row by row."""
    ok = np.ones(batch.num_rows, bool)
    for name, tp in REQUIRED_FIELDS.items():
        column = batch.column(name)
        if name == "pk" and not pa.types.is_integer(column.type):
            return np.zeros(batch.num_rows, bool)  # digit strings: normalize_user decides, row by row
        valid = pc.is_valid(column)
        if tp is int:
            low = 1 if name == "pk" else 0
            valid = pc.and_(valid, pc.greater_equal(column, pa.scalar(low, column.type)))
            if column.type == pa.uint64():
                valid = pc.and_(valid, pc.less_equal(column, pa.scalar(MAX_INT64, pa.uint64())))
        elif tp is str:
            valid = pc.and_(valid, pc.less_equal(pc.utf8_length(column), MAX_TEXT))
            if name == "username":
                valid = pc.and_(valid, pc.greater(pc.utf8_length(column), 0))
        ok &= pc.fill_null(valid, False).to_numpy(zero_copy_only=False)
    if "reel_auto_archive" in batch.schema.names:
        archive = batch.column("reel_auto_archive")
        known = pc.or_kleene(pc.is_null(archive), pc.is_in(archive, value_set=pa.array(["", *REEL_AUTO_ARCHIVE])))
        ok &= pc.fill_null(known, False).to_numpy(zero_copy_only=False)
    return ok


def _normalized_columns(batch: pa.RecordBatch) -> pa.Table:
    """USER_SCHEMA's columns of rows that passed :func:`_valid_fast` (reel_auto_archive filled in)."""
    columns = [pc.cast(batch.column(f.name), f.type) for f in USER_SCHEMA if f.name != "reel_auto_archive"]
    if "reel_auto_archive" in batch.schema.names:
        archive = pc.cast(batch.column("reel_auto_archive"), pa.string())
        archive = pc.if_else(pc.fill_null(pc.equal(archive, ""), True), "unset", archive)
    else:
        archive = pa.array(["unset"] * batch.num_rows, pa.string())
    return pa.Table.from_arrays([*columns, archive], schema=USER_SCHEMA)


def normalize_batch(batch: pa.RecordBatch | pa.Table) -> tuple[pa.Table, list[tuple[int, Any, FieldError]]]:
    """:func:`normalize_user` of every row of an Arrow batch of user-info columns, vectorised.

    Returns the good rows in order as :data:`USER_SCHEMA` columns, and ``(row index, record, error)`` of
    every bad one. Rows that are plainly valid are checked column-wise; every other row goes through
    :func:`normalize_user` itself, so a bad record is refused for exactly the reason predict and the
    crawl give. The batch's columns must have passed :func:`check_columns`.
    """
    if isinstance(batch, pa.Table):
        batch = batch.combine_chunks().to_batches()[0] if batch.num_rows else pa.RecordBatch.from_pylist(
            [], schema=batch.schema)
    fast = _valid_fast(batch)
    if fast.all():
        return _normalized_columns(batch), []
    slow = np.flatnonzero(~fast)
    good_rows, kept, bad = [], [], []
    for i, record in zip(slow, batch.take(pa.array(slow)).to_pylist(), strict=True):
        try:
            good_rows.append(normalize_user(record))
            kept.append(i)
        except FieldError as exc:
            bad.append((int(i), record, exc))
    fast_rows = np.flatnonzero(fast)
    parts = [_normalized_columns(batch.take(pa.array(fast_rows))),
             pa.Table.from_pylist([{f.name: u[f.name] for f in USER_SCHEMA} for u in good_rows], schema=USER_SCHEMA)]
    order = np.argsort(np.concatenate([fast_rows, np.asarray(kept, np.int64)]), kind="stable")
    return pa.concat_tables(parts).take(pa.array(order)), bad


def _short(value: Any, limit: int = 80) -> str:
    """``repr`` of a bad value, cut short: a message stays one readable line whatever the input holds."""
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**30 else f"a {value.bit_length()}-bit integer"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_json(text: str) -> Any:
    """``json.loads`` whose every failure is a ``ValueError`` with a short reason.

    Beyond malformed JSON that covers what ``json`` refuses late: integers of more than 4300 digits
    (a ``ValueError`` that is not a ``JSONDecodeError``) and nesting deep enough to exhaust the stack.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise ValueError("nested too deeply") from None


@contextlib.contextmanager
def read_errors(path: Path, missing: str = "not found",
                undecodable: Callable[[UnicodeDecodeError], str] | None = None) -> Iterator[None]:
    """What goes wrong reading ``path`` in the block, as one line naming it (:class:`InputError`).

    ``missing`` says what a missing file means; ``undecodable(exc)`` what follows the path for text that is not
    UTF-8 (by default its reason and byte).
    """
    try:
        yield
    except FileNotFoundError:
        raise InputError(f"{path}: {missing}") from None
    except UnicodeDecodeError as exc:
        where = undecodable(exc) if undecodable else f": not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise InputError(f"{path}{where}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None


def read_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object) for every non-blank line; bad JSON names the file and line."""
    lineno = 0
    # Text that is not UTF-8 is named by the line it stops on: the one after the last line read.
    with read_errors(path, undecodable=lambda exc: f":{lineno + 1}: not UTF-8 text ({exc.reason})"), \
            open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = parse_json(line)
            except ValueError as exc:
                raise InputError(f"{path}:{lineno}: not valid JSON ({exc})") from None
            yield lineno, record


def checked(where: str, record: Any, check: Callable[[Any], dict[str, Any]] = normalize_user) -> dict[str, Any]:
    """``check(record)``; a bad record stops the read in one line: where it is, its pk and the field."""
    try:
        return check(record)
    except FieldError as exc:
        pk = record.get("pk") if isinstance(record, dict) else None
        raise InputError(f"{where}: record pk={pk}: {exc}") from None


def read_profiles(path: Path) -> list[dict[str, Any]]:
    """The crawl's user-info records, each checked again: a bad one names file, line and field."""
    return [checked(f"{path}:{lineno}", record) for lineno, record in read_jsonl(path)]


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


def read_graph(path: Path, profiles_path: Path, users: Iterable[dict[str, Any]]) -> dict[int, str]:
    """The relations of the crawl's follow graph (:func:`relationships`), checked against its profiles.

    A crawl over the API relates every profile it kept to a seed account, and no other; a crawl of dump
    files relates none. Any other mix means the two files come from different crawls, and the relations
    would silently turn to "unknown": that stops here, naming both files.
    """
    rows = []
    for lineno, row in read_jsonl(path):
        if not (isinstance(row, dict) and isinstance(row.get("pk"), int) and not isinstance(row["pk"], bool)
                and isinstance(row.get("follows_seed"), bool) and isinstance(row.get("followed_by_seed"), bool)):
            raise InputError(f"{path}:{lineno}: expected a follow-graph row with an integer pk, follows_seed and "
                             f"followed_by_seed, got {_short(row)}")
        rows.append(row)
    relations = relationships(rows)
    crawled = {u["pk"] for u in users}
    if relations and set(relations) != crawled:
        unrelated, strays = sorted(crawled - set(relations)), sorted(set(relations) - crawled)
        example = f"pk {unrelated[0]} has no relation" if unrelated else f"pk {strays[0]} is not a profile"
        raise InputError(f"{path}: does not belong to {profiles_path} ({len(unrelated)} profiles without a "
                         f"relation, {len(strays)} relations to no profile; e.g. {example}): they come from "
                         "different crawls; run `dvc repro crawl`")
    return relations


def read_dump(path: Path) -> Iterator[tuple[str, Any, Any]]:
    """``(where, pk, record)`` for every user-info record in a dump file, in file order.

    Two formats, told apart by content rather than by name: one JSON object keyed by pk whose values
    are user-info records (what the article's tools wrote; a record may carry ``is_authentic``, which
    is kept), or JSON Lines with one record per line. ``where`` is ``file: pk <key>`` or ``file:<line>``;
    ``pk`` is the key the record was filed under (None for JSON Lines). A record's own ``pk`` may be
    missing in the keyed format: the key supplies it.
    """
    path = Path(path)
    with read_errors(path, missing="crawl.files names a file that does not exist"):
        text = path.read_text(encoding="utf-8")
    try:
        whole = parse_json(text) if text.lstrip().startswith("{") else None
    except ValueError:
        whole = None  # several JSON lines are not one JSON document (or a bad one: read_jsonl names the line)
    if isinstance(whole, dict):
        strays = [k for k in whole if not (k.isascii() and k.isdigit())]
        if not strays:
            for key, record in whole.items():
                # A key too long to be a pk still files its record: validation quarantines it by pk's range.
                pk = int(key) if len(key) <= 40 else key
                if isinstance(record, dict) and "pk" not in record:
                    record = {"pk": pk, **record}
                yield f"{path}: pk {key if len(key) <= 40 else key[:37] + '...'}", pk, record
            return
        if "pk" not in whole and "username" not in whole:
            raise InputError(f"{path}: a JSON object whose keys are not pks (e.g. {strays[0]!r}): expected one "
                             "object keyed by pk, or JSON Lines of user-info records")
        yield f"{path}", None, whole  # a single record in a file of its own
        return
    for lineno, record in read_jsonl(path):
        yield f"{path}:{lineno}", None, record
