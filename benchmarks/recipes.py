"""Benchmark: every ``train.preset`` recipe on three simulated worlds, each with the pipeline's full protocol.

Issue 19's claim, that the shipped model matches the strongest baseline, must hold beyond the world it was
tuned on. The worlds: the default (``simulator.seed`` 2019, the calibration's class mix), another seed
(``simulator.seed`` 7) and another class mix (``simulator.authentic_share`` 0.6, against the default 0.34).
Every (world, recipe) pair is a real ``dvc exp run`` in a scratch clone of this repository's HEAD that
shares its DVC cache: crawl, label-import, featurize, train, evaluate, export-tflite, train-list and track,
queued and run ``--jobs`` at a time by ``dvc queue start``, as a user's sweep runs. Of each experiment:

- the k-fold accuracy with its interval (``reports/metrics.json``);
- the MLP against every baseline over the repeated k-fold splits (``igfake compare EXP --model <baseline>
  --against mlp``: paired, at ``compare.alpha``), accuracy and ROC AUC each with its verdict; ``worse`` on
  either is what the issue forbids;
- the members' seed std of the hold-out accuracy, the shipped model's ECE (``reports/variance.json``,
  ``reports/evaluation.json``);
- TFLite parity (``reports/export.json``) and ``igfake predict``'s cold start on 10 profiles with the
  experiment's model (median of 3 cold processes; the same for every recipe of one size).

Writes ``reports/benchmarks/recipes.json`` and prints the docs' table (docs/seed-variance.md). About 15
minutes on 2 cores, 7 when DVC's run-cache already holds the experiments' stages.

    python benchmarks/recipes.py [--jobs 2] [--recipes ple,stable,article] [--worlds default,seed-7,mix-0.6]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from scratch import ROOT, prepare, sh  # benchmarks/scratch.py: this script's folder

from pipeline.core import atomic
from pipeline.core.vocabulary import BASELINES, SHIPPED
from pipeline.evaluation import sources

OUT = ROOT / "reports" / "benchmarks" / "recipes.json"
WORLDS = {"default": [], "seed-7": ["simulator.seed=7"], "mix-0.6": ["simulator.authentic_share=0.6"]}
RECIPES = ("ple", "stable", "article")
METRICS = ("accuracy", "roc_auc")  # the verdicts the issue asks for, MLP against each baseline


def run_queue(clone: Path, names: dict[str, list[str]], jobs: int) -> None:
    for name, sets in names.items():
        sh(["dvc", "exp", "run", "--queue", "--name", name, *[a for s in sets for a in ("-S", s)]], clone)
    sh(["dvc", "queue", "start", "--jobs", str(jobs)], clone)
    while True:
        status = sh(["dvc", "queue", "status"], clone).stdout
        if not any(word in status for word in (" Queued", " Running")):
            break
        time.sleep(10)
    # `dvc queue status`: Task, Name, Created, Status per line.
    failed = [line.split()[1] for line in status.splitlines() if line.split()[-1:] == ["Failed"]]
    if failed:
        logs = "\n".join(sh(["dvc", "queue", "logs", name], clone, check=False).stdout[-3000:] for name in failed)
        raise SystemExit(f"experiments failed: {', '.join(failed)}\n{logs}")


def shown(clone: Path, name: str, path: str) -> dict[str, Any]:
    """A JSON report of experiment ``name``: from its commit (``cache: false`` outputs) or DVC's cache."""
    ref = sh(["git", "for-each-ref", "--format=%(objectname)", f"refs/exps/*/*/{name}"], clone).stdout.split()
    if len(ref) != 1:
        raise SystemExit(f"{name}: expected one experiment ref, found {len(ref)}")
    committed = sources.git_show(ref[0], path, clone)
    if committed is None:
        committed, why = sources.revision_bytes(path, ref[0], clone)
        if committed is None:
            raise SystemExit(f"{name}: {path} is neither in its commit nor in DVC's cache ({why})")
    return json.loads(committed)


def comparisons(clone: Path, name: str, baselines: list[str]) -> dict[str, dict[str, Any]]:
    out = {}
    for baseline in baselines:
        result = json.loads(sh(["igfake", "compare", name, "--model", baseline, "--against", SHIPPED, "--json"],
                               clone).stdout)
        by_metric = {m["metric"]: m for m in result["metrics"]}
        out[baseline] = {metric: {"difference": by_metric[metric]["difference"],
                                  "interval": [by_metric[metric]["low"], by_metric[metric]["high"]],
                                  "verdict": by_metric[metric]["verdict"]} for metric in METRICS}
    return out


