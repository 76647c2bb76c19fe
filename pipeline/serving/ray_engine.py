"""``igfake score --engine ray``: the same batch function on Ray Data, from one machine to a cluster.

``read_parquet -> map_batches -> write_parquet``: Ray Data streams the input's files through a pool of
``workers`` actors, each of which loads the LiteRT interpreter once (:class:`ScoreActor`, holding a
:class:`~pipeline.serving.batch.Scorer`) and scores batch after batch. Ray schedules, retries and spills;
nothing here is a scheduler. Rows keep their input order (``preserve_order``) and the parts are named by
write task, so the output reads back as the local engine's does.

Bad records cannot travel in the scored blocks, so each actor hands them to one :class:`Quarantine`
actor on the driver's node, which appends them to the output's quarantine as they come and counts what
was scored (the progress and the manifest's counts). Ray is an optional extra: ``pip install -e
".[ray]"``; importing this module without it is a clear error.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from pipeline.core import atomic
from pipeline.core.errors import InputError
from pipeline.serving.batch import OUTPUT_SCHEMA, Scorer
from pipeline.serving.score import JSON_LINES, QUARANTINE, Counts, Plan

log = logging.getLogger(__name__)

PATH_COLUMN = "path"  # which file a row came from (read_parquet's include_paths), for the quarantine


def _ray():
    try:
        import ray
        import ray.data
    except ImportError:
        raise InputError("--engine ray: Ray is not installed; pip install -e '.[ray]' (Ray Data)") from None
    return ray


class ScoreActor:
    """A Ray actor: the model loaded once, then ``__call__`` on every batch Ray Data hands it."""

    def __init__(self, flatbuffer: bytes, name: str, threshold: float, quarantine: Any) -> None:
        pa.set_cpu_count(1)  # one actor per core; Arrow's own threads would only contend
        self.scorer = Scorer.from_flatbuffer(flatbuffer, threshold, name)
        self.quarantine = quarantine

    def __call__(self, batch: pa.Table) -> pa.Table:
        paths = batch.column(PATH_COLUMN)
        records = batch.drop_columns([PATH_COLUMN])
        tables, bad = [], []
        # One file per call to the batch function, so every quarantine entry names its file.
        start = 0
        values = paths.to_pylist()
        while start < len(values):
            end = start
            while end < len(values) and values[end] == values[start]:
                end += 1
            scored = self.scorer(records.slice(start, end - start), values[start])
            tables.append(scored.table)
            bad += scored.quarantine
            start = end
        table = pa.concat_tables(tables) if tables else OUTPUT_SCHEMA.empty_table()
        # Waited for: the counts are whole when the write finishes, and a slow sink slows the actors.
        _ray().get(self.quarantine.add.remote(batch.num_rows, table.num_rows, [atomic.jsonl_line(e) for e in bad]))
        return table


class Quarantine:
    """A Ray actor on the driver's node: appends bad records to the quarantine file and counts rows."""

    def __init__(self, path: str) -> None:
        self.fh = open(path, "a", encoding="utf-8")  # noqa: SIM115  (closed by close())
        self.rows = self.scored = self.quarantined = 0

    def add(self, rows: int, scored: int, lines: list[str]) -> None:
        self.rows += rows
        self.scored += scored
        self.quarantined += len(lines)
        self.fh.writelines(lines)

    def counts(self) -> tuple[int, int, int]:
        return self.rows, self.scored, self.quarantined

    def close(self) -> tuple[int, int, int]:
        self.fh.close()
        return self.counts()


def _filename_provider():
    from ray.data.datasource import FilenameProvider

    class Parts(FilenameProvider):
        """``part-<write task>-<write uuid>.parquet`` (Ray wants the uuid in): names that sort in the
        dataset's order; :func:`_run` drops the uuid afterwards, for the local engine's names."""

        def get_filename_for_task(self, write_uuid: str, task_index: int) -> str:
            return f"part-{task_index:06d}-{write_uuid}.parquet"

    return Parts(file_format="parquet")


