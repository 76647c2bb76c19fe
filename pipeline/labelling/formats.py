"""Label files: the ``igfake label`` CSV log and the article's legacy JSON, read into decisions.

The CSV (``data/labels/<annotator>.csv``, columns :data:`COLUMNS`) is an append-only audit log: every
decision is a row, and ``undo`` is a row too, retracting the annotator's decision on that pk. The last
row for a pk wins (file order, not ``labelled_at``: a clock stepping back must not reorder an undo
before the decision it retracts). The legacy format is one JSON object keyed by pk whose user-info
records carry ``is_authentic`` (records without it, or with null, are unlabelled, not bad).

A row that cannot be used becomes a :class:`BadRow` naming file, line (or JSON key) and field; the
caller decides whether that stops the run or goes to quarantine. Problems with a whole file (no
header, wrong columns, not JSON) always stop it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.core import atomic
from pipeline.core.errors import FieldError, InputError
from pipeline.core.vocabulary import AUTHENTIC, DECISIONS, FAKE, LEGACY_LABEL_FIELD
from pipeline.instagram.records import MAX_INT64

COLUMNS = ("pk", "username", "label", "annotator", "labelled_at")
# Not a decision: a row that retracts the annotator's standing decision on that pk.
UNDO = "undo"
LABELS = (*DECISIONS, UNDO)
# Annotator names become file names, so they are kept to a portable, unambiguous alphabet.
ANNOTATOR = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class Decision:
    """One row: ``label`` is one of :data:`LABELS`; ``labelled_at`` is empty for legacy records."""

    pk: int
    username: str
    label: str
    annotator: str
    labelled_at: str

    def row(self) -> list[str]:
        return [str(self.pk), self.username, self.label, self.annotator, self.labelled_at]


@dataclass(frozen=True)
class BadRow:
    """A row that was not used, where it is (``line`` for CSV, ``key`` for JSON) and why."""

    file: str
    line: int | None
    key: str | None
    field: str
    reason: str
    raw: Any

    def message(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else f"{self.file}: record {self.key!r}"
        return f"{where}: {self.field}: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "key": self.key, "field": self.field,
                "reason": self.reason, "row": self.raw}


@dataclass
class LabelFile:
    """What one file held: its decisions in file order, its bad rows, and unlabelled legacy records."""

    path: str
    format: str
    decisions: list[Decision] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)
    unlabelled: int = 0


def check_annotator(name: str) -> str:
    if not ANNOTATOR.fullmatch(name):
        raise FieldError("annotator", f"expected letters, digits, '.', '_' or '-' (at most 64), got {name!r}")
    return name


def check_timestamp(text: str) -> str:
    """An ISO-8601 time with a UTC offset; returned as written."""
    try:
        # Python < 3.11 does not read the 'Z' suffix; it means +00:00.
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        raise FieldError("labelled_at", f"expected an ISO-8601 time, got {text!r}") from None
    if parsed.tzinfo is None:
        raise FieldError("labelled_at", f"expected a time with a UTC offset, got {text!r}")
    return text


def check_pk(value: Any) -> int:
    """A pk as Instagram gives it: a positive int64, as a number or its ASCII digits."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_INT64:
        return value
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    raise FieldError("pk", f"expected a positive integer below 2**63, got {shown}")


def parse_row(row: dict[str | None, Any]) -> Decision:
    """Check one CSV row (a :class:`csv.DictReader` dict) and return its decision."""
    if None in row or any(row[c] is None for c in COLUMNS):
        n = len(COLUMNS) + len(row.get(None) or []) - sum(row[c] is None for c in COLUMNS)
        raise FieldError("<row>", f"expected {len(COLUMNS)} fields, got {n}")
    label = row["label"]
    if label not in LABELS:
        raise FieldError("label", f"expected one of {', '.join(LABELS)}, got {label!r}")
    return Decision(pk=check_pk(row["pk"]), username=row["username"], label=label,
                    annotator=check_annotator(row["annotator"]), labelled_at=check_timestamp(row["labelled_at"]))


def read_csv(path: Path, name: str) -> LabelFile:
    """Every row of a label CSV, as a decision or a bad row; ``name`` is how messages call the file."""
    out = LabelFile(name, "csv")
    try:
        # utf-8-sig: spreadsheets save CSV with a byte-order mark, which is not part of the first column.
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None:
                return out  # an empty file: the annotator has not decided anything yet
            if sorted(reader.fieldnames) != sorted(COLUMNS):
                raise InputError(f"{name}:1: header: expected the columns {','.join(COLUMNS)}, "
                                 f"got {','.join(reader.fieldnames)}")
            rows = iter(reader)
            while True:
                try:
                    row = next(rows)
                except StopIteration:
                    break
                except csv.Error as exc:  # e.g. a NUL byte: the row is unreadable, the next ones may not be
                    out.bad.append(BadRow(name, reader.line_num, None, "<row>", str(exc), None))
                    continue
                try:
                    out.decisions.append(parse_row(row))
                except FieldError as exc:
                    raw = {k if k is not None else "<extra>": v for k, v in row.items()}
                    out.bad.append(BadRow(name, reader.line_num, None, exc.field, exc.reason, raw))
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return out


class _Pairs(list):
    """A JSON object as its (key, value) pairs: a duplicated pk is a duplicate decision, not an overwrite."""