def cold_start(clone: Path, name: str, records: Path, repeats: int = 3) -> float:
    """Median wall seconds of ``igfake predict`` on ``records`` with the experiment's TFLite model."""
    sh(["dvc", "exp", "apply", name], clone)
    sh(["dvc", "checkout", "--quiet", "models/model.tflite"], clone, check=False)
    model = clone / "models" / "model.tflite"
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        sh(["igfake", "predict", str(records), "--model", str(model), "-o", str(records.with_suffix(".out"))], clone)
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 3)


def row(clone: Path, name: str, records: Path) -> dict[str, Any]:
    metrics = shown(clone, name, "reports/metrics.json")
    variance = shown(clone, name, "reports/variance.json")
    exported = shown(clone, name, "reports/export.json")
    baselines = sorted(metrics.get("baselines", {}), key=BASELINES.index)
    compared = comparisons(clone, name, baselines)
    worse = sorted(f"{b}/{m}" for b, c in compared.items() for m, v in c.items() if v["verdict"] == "worse")
    best = max(baselines, key=lambda b: metrics["baselines"][b]["kfold_mean"]) if baselines else None
    return {
        "kfold": metrics["kfold"], "holdout_accuracy": metrics["accuracy"],
        "against": compared, "best_baseline": best, "worse": worse,
        "seed_std": round(variance["holdout"]["init_std"], 4), "ece": round(metrics["ece"], 4),
        "tflite": {"max_abs_diff": exported["max_abs_diff"], "agrees": exported["agrees"],
                   "bytes": exported["tflite_bytes"]},
        "predict_cold_start_seconds": cold_start(clone, name, records),
    }


def table(results: dict[str, dict[str, dict[str, Any]]]) -> str:
    lines = ["| world | recipe | k-fold accuracy [95%] | MLP - best baseline (k-fold) | worse on | seed std | ECE | "
             "TFLite max diff | predict cold start |", "|---|---|---|---|---|---|---|---|---|"]
    for world, recipes in results.items():
        for recipe, r in recipes.items():
            k = r["kfold"]
            best = r["best_baseline"]
            diff = r["against"][best]["accuracy"] if best else None
            versus = (f"{best}: {100 * diff['difference']:+.1f} [{100 * diff['interval'][0]:+.1f}, "
                      f"{100 * diff['interval'][1]:+.1f}], {diff['verdict']}") if diff and diff["interval"] else "-"
            lines.append(f"| {world} | {recipe} | {k['mean']:.3f} [{k['ci_low']:.3f}, {k['ci_high']:.3f}] | {versus} | "
                         f"{', '.join(r['worse']) or 'nothing'} | {r['seed_std']:.4f} | {r['ece']:.3f} | "
                         f"{r['tflite']['max_abs_diff']:.1e} | {r['predict_cold_start_seconds']:.2f} s |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="experiments run at once (dvc queue start --jobs)")
    parser.add_argument("--recipes", default=",".join(RECIPES), help="train.preset values, comma-separated")
    parser.add_argument("--worlds", default=",".join(WORLDS), help=f"of {', '.join(WORLDS)}, comma-separated")
    parser.add_argument("--keep", action="store_true", help="keep the scratch clone (its path is printed)")
    args = parser.parse_args()
    recipes, worlds = args.recipes.split(","), args.worlds.split(",")
    unknown = sorted(set(worlds) - set(WORLDS))
    if unknown:
        raise SystemExit(f"--worlds: unknown {unknown}; known: {', '.join(WORLDS)}")
    scratch = Path(tempfile.mkdtemp(prefix="igfake-bench-recipes-"))
    clone = scratch / "igfake"
    started = time.perf_counter()
    try:
        prepare(clone)
        names = {f"{world}-{recipe}": [*WORLDS[world], f"train.preset={recipe}"]
                 for world in worlds for recipe in recipes}
        run_queue(clone, names, args.jobs)
        records = scratch / "ten.jsonl"  # ten crawled profiles: what predict's cold start is timed on
        records.write_text("".join((clone / "data" / "raw" / "profiles.jsonl").read_text().splitlines(True)[:10]))
        results = {world: {recipe: row(clone, f"{world}-{recipe}", records) for recipe in recipes}
                   for world in worlds}
    finally:
        if args.keep:
            print(f"scratch clone kept: {clone}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    report = {"worlds": {w: WORLDS[w] for w in worlds}, "recipes": recipes, "jobs": args.jobs,
              "cpus": os.cpu_count(), "seconds": round(time.perf_counter() - started, 1), "results": results,
              "no_worse_verdict": {w: {r: not v["worse"] for r, v in rs.items()} for w, rs in results.items()}}
    atomic.write_json(OUT, report)
    print(table(results))
    print(f"-> {OUT}")


if __name__ == "__main__":
    main()
