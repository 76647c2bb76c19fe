"""Batch scoring of user-info datasets (``igfake score``): the input, the plan, the local engine, the output.

An input is a Parquet file, a directory of Parquet partitions (read as a pyarrow dataset: hidden and
``_``-prefixed files are skipped, as Spark and pyarrow do) or a JSON Lines file (Parquet is told by its
magic bytes, not its name). :func:`plan` checks every file's schema up front and cuts the work into
tasks: a Parquet row group, or a run of JSON Lines of a few MB that starts on a line boundary. Each task
streams its batches through the one batch function (:class:`pipeline.serving.batch.Scorer`) and writes one
part of the output, ``part-<task>.parquet``, so memory stays bounded by a batch per worker whatever the
input's size, and the output is the same whatever the number of workers.

The output is a directory of Parquet parts (:data:`~pipeline.serving.batch.OUTPUT_SCHEMA`) beside
``_quarantine.jsonl`` (bad records with the crawl's fields: pk, where, field, reason, record) and
``_manifest.json`` (counts, model digest, threshold), built in a hidden temporary directory beside the
target and renamed into place whole (:func:`pipeline.core.atomic.atomic_directory`): a killed run leaves
the previous output, never half of a new one. The Ray engine (:mod:`pipeline.serving.ray_engine`) runs
the same plan and batch function and writes the same directory.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.core import atomic
from pipeline.core.errors import FieldError, InputError
from pipeline.instagram.inputs import _loads, _unwrap, check_user
from pipeline.instagram.records import REQUIRED_FIELDS, USER_SCHEMA, check_columns
from pipeline.serving.batch import OUTPUT_SCHEMA, Scorer

log = logging.getLogger(__name__)

PARQUET, JSON_LINES = "parquet", "jsonl"
ENGINES = ("local", "ray")
BATCH_ROWS = 65_536  # rows per batch: big enough that Arrow's and LiteRT's per-call costs vanish
JSONL_TASK_BYTES = 8 << 20  # a JSON Lines task: a few MB of lines, parsed a batch at a time
MANIFEST = "_manifest.json"
QUARANTINE = "_quarantine.jsonl"
# The columns scoring reads (anything else in the input is left unread).
COLUMNS = (*REQUIRED_FIELDS, "reel_auto_archive")


@dataclass(frozen=True)
class Task:
    """One part of the work: a Parquet row group, or the JSON Lines between two byte offsets."""

    index: int
    path: str
    row_group: int = -1  # Parquet
    start: int = 0  # JSON Lines: byte offsets and the line number at start
    end: int = 0
    first_line: int = 1
    rows: int = 0  # Parquet rows, or JSON lines, for the progress

    @property
    def part(self) -> str:
        return f"part-{self.index:06d}.parquet"


@dataclass(frozen=True)
class Plan:
    source: str  # the input as given
    kind: str  # PARQUET or JSON_LINES
    files: tuple[str, ...]
    tasks: tuple[Task, ...]
    columns: tuple[str, ...]  # the input's columns scoring reads

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tasks)


@dataclass
class Counts:
    rows: int = 0  # records read
    scored: int = 0
    quarantined: int = 0
    parts: list[str] = field(default_factory=list)

    def add(self, other: Counts) -> None:
        self.rows += other.rows
        self.scored += other.scored
        self.quarantined += other.quarantined
        self.parts += other.parts


# -- the input ---------------------------------------------------------------------------------------------


def _is_parquet(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"PAR1"
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _partition_files(directory: Path) -> list[Path]:
    """The data files of a partitioned directory, in path order; hidden and ``_`` files skipped."""
    files = []
    for root, dirs, names in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        files += [Path(root, n) for n in sorted(names) if not n.startswith((".", "_"))]
    return files


def plan(source: str | Path, batch_rows: int = BATCH_ROWS, task_bytes: int = JSONL_TASK_BYTES) -> Plan:
    """Check the input and cut it into tasks; a bad file or column stops here, named (:class:`InputError`)."""
    path = Path(source)
    if path.is_dir():
        files = _partition_files(path)
        if not files:
            raise InputError(f"{path}: a directory without data files (expected Parquet partitions)")
        strays = [f for f in files if not _is_parquet(f)]
        if strays:
            raise InputError(f"{strays[0]}: not a Parquet file (a directory input holds Parquet partitions; "
                             f"{len(strays)} such file(s))")
        return _parquet_plan(str(source), files)
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if _is_parquet(path):
        return _parquet_plan(str(source), [path])
    return _jsonl_plan(str(source), path, task_bytes)


def _parquet_plan(source: str, files: list[Path]) -> Plan:
    tasks: list[Task] = []
    names: set[str] | None = None
    for f in files:
        try:
            meta = pq.ParquetFile(f).metadata
            schema = meta.schema.to_arrow_schema()
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{f}: not a readable Parquet file ({str(exc).splitlines()[0]})") from None
        check_columns(schema, str(f))
        present = {n for n in COLUMNS if n in schema.names}
        if names is not None and present != names:
            raise InputError(f"{f}: has columns {sorted(present)}, the other partitions {sorted(names)}")
        names = present
        first = len(tasks)
        tasks += [Task(first + g, str(f), row_group=g, rows=meta.row_group(g).num_rows)
                  for g in range(meta.num_row_groups)]
    columns = tuple(n for n in COLUMNS if n in (names or ()))
    return Plan(source, PARQUET, tuple(map(str, files)), tuple(tasks), columns)


def _jsonl_plan(source: str, path: Path, task_bytes: int) -> Plan:
    """Tasks of about ``task_bytes`` each, cut after a newline; one pass counts the lines of each."""
    tasks: list[Task] = []
    start, line = 0, 1
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            while start < size:
                fh.seek(min(start + task_bytes, size))
                fh.readline()  # on to the end of the line the cut fell in
                end = fh.tell()
                fh.seek(start)
                newlines, left, last = 0, end - start, b""
                while left:
                    chunk = fh.read(min(left, 1 << 20))
                    newlines, left, last = newlines + chunk.count(b"\n"), left - len(chunk), chunk[-1:]
                lines = newlines + (last != b"\n")
                tasks.append(Task(len(tasks), str(path), start=start, end=end, first_line=line, rows=lines))
                start, line = end, line + lines
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not tasks:
        raise InputError(f"{path}: no profiles: the input is empty")
    return Plan(source, JSON_LINES, (str(path),), tuple(tasks), COLUMNS)


# -- running a task (in a worker process, or in this one) --------------------------------------------------


def _jsonl_batches(task: Task, batch_rows: int) -> Iterator[tuple[pa.Table, list[dict[str, Any]], int]]:
    """(normalised records, quarantine entries, lines read) per batch of a JSON Lines task, each line
    checked as ``igfake predict`` checks it (an API answer's ``user`` unwrapped)."""
    with open(task.path, "rb") as fh:
        fh.seek(task.start)
        data = fh.read(task.end - task.start)
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    users: list[dict[str, Any]] = []
    bad: list[dict[str, Any]] = []
    consumed = 0
    for i, raw in enumerate(lines):
        consumed += 1
        where = f"{task.path}:{task.first_line + i}"
        record: Any = None
        try:
            if raw.strip():
                record = _unwrap(_loads(raw.decode("utf-8")))
                user = check_user(record)
                users.append({name: user[name] for name in USER_SCHEMA.names})
        except UnicodeDecodeError as exc:
            bad.append(_entry(None, where, "<record>", f"not UTF-8 text ({exc.reason})", None))
        except FieldError as exc:
            bad.append(_entry(record.get("pk") if isinstance(record, dict) else None, where, exc.field, exc.reason,
                              record))
        except (ValueError, RecursionError) as exc:  # what json refuses, as predict reads it
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else (str(exc) or "nested too deeply")
            bad.append(_entry(None, where, "<record>", f"not valid JSON ({reason})", raw.decode("utf-8", "replace")))
        if len(users) >= batch_rows:
            yield pa.Table.from_pylist(users, schema=USER_SCHEMA), bad, consumed
            users, bad, consumed = [], [], 0
    yield pa.Table.from_pylist(users, schema=USER_SCHEMA), bad, consumed


def _entry(pk: Any, where: str, field_name: str, reason: str, record: Any) -> dict[str, Any]:
    return {"pk": pk, "where": where, "field": field_name, "reason": reason, "record": record}


def run_task(task: Task, kind: str, columns: tuple[str, ...], scorer: Scorer, out_dir: Path,
             batch_rows: int = BATCH_ROWS) -> Counts:
    """Score one task into ``out_dir/<task.part>`` (not written if no record was good) and its quarantine
    into ``out_dir/.quarantine-<task>.jsonl``; returns its counts."""
    counts = Counts()
    writer: pq.ParquetWriter | None = None
    quarantine = out_dir / f".quarantine-{task.index:06d}.jsonl"
    try:
        with open(quarantine, "w", encoding="utf-8") as qfh:
            for scored, bad, rows in _task_batches(task, kind, columns, scorer, batch_rows):
                counts.rows += rows
                counts.quarantined += len(bad)
                qfh.writelines(atomic.jsonl_line(entry) for entry in bad)
                if scored.num_rows:
                    if writer is None:
                        writer = pq.ParquetWriter(out_dir / task.part, OUTPUT_SCHEMA)
                    writer.write_table(scored, row_group_size=batch_rows)
                    counts.scored += scored.num_rows
    finally:
        if writer is not None:
            writer.close()
            counts.parts.append(task.part)
    return counts


def _task_batches(task: Task, kind: str, columns: tuple[str, ...], scorer: Scorer,
                  batch_rows: int) -> Iterator[tuple[pa.Table, list[dict[str, Any]], int]]:
    if kind == JSON_LINES:
        for users, bad, lines in _jsonl_batches(task, batch_rows):
            yield scorer.score_normalized(users), bad, lines
        return
    try:
        parquet = pq.ParquetFile(task.path)
        batches = parquet.iter_batches(batch_size=batch_rows, row_groups=[task.row_group], columns=list(columns),
                                       use_threads=False)
        for batch in batches:
            scored = scorer(batch, task.path)
            yield scored.table, scored.quarantine, batch.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{task.path}: row group {task.row_group}: cannot read ({str(exc).splitlines()[0]})") from None


# One Scorer per worker process, loaded once by the pool's initializer.
_WORKER: dict[str, Any] = {}


def _init_worker(flatbuffer: bytes, name: str, threshold: float) -> None:
    pa.set_cpu_count(1)  # the pool is the parallelism; Arrow's own threads would only contend
    _WORKER["scorer"] = Scorer.from_flatbuffer(flatbuffer, threshold, name)


def _run_in_worker(task: Task, kind: str, columns: tuple[str, ...], out_dir: str, batch_rows: int) -> Counts:
    return run_task(task, kind, columns, _WORKER["scorer"], Path(out_dir), batch_rows)


def run_local(job: Plan, flatbuffer: bytes, model_name: str, threshold: float, out_dir: Path, workers: int,
              batch_rows: int = BATCH_ROWS, progress: Callable[[int, int], None] | None = None) -> Counts:
    """Every task of ``job`` on ``workers`` processes (1: in this one), parts written into ``out_dir``."""
    total, counts = job.rows, Counts()
    if workers <= 1:
        scorer = Scorer.from_flatbuffer(flatbuffer, threshold, model_name)
        for task in job.tasks:
            counts.add(run_task(task, job.kind, job.columns, scorer, out_dir, batch_rows))
            if progress:
                progress(counts.rows, total)
        return counts
    # spawn, not fork: a forked copy of a process that has started Arrow's and LiteRT's threads can hang.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                                initargs=(flatbuffer, model_name, threshold)) as pool:
        futures = [pool.submit(_run_in_worker, t, job.kind, job.columns, str(out_dir), batch_rows) for t in job.tasks]
        try:
            for future in concurrent.futures.as_completed(futures):
                counts.add(future.result())
                if progress:
                    progress(counts.rows, total)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    counts.parts.sort()
    return counts


# -- the output -------------------------------------------------------------------------------------------


def check_output(output: Path) -> None:
    """Stop unless ``output`` can become the scores' directory: absent, empty, or an earlier score output."""
    output = Path(output)
    if output.is_file() or (output.exists() and not output.is_dir()):
        raise InputError(f"{output}: is a file; the output is a directory of Parquet parts")
    if output.is_dir() and any(output.iterdir()) and not (output / MANIFEST).is_file():
        raise InputError(f"{output}: a directory that is not an igfake score output (no {MANIFEST}); "
                         "choose another output or empty it")
    if not output.resolve().parent.is_dir():
        raise InputError(f"{output.parent}: no such directory for the output")


def finish(out_dir: Path, job: Plan, counts: Counts, manifest: dict[str, Any]) -> None:
    """The quarantine (the local tasks', in task order), an empty part if nothing scored, the manifest last."""
    parts = sorted(p.name for p in out_dir.glob("*.parquet"))
    if not parts:
        pq.write_table(OUTPUT_SCHEMA.empty_table(), out_dir / "part-000000.parquet")
        parts = ["part-000000.parquet"]
    with open(out_dir / QUARANTINE, "a", encoding="utf-8") as out:  # after what the Ray engine's sink wrote
        for piece in sorted(out_dir.glob(".quarantine-*.jsonl")):
            with open(piece, encoding="utf-8") as fh:
                while block := fh.read(1 << 20):
                    out.write(block)
            piece.unlink()
    (out_dir / MANIFEST).write_text(atomic.dumps_json({
        **manifest, "input": job.source, "input_format": job.kind, "files": len(job.files),
        "rows": counts.rows, "scored": counts.scored, "quarantined": counts.quarantined,
        "parts": parts, "columns": OUTPUT_SCHEMA.names,
    }, sort_keys=False), encoding="utf-8")


def describe(counts: Counts, seconds: float, output: Path) -> str:
    rate = counts.rows / seconds if seconds > 0 else float("inf")
    return (f"{counts.scored} profiles scored, {counts.quarantined} quarantined (in {output / QUARANTINE}) "
            f"of {counts.rows} records in {seconds:.1f} s ({rate:,.0f} records/s) -> {output}")


def now() -> float:
    return time.perf_counter()