def run(job: Plan, flatbuffer: bytes, model_name: str, threshold: float, out_dir: Path, workers: int,
        batch_rows: int, address: str | None = None,
        progress: Callable[[int, int], None] | None = None) -> Counts:
    """Score ``job`` on Ray Data into ``out_dir``: a local Ray of ``workers`` CPUs, or the cluster at ``address``.

    A Ray already initialised in this process (a test's, a notebook's) is used as it is, and left running.
    """
    if job.kind == JSON_LINES:
        raise InputError(f"{job.source}: --engine ray reads Parquet (read_parquet); score JSON Lines with the "
                         "local engine, or convert them to Parquet first")
    ray = _ray()
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, num_cpus=None if address else workers, include_dashboard=False,
                 log_to_driver=False, logging_level=logging.WARNING,
                 runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(sys.path)}} if address is None else None)
    try:
        return _run(ray, job, flatbuffer, model_name, threshold, out_dir, workers, batch_rows, progress)
    finally:
        if started_here:
            ray.shutdown()


def _run(ray: Any, job: Plan, flatbuffer: bytes, model_name: str, threshold: float, out_dir: Path, workers: int,
         batch_rows: int, progress: Callable[[int, int], None] | None) -> Counts:
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # the output in the input's order, as the local engine's
    # Ray 2.60's new Parquet reader bundles small files into one read task and yields their rows out of
    # file order (measured: one actor busy, rows shuffled); the established reader reads a task per file,
    # in order.
    context.use_datasource_v2 = False
    context.enable_progress_bars = sys.stderr.isatty()
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    quarantine = ray.remote(Quarantine).options(num_cpus=0, scheduling_strategy=here).remote(str(out_dir / QUARANTINE))
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(quarantine, job.rows, progress, stop), daemon=True)
    if progress is not None and not sys.stderr.isatty():
        watcher.start()
    try:
        # A read task per file at least: parallelism comes from the partitions.
        dataset = ray.data.read_parquet(list(job.files), columns=list(job.columns), include_paths=True,
                                        partitioning=None, file_extensions=None,
                                        override_num_blocks=max(len(job.tasks), workers))
        scored = dataset.map_batches(
            ScoreActor, fn_constructor_kwargs={"flatbuffer": flatbuffer, "name": model_name, "threshold": threshold,
                                               "quarantine": quarantine},
            batch_size=batch_rows, batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=actor_cpus(ray, workers))
        scored.write_parquet(str(out_dir), filename_provider=_filename_provider(), try_create_dir=False)
        rows, n_scored, quarantined = ray.get(quarantine.close.remote())
    except ray.exceptions.RayError as exc:
        raise InputError(f"{job.source}: Ray could not score it: {_first_line(exc)}") from None
    finally:
        stop.set()
        if watcher.is_alive():
            watcher.join()
        ray.kill(quarantine)
    if progress is not None:
        progress(rows, job.rows)
    parts = []
    for path in sorted(out_dir.glob("part-*.parquet")):
        name = "-".join(path.name.split("-")[:2]) + ".parquet"
        path.rename(out_dir / name)
        parts.append(name)
    return Counts(rows=rows, scored=n_scored, quarantined=quarantined, parts=parts)


def actor_cpus(ray: Any, workers: int) -> float:
    """The CPUs each scoring actor asks for: one, unless the actors would then leave none to the read and
    write tasks (whose wait for a CPU the actors hold would stall the run): they share what one CPU less.
    """
    total = float(ray.cluster_resources().get("CPU", 1.0))
    return max(0.05, min(1.0, (total - 1.0) / workers)) if total > 1 else 0.5 / workers


def _watch(quarantine: Any, total: int, progress: Callable[[int, int], None], stop: threading.Event) -> None:
    """Report the rows done so far every few seconds (the progress's log lines; Ray's bars on a terminal)."""
    import ray

    while not stop.wait(2.0):
        try:
            rows, _, _ = ray.get(quarantine.counts.remote(), timeout=5)
        except Exception:  # the run is ending; the final count comes from the caller
            return
        progress(rows, total)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    lines = [line for line in text if "Error" in line] or text or [type(exc).__name__]
    return json.dumps(lines[-1])[1:-1][:300]