def _plain(value: Any) -> Any:
    """Back to ordinary JSON values, for the quarantine file."""
    if isinstance(value, _Pairs):
        return {k: _plain(v) for k, v in value}
    return [_plain(v) for v in value] if isinstance(value, list) else value


def legacy_dump(records: Iterable[tuple[dict[str, Any], str | None]]) -> str:
    """The article's format for (user-info record, class or None) pairs: one JSON object keyed by pk."""
    dump = {}
    for user, label in records:
        record = dict(user)
        if label is not None:
            record[LEGACY_LABEL_FIELD] = label == AUTHENTIC
        dump[str(user["pk"])] = record
    return json.dumps(dump, indent=1, ensure_ascii=False) + "\n"


def read_legacy(path: Path, name: str) -> LabelFile:
    """The article's format: ``{"<pk>": {...user-info..., "is_authentic": true|false}, ...}``.

    The annotator is the file's stem. ``is_authentic`` missing or null: the record is unlabelled.
    """
    out = LabelFile(name, "legacy-json")
    try:
        top = json.loads(Path(path).read_text(encoding="utf-8"), object_pairs_hook=_Pairs)
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except ValueError as exc:  # bad JSON, or an integer json refuses (over 4300 digits)
        raise InputError(f"{name}: not valid JSON ({str(exc)[:200]})") from None
    except RecursionError:
        raise InputError(f"{name}: not valid JSON (nested too deeply)") from None
    if not isinstance(top, _Pairs):
        raise InputError(f"{name}: expected a JSON object keyed by pk, got {type(top).__name__}")
    try:
        annotator = check_annotator(Path(path).stem)
    except FieldError as exc:
        raise InputError(f"{name}: the file name is the annotator's: {exc.reason}") from None
    for key, record in top:
        try:
            decision = _legacy_decision(key, record, annotator)
        except FieldError as exc:
            out.bad.append(BadRow(name, None, key, exc.field, exc.reason, _plain(record)))
            continue
        if decision is None:
            out.unlabelled += 1
        else:
            out.decisions.append(decision)
    return out


def _legacy_decision(key: str, record: Any, annotator: str) -> Decision | None:
    pk = check_pk(key)
    if not isinstance(record, _Pairs):
        raise FieldError("<record>", f"expected a JSON object, got {json.dumps(record)}")
    fields = dict(record)
    if "pk" in fields:
        try:
            inner = check_pk(fields["pk"])
        except FieldError:
            inner = None
        if inner != pk:
            raise FieldError("pk", f"the record's pk {fields['pk']!r} differs from its key")
    authentic = fields.get(LEGACY_LABEL_FIELD)
    if authentic is None:
        return None
    if not isinstance(authentic, bool):
        raise FieldError(LEGACY_LABEL_FIELD, f"expected true, false or null, got {authentic!r}")
    username = fields.get("username")
    return Decision(pk=pk, username=username if isinstance(username, str) else "",
                    label=AUTHENTIC if authentic else FAKE, annotator=annotator, labelled_at="")


def read_label_file(path: Path, name: str) -> LabelFile:
    """Read a label file by its suffix: ``.csv`` or ``.json``."""
    readers = {".csv": read_csv, ".json": read_legacy}
    reader = readers.get(Path(path).suffix.lower())
    if reader is None:
        raise InputError(f"{name}: not a label file (expected .csv or .json); narrow label_import.files, "
                         f"e.g. data/labels/*.csv")
    return reader(path, name)


def last_wins(decisions: Iterable[Decision]) -> dict[int, Decision]:
    """One annotator's standing decision per pk, ordered by when it was made (the last one last).

    A later row replaces an earlier one; ``undo`` removes the pk. Re-inserting moves a pk to the end,
    so the last key is the decision an undo would retract next.
    """
    standing: dict[int, Decision] = {}
    for d in decisions:
        standing.pop(d.pk, None)
        if d.label != UNDO:
            standing[d.pk] = d
    return standing


def csv_line(values: Iterable[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()


class DecisionLog:
    """The annotator's CSV, opened for appending: each row is on disk before :meth:`append` returns.

    Rows are written with one ``write`` on an ``O_APPEND`` descriptor and fsynced, so a kill or a power
    cut loses at most the decision being made. A torn last line (a crash in the middle of a write) is
    cut off when the log is opened, so the file stays valid CSV.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.torn = atomic.cut_torn_tail(self.path, durable=True)
        created = not self.path.exists() or self.path.stat().st_size == 0
        self._file = atomic.AppendOnly(self.path, durable=True)
        if created:
            self._write(csv_line(COLUMNS))
            _fsync_dir(self.path.parent)  # the new file's directory entry must survive a crash too

    def _write(self, text: str) -> None:
        self._file.write(text.encode("utf-8"))

    def append(self, decision: Decision) -> None:
        self._write(csv_line(decision.row()))

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> DecisionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_own_log(path: Path, annotator: str, name: str) -> list[Decision]:
    """The tool's own log, strictly: any bad row, or a row of another annotator, stops it."""
    if not Path(path).exists():
        return []
    log = read_csv(path, name)
    if log.bad:
        raise InputError(log.bad[0].message())
    others = sorted({d.annotator for d in log.decisions} - {annotator})
    if others:
        raise InputError(f"{name}: holds decisions of annotator {others[0]!r}; each annotator labels into "
                         f"their own file")
    return log.decisions


def iter_bad(files: Iterable[LabelFile]) -> Iterator[BadRow]:
    for f in files:
        yield from f.bad
