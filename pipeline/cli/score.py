"""``igfake score INPUT OUTPUT``: P(authentic) for every profile of a dataset, at the app's scale.

INPUT is a Parquet file, a directory of Parquet partitions or a JSON Lines file of user-info records;
OUTPUT a directory of Parquet parts (pk, p_authentic, authentic, model_sha256) with ``_quarantine.jsonl``
and ``_manifest.json``, written atomically. ``--engine local`` (the default) streams the input through a
pool of ``--workers`` processes; ``--engine ray`` runs the same batch function on Ray Data, on a local Ray
or a cluster (``--address``). The model and threshold are ``igfake predict``'s, by the same options.
See docs/scale.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

from pipeline.cli.predict import add_model_arguments, resolve_model
from pipeline.core import atomic
from pipeline.core.errors import ParamsError
from pipeline.core.progress import ProgressReporter
from pipeline.serving import score as scoring
from pipeline.serving.batch import FEATURE_SET

log = logging.getLogger("igfake.score")


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="a Parquet file, a directory of Parquet partitions, or JSON Lines")
    parser.add_argument("output", type=Path, help="the output directory (replaced whole if it is an earlier score "
                                                  "output)")
    parser.add_argument("--engine", choices=scoring.ENGINES, default="local",
                        help="local: a process pool on this machine (default); ray: Ray Data (pip install -e "
                             "'.[ray]'), on a local Ray or the cluster at --address")
    parser.add_argument("--workers", type=int, default=_cores(),
                        help="processes (local) or scoring actors (ray); default: the cores this process may use")
    parser.add_argument("--batch-rows", type=int, default=scoring.BATCH_ROWS,
                        help=f"rows per batch (default {scoring.BATCH_ROWS})")
    parser.add_argument("--address", help="--engine ray: the Ray cluster to join (e.g. ray://head:10001, or auto); "
                                          "default: start a local Ray with --workers CPUs")
    add_model_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if args.workers < 1:
        raise ParamsError(f"--workers: expected at least 1, got {args.workers}")
    if args.batch_rows < 1:
        raise ParamsError(f"--batch-rows: expected at least 1, got {args.batch_rows}")
    if args.address is not None and args.engine != "ray":
        raise ParamsError("--address: only with --engine ray")
    with tempfile.TemporaryDirectory(prefix="igfake-model-") as into:
        # The model is checked here, once, before any worker starts.
        tflite, model, threshold = resolve_model(args, Path(into))
        flatbuffer = tflite.read_bytes()
    scoring.check_output(args.output)
    job = scoring.plan(args.input, args.batch_rows)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S",
                            stream=sys.stderr)
    print(f"{job.source}: {len(job.files)} {job.kind} file(s), {job.rows} {_unit(job)}, {len(job.tasks)} tasks; "
          f"{args.engine} engine, {args.workers} workers; model {model.sha256[:12]}, threshold {threshold:g}",
          file=sys.stderr)
    manifest = {"engine": args.engine, "model": str(args.model), "model_sha256": model.sha256,
                "threshold": threshold, "feature_set": FEATURE_SET}
    progress = ProgressReporter("scoring", _unit(job), log)
    started = scoring.now()
    try:
        with atomic.atomic_directory(args.output) as tmp:
            if args.engine == "ray":
                from pipeline.serving import ray_engine

                counts = ray_engine.run(job, flatbuffer, str(args.model), threshold, tmp, args.workers,
                                        args.batch_rows, address=args.address, progress=progress)
            else:
                counts = scoring.run_local(job, flatbuffer, str(args.model), threshold, tmp, args.workers,
                                           args.batch_rows, progress=progress)
            scoring.finish(tmp, job, counts, manifest)
    finally:
        progress.close()
    print(scoring.describe(counts, scoring.now() - started, args.output), file=sys.stderr)
    return 0


def _unit(job: scoring.Plan) -> str:
    return "rows" if job.kind == scoring.PARQUET else "lines"


COMMAND = (add_arguments, run)  # its help: pipeline.cli.COMMANDS
