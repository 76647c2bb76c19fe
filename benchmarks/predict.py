"""Predict benchmark: what `igfake predict` costs a person waiting on it, against TensorFlow's import.

    python benchmarks/predict.py [--rows 100000] [--repeats 5]

Everything is measured in this run, on this machine, as separate processes (a cold Python each time):

1. **Cold start.** ``igfake predict`` on 10 profiles against ``python -c "import tensorflow"``, the
   least a TensorFlow-based predict could cost: median wall time of ``--repeats`` runs each. Goal: the
   ratio at most 0.15.
2. **Throughput.** ``igfake predict`` on ``--rows`` profiles (JSON Lines in, JSON Lines out): profiles per
   second, end to end (reading, validating, featurizing, LiteRT, writing).
3. **Peak memory.** The maximum resident set size of each of those processes (``wait4``'s rusage).

Needs ``models/model.tflite`` (``dvc repro``). Prints the figures and writes
``reports/benchmarks/predict.json`` (atomically); exit status 1 if the cold-start ratio misses the goal.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from pipeline.core import atomic, paths
from pipeline.instagram.world import World

GOAL_RATIO = 0.15
OUT = paths.REPORTS / "benchmarks" / "predict.json"


# Runs one command and prints "<wall seconds> <peak RSS KB>" of it. A small process of its own forks the
# command: a child forked from this benchmark would start with the benchmark's own memory and report it.
_PROBE = """
import os, subprocess, sys, time
started = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
print(time.perf_counter() - started, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def timed(args: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one process running ``args``, its output discarded."""
    probe = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True)
    seconds, rss_kb, status = probe.stdout.split()
    if probe.returncode != 0 or int(status) != 0:
        raise SystemExit(f"{' '.join(args)} failed ({status}):\n{probe.stderr}")
    return float(seconds), int(rss_kb) / 1024  # Linux reports KB


def measure(args: list[str], repeats: int) -> dict:
    runs = [timed(args) for _ in range(repeats)]
    return {"median_seconds": round(statistics.median(r[0] for r in runs), 4),
            "min_seconds": round(min(r[0] for r in runs), 4),
            "peak_rss_mb": round(max(r[1] for r in runs), 1), "runs": repeats}


def profiles(rows: int) -> list[dict]:
    """``rows`` distinct user-info records: a simulated world's profiles, repeated under fresh pks."""
    world = World(seed=7, seed_usernames=("bench.account",), accounts_per_seed=1000, mistake_rate=0.03)
    base = [p.user for p in world.profiles.values()]
    return [dict(base[i % len(base)], pk=10**11 + i) for i in range(rows)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", type=Path, default=paths.TFLITE_MODEL)
    args = parser.parse_args()
    if not args.model.is_file():
        raise SystemExit(f"{args.model}: no model; run `dvc repro` first")
    predict = [sys.executable, "-m", "pipeline.cli", "predict", "--model", str(args.model), "--threshold", "0.5"]
    with tempfile.TemporaryDirectory() as tmp:
        small, large = Path(tmp, "small.jsonl"), Path(tmp, "large.jsonl")
        records = profiles(args.rows)
        small.write_text("".join(json.dumps(r) + "\n" for r in records[:10]))
        large.write_text("".join(json.dumps(r) + "\n" for r in records))
        tensorflow = measure([sys.executable, "-c", "import tensorflow"], args.repeats)
        cold = measure([*predict, str(small)], args.repeats)
        batch = measure([*predict, str(large)], max(1, args.repeats // 2))
    ratio = cold["median_seconds"] / tensorflow["median_seconds"]
    result = {
        "cold_start": {"predict_10_profiles": cold, "import_tensorflow": tensorflow, "ratio": round(ratio, 4),
                       "goal_ratio": GOAL_RATIO, "meets_goal": ratio <= GOAL_RATIO},
        "throughput": {"rows": args.rows, **batch,
                       "profiles_per_second": round(args.rows / batch["median_seconds"], 1)},
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }
    atomic.write_json(OUT, result)
    print(f"cold start: predict {cold['median_seconds']:.3f} s ({cold['peak_rss_mb']:.0f} MB) vs import tensorflow "
          f"{tensorflow['median_seconds']:.3f} s ({tensorflow['peak_rss_mb']:.0f} MB): {ratio:.3f}x "
          f"(goal <= {GOAL_RATIO})")
    print(f"throughput: {args.rows} profiles in {batch['median_seconds']:.2f} s = "
          f"{result['throughput']['profiles_per_second']:.0f} profiles/s, peak {batch['peak_rss_mb']:.0f} MB")
    print(f"wrote {OUT}")
    return 0 if ratio <= GOAL_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
