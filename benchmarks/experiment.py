"""Benchmark: what a `dvc exp run` costs beside its training, stage by stage, measured in the same runs.

Three experiments on the default params, each from the same reproduced state, in a scratch clone of this
repository's HEAD that shares its DVC cache (so the clone's first `dvc repro` restores what the project
already trained):

- (a) a train param change (``train.learning_rate``): evaluate + export-tflite + train-list + track
  together must take at most 0.5x the train stage of the same run;
- (b) an evaluate-only change (``evaluate.threshold_rule=balanced_accuracy``): no training stage may run
  (neither train nor train-list; export-tflite neither, its inputs are train's), only evaluate and track;
- (c) a train_list change (``train_list.learning_rate``): only train-list and track may run.

A stage's wall time runs from DVC's "Running stage" line to its "Updating lock file" line: the process's
start, its imports and its work, as a user waits for them. Ratios are to the train stage of run (a), on
the same machine minutes apart (machines here are shared and noisy: run it under ``nice`` and read the
load averages recorded beside the numbers). Writes ``reports/benchmarks/experiment.json``; exit status 1
if a goal is missed.

    nice -n 10 python benchmarks/experiment.py [--keep]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from scratch import ROOT, environment, prepare, sh  # benchmarks/scratch.py: this script's folder

from pipeline.core import atomic

OUT = ROOT / "reports" / "benchmarks" / "experiment.json"
TRAINING = ("train", "train-list")
AFTER_TRAIN = ("evaluate", "export-tflite", "train-list", "track")
GOAL_A = 0.5  # (a): evaluate + export-tflite + train-list + track <= GOAL_A x train
SCENARIOS = {
    "a_train_param": ["-S", "train.learning_rate=0.0012"],
    "b_evaluate_only": ["-S", "evaluate.threshold_rule=balanced_accuracy"],
    "c_train_list": ["-S", "train_list.learning_rate=0.002"],
}
EXPECTED_RUNS = {"b_evaluate_only": {"evaluate", "track"}, "c_train_list": {"train-list", "track"}}
RUNNING = re.compile(r"^Running stage '([^']+)':")
CACHED = re.compile(r"^Stage '([^']+)' is cached - skipping run")
SKIPPED = re.compile(r"^Stage '([^']+)' didn't change, skipping")


def timed_stages(args: list[str], cwd: Path) -> tuple[dict[str, float], dict[str, str], float]:
    """Run ``args`` (a `dvc exp run`), timing each stage from its "Running stage" line to the next
    "Updating lock file" line; return (seconds by stage that ran, status of every stage, total seconds)."""
    started = time.perf_counter()
    process = subprocess.Popen(args, cwd=cwd, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, bufsize=1)
    seconds: dict[str, float] = {}
    status: dict[str, str] = {}
    current, since, lines = None, 0.0, []
    assert process.stdout is not None
    for line in process.stdout:
        now = time.perf_counter()
        lines.append(line)
        if match := RUNNING.match(line):
            current, since = match.group(1), now
            status[current] = "ran"
        elif current and line.startswith("Updating lock file"):
            seconds[current] = round(now - since, 2)
            current = None
        elif match := CACHED.match(line):
            status[match.group(1)] = "restored from the run-cache"
        elif match := SKIPPED.match(line):
            status[match.group(1)] = "unchanged"
    if process.wait():
        raise SystemExit(f"{' '.join(args)} failed ({process.returncode}):\n{''.join(lines)}")
    return seconds, status, round(time.perf_counter() - started, 2)


def reset(clone: Path) -> None:
    """Back to the reproduced default: params, lock and reports from git, the outputs from the DVC cache."""
    sh(["git", "checkout", "--quiet", "--", "."], clone)
    sh(["dvc", "checkout", "--quiet"], clone)


def judge(results: dict[str, dict]) -> dict[str, dict]:
    a = results["a_train_param"]
    train = a["seconds"].get("train")
    after = sum(a["seconds"].get(stage, 0.0) for stage in AFTER_TRAIN)
    goals = {"a_train_param": {
        "goal": f"evaluate + export-tflite + train-list + track <= {GOAL_A} x train",
        "after_train_seconds": round(after, 2), "train_seconds": train,
        "ratio": round(after / train, 3) if train else None, "met": bool(train) and after <= GOAL_A * train}}
    for name, expected in EXPECTED_RUNS.items():
        ran = {stage for stage, s in results[name]["status"].items() if s != "unchanged"}
        total = sum(results[name]["seconds"].values())
        goals[name] = {"goal": f"only {' and '.join(sorted(expected))} run", "ran": sorted(ran),
                       "training_stages_run": sorted(ran & set(TRAINING)), "seconds": round(total, 2),
                       "ratio_to_train_of_a": round(total / train, 3) if train else None, "met": ran == expected}
    return goals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the scratch clone (its path is printed)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="igfake-bench-experiment-"))
    clone = scratch / "igfake"
    load = {"before": os.getloadavg()}
    try:
        prepare(clone)
        results = {}
        for name, overrides in SCENARIOS.items():
            reset(clone)
            load[name] = os.getloadavg()
            seconds, status, total = timed_stages(["dvc", "exp", "run", "--name", name.replace("_", "-"), *overrides],
                                                  clone)
            results[name] = {"overrides": overrides[1::2], "seconds": seconds, "status": status, "total": total}
            print(f"{name}: {seconds} ({total:.1f} s in all)", flush=True)
        load["after"] = os.getloadavg()
    finally:
        if args.keep:
            print(f"scratch clone kept: {clone}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    goals = judge(results)
    report = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                          "nice": os.nice(0), "load_average_1_5_15": {k: [round(x, 2) for x in v]
                                                                      for k, v in load.items()}},
              "stage_seconds": results, "goals": goals}
    atomic.write_json(OUT, report)
    for name, goal in goals.items():
        detail = (f"ratio {goal['ratio']}" if "ratio" in goal else f"ran {', '.join(goal['ran'])}")
        print(f"{name}: {goal['goal']}: {detail}: {'met' if goal['met'] else 'MISSED'}")
    raise SystemExit(0 if all(g["met"] for g in goals.values()) else 1)


if __name__ == "__main__":
    main()
