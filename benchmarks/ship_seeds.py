"""Seed benchmark: how far the *shipped* model moves when it is trained again with other seeds.

    python benchmarks/ship_seeds.py [--redraws 10]

Evaluate estimates this on every run without training anything (``seeds_shipped`` in
``reports/evaluation.json``: the shipped members redrawn with replacement from the study's members). Here
it is measured: the shipped model of params.yaml (``train.ship``, ``train.calibration``, the preset in
force) is trained ``--redraws`` times on the fixed hold-out's training rows of ``data/features``, redraw
``r`` with member seeds ``train.seed + r * train.seeds + k`` (no seed shared between redraws), and scored on
the hold-out's test rows at ``evaluate.threshold`` (the fixed rule's threshold: a chosen one would move with
the seeds too). Beside it: evaluate's estimate, the one-member spread, and the ECE over all labelled rows
out of fold (``cross_validated``), the ECE that has rows enough to be measured (see docs/seed-variance.md).

Goals (issue 19): the shipped model's seed std of hold-out accuracy <= 0.005, its ECE <= 0.02.
Writes ``reports/benchmarks/ship_seeds.json`` (atomically); exit status 1 if a goal is missed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

import numpy as np
import pyarrow.parquet as pq

from pipeline import features
from pipeline.core import atomic, paths
from pipeline.core.params import load
from pipeline.evaluation import metrics

GOALS = {"accuracy_std": 0.005, "ece": 0.02}
OUT = paths.REPORTS / "benchmarks" / "ship_seeds.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redraws", type=int, default=10)
    args = parser.parse_args()
    from pipeline.training import model as model_lib
    from pipeline.training import study

    params = load()
    train, feature_set = params.train, params.featurize.feature_set
    threshold, bins = params.evaluate.threshold, params.evaluate.calibration_bins
    table = pq.read_table(paths.FEATURES)
    x = features.to_matrix(table, feature_set)
    y = table.column("label").to_numpy().astype(np.float32)
    split = study.holdout(y, train.split.test_size, train.recipe.validation_size, train.split.seed)
    y_test = y[split.test]
    redraws = []
    for r in range(args.redraws):
        seeded = dataclasses.replace(train, seed=train.seed + r * train.seeds)
        model_lib.make_deterministic(seeded.seed)
        started = time.perf_counter()
        fit = study.fit_split(x, y, split, study.member_seeds(seeded), seeded,
                              features.heavy_tailed_columns(feature_set))
        _, _, shipped = study.calibrate(y, fit, seeded)
        p = np.asarray(shipped, np.float64)[split.test]
        members = ((fit.probs[:, split.test] >= threshold) == (y_test == 1)).mean(axis=1)
        redraws.append({"first_member_seed": seeded.seed,
                        "accuracy": float(np.mean((p >= threshold) == (y_test == 1))),
                        "ece": metrics.expected_calibration_error(y_test, p, bins),
                        "member_accuracy_std": float(members.std()),
                        "seconds": round(time.perf_counter() - started, 1)})
        print(f"redraw {r}: seeds {seeded.seed}..{seeded.seed + train.seeds - 1} accuracy "
              f"{redraws[-1]['accuracy']:.3f} ECE {redraws[-1]['ece']:.4f}", flush=True)
    accuracy = np.array([d["accuracy"] for d in redraws])
    evaluation = json.loads(paths.EVALUATION.read_text(encoding="utf-8"))
    cv = evaluation.get("cross_validated")
    summary = {
        "redraws": len(redraws), "members": train.seeds, "ship": train.ship, "preset": train.preset,
        "test_rows": len(split.test), "threshold": threshold,
        "accuracy_std": float(accuracy.std(ddof=1)), "accuracy_mean": float(accuracy.mean()),
        "accuracy_range": [float(accuracy.min()), float(accuracy.max())],
        "holdout_ece_mean": float(np.mean([d["ece"] for d in redraws])),
        "holdout_ece_floor": evaluation.get("ece_floor"),
        "evaluate_estimate_accuracy_std": evaluation.get("seeds_shipped", {}).get("accuracy_std"),
        "one_member_accuracy_std": float(np.mean([d["member_accuracy_std"] for d in redraws])),
        "ece": cv["ece"]["value"] if cv else None,
        "ece_from": (f"cross-validated, {cv['rows']} labelled rows (reports/evaluation.json)" if cv
                     else "no k-fold study (train.split.repeats: 0): no ECE on rows enough"),
        "ece_floor": cv["ece_floor"] if cv else None,
    }
    met = {"accuracy_std": summary["accuracy_std"] <= GOALS["accuracy_std"],
           "ece": summary["ece"] is not None and summary["ece"] <= GOALS["ece"]}
    atomic.write_json(OUT, {"summary": summary, "goals": GOALS, "meets_goals": met, "redraws": redraws})
    print(f"shipped model over {len(redraws)} seed redraws: hold-out accuracy {summary['accuracy_mean']:.4f} "
          f"± {summary['accuracy_std']:.4f} (std; evaluate's estimate {summary['evaluate_estimate_accuracy_std']}; "
          f"one member {summary['one_member_accuracy_std']:.4f}); ECE {summary['ece']} ({summary['ece_from']})")
    print(f"goals met: {met}; wrote {OUT}")
    return 0 if all(met.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
