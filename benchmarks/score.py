"""Score benchmark: batch scoring at the app's scale, every ratio measured in this one run.

    nice -n 10 python benchmarks/score.py [--rows 1000000] [--big-rows 10000000] [--workers 2]

On simulated profiles (``igfake simulator population``, seed 2019), as Parquet partitions of 131,072 rows
and, for ``igfake predict``, the same rows as JSON Lines:

1. **Local engine vs predict.** ``igfake score`` (``--workers``) on ``--rows`` profiles from Parquet
   against ``igfake predict`` on the same rows as JSON Lines (``--predict-rows`` of them: predict holds
   its input in memory), profiles per second, wall time of each process. Goals: the ratio >= 8, and
   >= 100,000 profiles/s on 2 cores.
2. **Memory, flat in N.** Peak resident memory of ``igfake score`` on ``--rows`` and on ``--big-rows``,
   summed over the process and its workers (sampled from /proc every 0.1 s). Goal: <= 1 GB at 10M rows.
3. **Ray vs local.** Both engines in this process on the ``--big-rows`` Parquet (``--rows`` without it),
   Ray on a local Ray of ``--workers`` CPUs started beforehand (as a cluster is: its start-up is reported
   apart) after a first job on ``--rows`` (which also starts Ray's worker processes; reported too). Goal:
   Ray's rows/s >= 0.7x the local engine's, and identical output.

The machine is shared: the load average before and after is recorded; ratios measured in one run cancel
most of it, absolute rates do not. Writes ``reports/benchmarks/score.json`` (atomically).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from pipeline.core import atomic, paths

OUT = paths.REPORTS / "benchmarks" / "score.json"
GOALS = {"local_vs_predict": 8.0, "local_profiles_per_second": 100_000, "peak_rss_mb_big": 1024,
         "ray_vs_local": 0.7}


def _tree_rss_kb(root: int) -> int:
    """Resident memory of ``root`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path("/proc", entry, "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid, ppid = int(entry), int(fields.get("PPid", "0").strip())
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack += children.get(pid, [])
    return total


def timed(args: list[str]) -> dict:
    """Wall seconds and peak resident memory (MB, the whole process tree) of one command."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss_kb(proc.pid))
        time.sleep(0.1)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr.read()}")
    return {"seconds": round(seconds, 3), "peak_rss_mb": round(peak / 1024, 1)}


def igfake(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline.cli", *args]


def in_process(args: list[str]) -> float:
    """Wall seconds of ``igfake <args>`` run in this process (its chatter discarded)."""
    from pipeline import cli

    started = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()) as err:
        status = cli.main(args)
    if status != 0:
        raise SystemExit(f"igfake {' '.join(args)} failed: {err.getvalue()[-2000:]}")
    return time.perf_counter() - started


def write_jsonl(parquet: Path, path: Path, rows: int) -> None:
    import pyarrow.dataset as ds

    with open(path, "w", encoding="utf-8") as fh:
        for batch in ds.dataset(parquet, format="parquet").to_batches(batch_size=65_536):
            for record in batch.to_pylist():
                if rows <= 0:
                    return
                fh.write(json.dumps({k: v for k, v in record.items() if v is not None}) + "\n")
                rows -= 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--predict-rows", type=int, default=1_000_000)
    parser.add_argument("--big-rows", type=int, default=10_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", type=Path, default=paths.TFLITE_MODEL)
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()
    if not args.model.is_file():
        raise SystemExit(f"{args.model}: no model; run `dvc repro` first")
    model = ["--model", str(args.model), "--threshold", "0.5"]
    load_before = os.getloadavg()
    result: dict = {"rows": args.rows, "big_rows": args.big_rows, "workers": args.workers, "cpus": os.cpu_count(),
                    "python": sys.version.split()[0], "load_average_before": [round(x, 2) for x in load_before]}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        # Partitioned, as teams keep such data (and as Ray Data parallelises: a read task per file).
        small, big = tmp / "profiles", tmp / "big"
        gen = timed(igfake("simulator", "population", str(args.rows), str(small), "--rows-per-file", "131072"))
        result["generate"] = {**gen, "rows": args.rows,
                              "profiles_per_second": round(args.rows / gen["seconds"])}
        jsonl = tmp / "profiles.jsonl"
        predict_rows = min(args.predict_rows, args.rows)
        write_jsonl(small, jsonl, predict_rows)

        predict = timed(igfake("predict", str(jsonl), "--output", str(tmp / "predicted.jsonl"), *model))
        local = timed(igfake("score", str(small), str(tmp / "local"), "--workers", str(args.workers), *model))
        predict_rate, local_rate = predict_rows / predict["seconds"], args.rows / local["seconds"]
        result["predict"] = {**predict, "rows": predict_rows, "profiles_per_second": round(predict_rate)}
        result["local"] = {**local, "profiles_per_second": round(local_rate)}
        result["local_vs_predict"] = round(local_rate / predict_rate, 2)

        if args.big_rows:
            timed(igfake("simulator", "population", str(args.big_rows), str(big), "--rows-per-file", "1000000"))
            big_run = timed(igfake("score", str(big), str(tmp / "big-out"), "--workers", str(args.workers), *model))
            result["local_big"] = {**big_run, "rows": args.big_rows,
                                   "profiles_per_second": round(args.big_rows / big_run["seconds"])}
            result["peak_rss_flat_ratio"] = round(big_run["peak_rss_mb"] / local["peak_rss_mb"], 2)

        if not args.skip_ray:
            import ray

            started = time.perf_counter()
            ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
            init_seconds = time.perf_counter() - started
            # On the big dataset when there is one: a job's fixed cost (its actors start and load the model,
            # a few seconds here) is then small against its rows, as on a cluster's refresh.
            data, rows = (big, args.big_rows) if args.big_rows else (small, args.rows)
            ray_args = ["--engine", "ray", "--workers", str(args.workers), *model]
            try:
                local_s = in_process(["score", str(data), str(tmp / "local2"), "--workers", str(args.workers), *model])
                cold_s = in_process(["score", str(small), str(tmp / "ray"), *ray_args])  # also starts Ray's workers
                ray_s = in_process(["score", str(data), str(tmp / "ray"), *ray_args])
            finally:
                ray.shutdown()
            identical = pq.read_table(tmp / "ray").equals(pq.read_table(tmp / "local2"))
            result["ray"] = {"rows": rows, "init_seconds": round(init_seconds, 2),
                             "first_job_seconds": round(cold_s, 3), "first_job_rows": args.rows,
                             "seconds": round(ray_s, 3), "profiles_per_second": round(rows / ray_s),
                             "local_seconds": round(local_s, 3),
                             "local_profiles_per_second": round(rows / local_s), "identical_output": identical}
            result["ray_vs_local"] = round(local_s / ray_s, 2)

    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    met = {"local_vs_predict": result["local_vs_predict"] >= GOALS["local_vs_predict"],
           "local_profiles_per_second": result["local"]["profiles_per_second"] >= GOALS["local_profiles_per_second"]}
    if "local_big" in result:
        met["peak_rss_mb_big"] = result["local_big"]["peak_rss_mb"] <= GOALS["peak_rss_mb_big"]
    if "ray" in result:
        met["ray_vs_local"] = result["ray_vs_local"] >= GOALS["ray_vs_local"] and result["ray"]["identical_output"]
    result["goals"] = GOALS
    result["meets_goals"] = met
    atomic.write_json(OUT, result)
    print(json.dumps(result, indent=2))
    print(f"wrote {OUT}")
    return 0 if all(met.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
