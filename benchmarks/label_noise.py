"""Benchmark: does the label-issues stage find labels flipped on purpose, and does fixing them pay?

Confident learning is evaluated this way: flip a known, seeded share of the labels (default 5%), compute
the out-of-fold probabilities as train does, flag the issues as the label-issues stage does, and compare the
flags with the flips. Per flip seed:

- precision and recall of the flags against the flips, for the stage's ``label_issues.filter_by`` and
  cleanlab's other usual filter, on three kinds of out-of-fold probabilities (each averaged over every
  k-fold repeat, :func:`pipeline.labelling.issues.out_of_fold`): the stage's (``label_issues.models``), the
  shipped MLP's alone and the random forest's alone (the issue's "plain self-confidence ranking of a forest"
  reference), plus the ranking alone: precision at as many rows as were flipped (precision = recall there)
  and the best precision at recall >= 0.8;
- the accuracy the flips cost and what re-labelling the flagged rows wins back: the shipped recipe fitted on
  the fixed hold-out's training rows with the clean, the flipped and the flipped-then-reviewed labels (a
  reviewer restores each flagged row's original label), scored against the original labels (and the
  simulator's truth) on the same test rows;
- the flags against the simulator's truth: on the unflipped data, how many of the simulated annotator's own
  mistakes (``label != truth``) the stage's flags catch.

The flips are made in the features table in-process rather than in an exported dump run through crawl,
label-import and featurize: featurize computes every feature from the profile alone and carries ``label``
through unchanged (:func:`pipeline.features.featurize`), so a dump with flipped labels yields exactly this
table; what runs on it is the train stage's own computation (:func:`pipeline.training.train.train`) and the
label-issues stage's (:func:`pipeline.labelling.issues.out_of_fold`, then ``find``). Reads
data/features/features.parquet and data/interim/labelled.parquet (run ``dvc repro featurize`` first);
writes reports/benchmarks/label_noise.json.

    python benchmarks/label_noise.py [--share 0.05] [--seeds 5]
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import features
from pipeline.core import atomic
from pipeline.core.params import load
from pipeline.core.progress import ProgressReporter
from pipeline.core.vocabulary import FOREST, LABEL_VALUE, SHIPPED
from pipeline.labelling import issues

ROOT = Path(__file__).resolve().parents[1]
FILTERS = ("confident_learning", "prune_by_noise_rate")
STAGE = "stage"  # the stage's probabilities: label_issues.models averaged
GOAL = 0.8  # precision and recall of the flags against the flips (issue 23)


def flags_vs(flagged: np.ndarray, wrong: np.ndarray) -> dict[str, Any]:
    hits = int(wrong[flagged].sum())
    return {"flagged": len(flagged), "hits": hits,
            "precision": round(hits / len(flagged), 4) if len(flagged) else None,
            "recall": round(hits / int(wrong.sum()), 4) if wrong.any() else None}


def ranking(given: np.ndarray, prob: np.ndarray, wrong: np.ndarray) -> dict[str, float]:
    """The self-confidence ranking alone, whatever cut cleanlab would choose."""
    order = np.argsort(issues.class_probabilities(prob)[np.arange(len(given)), given], kind="stable")
    hits = np.cumsum(wrong[order])
    k = int(wrong.sum())
    precision, recall = hits / np.arange(1, len(order) + 1), hits / k
    return {"precision_at_flips": round(float(precision[k - 1]), 4),
            "best_precision_at_recall_0.8": round(float(precision[recall >= GOAL].max()), 4)}


def detect(given: np.ndarray, probs: dict[str, np.ndarray], wrong: np.ndarray, pks: np.ndarray,
           stage_filter: str) -> tuple[dict[str, Any], np.ndarray]:
    """Every (probabilities, filter) pair's flags against ``wrong``; the stage's own flags (rows) too."""
    row_of = {int(pk): i for i, pk in enumerate(pks)}
    out: dict[str, Any] = {}
    stage_rows = np.array([], dtype=int)
    for source, prob in probs.items():
        out[source] = {"ranking": ranking(given, prob, wrong)}
        for filter_by in FILTERS:
            found = issues.find(pks, given, prob, filter_by, source)
            rows = np.array([row_of[i["pk"]] for i in found], dtype=int)
            out[source][filter_by] = flags_vs(rows, wrong)
            if source == STAGE and filter_by == stage_filter:
                stage_rows = rows
    return out, stage_rows


def out_of_fold(trained: Any, pks: np.ndarray, models: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The stage's out-of-fold probabilities and the MLP's and the forest's alone, row for row with ``pks``."""
    scores = trained.scores.to_pandas()
    out = {}
    for source, chosen in ((STAGE, models), (SHIPPED, (SHIPPED,)), (FOREST, (FOREST,))):
        oof = issues.out_of_fold(scores, chosen, "benchmark")
        out[source] = pd.Series(oof.prob, index=oof.pks).loc[pks].to_numpy(np.float64)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--share", type=float, default=0.05, help="share of the labels flipped (default 0.05)")
    parser.add_argument("--seeds", type=int, default=5, help="flip seeds 0..N-1 (default 5)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from pipeline.training import model as model_lib
    from pipeline.training import study
    from pipeline.training.train import train

    params = load(ROOT / "params.yaml")
    table = pq.read_table(ROOT / "data/features/features.parquet")
    labelled = pq.read_table(ROOT / "data/interim/labelled.parquet", columns=["pk", "truth"]).to_pandas()
    feature_set = params.featurize.feature_set
    pks = table.column("pk").to_numpy()
    original = table.column("label").to_numpy().astype(np.int64)
    truth = labelled.set_index("pk").loc[pks, "truth"].to_numpy().astype(np.int64)
    x, n = features.to_matrix(table, feature_set), len(original)
    log_columns = features.heavy_tailed_columns(feature_set)
    # One fixed hold-out (from the original labels) for every accuracy, so the label versions pair up.
    split = study.holdout(original.astype(np.float32), params.train.split.test_size,
                          params.train.recipe.validation_size, params.train.split.seed)
    seeds = study.member_seeds(params.train)
    quiet = ProgressReporter("benchmark", "splits", logging.getLogger("benchmark"), log_every_seconds=1e9)

    def run_train(labels: np.ndarray) -> Any:
        flipped_table = table.set_column(table.schema.get_field_index("label"), "label",
                                         pa.array(labels.astype(np.int8), pa.int8()))
        return train(table=flipped_table, params=params.train, feature_set=feature_set, features_md5="benchmark",
                     source=Path("benchmark"), progress=quiet)

    def accuracy(labels: np.ndarray) -> dict[str, float]:
        """The shipped recipe (the members' mean) fitted with ``labels``, at threshold 0.5 on the test rows:
        against those same labels (what evaluate would report), the original labels and the truth."""
        model_lib.make_deterministic(params.train.seed)  # as study.run starts, so reruns give the same numbers
        fit = study.fit_split(x, labels.astype(np.float32), split, seeds, params.train, log_columns)
        called = (fit.probs.mean(axis=0)[split.test] >= 0.5).astype(np.int64)
        return {"vs_its_labels": round(float((called == labels[split.test]).mean()), 4),
                "vs_original_labels": round(float((called == original[split.test]).mean()), 4),
                "vs_truth": round(float((called == truth[split.test]).mean()), 4)}

    started = time.perf_counter()
    clean_accuracy = accuracy(original)
    mistakes = original != truth
    settings = params.label_issues
    clean_probs = out_of_fold(run_train(original), pks, settings.models)
    truth_flags, _ = detect(original, clean_probs, mistakes, pks, settings.filter_by)
    # Do the simulator's own mistakes look like their label's class? The out-of-fold model's call on them.
    called = (clean_probs[STAGE] >= 0.5).astype(np.int64)
    against_truth = {
        "label_error_rate": round(float(mistakes.mean()), 4), "mistakes": int(mistakes.sum()),
        "flags": truth_flags,
        "mistakes_the_oof_model_calls_as_labelled": round(float((called[mistakes] == original[mistakes]).mean()), 4),
        "other_rows_the_oof_model_calls_as_labelled": round(float((called[~mistakes] == original[~mistakes]).mean()),
                                                            4),
    }

    runs = []
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        flip = np.zeros(n, bool)
        flip[rng.choice(n, round(args.share * n), replace=False)] = True
        given = np.where(flip, 1 - original, original)
        found, stage_rows = detect(given, out_of_fold(run_train(given), pks, settings.models), flip, pks,
                                   settings.filter_by)
        reviewed = given.copy()
        reviewed[stage_rows] = original[stage_rows]  # a reviewer restores each flagged row's original label
        runs.append({"seed": seed, "flips": int(flip.sum()),
                     "flipped_authentic": int((flip & (original == LABEL_VALUE["authentic"])).sum()),
                     "detection": found,
                     "accuracy": {"flipped": accuracy(given), "reviewed": accuracy(reviewed)}})
        stage = found[STAGE][settings.filter_by]
        acc = runs[-1]["accuracy"]
        print(f"seed {seed}: {stage['flagged']} flagged, precision {stage['precision']}, recall {stage['recall']}; "
              f"accuracy against its labels: flipped {acc['flipped']['vs_its_labels']}, reviewed "
              f"{acc['reviewed']['vs_its_labels']} (clean {clean_accuracy['vs_its_labels']})", flush=True)

    def mean(get: Any) -> float:
        return round(float(np.mean([get(r) for r in runs])), 4)

    summary: dict[str, Any] = {}
    for source in (STAGE, SHIPPED, FOREST):
        summary[source] = {f: {m: mean(lambda r, s=source, f=f, m=m: r["detection"][s][f][m])
                               for m in ("flagged", "precision", "recall")} for f in FILTERS}
        summary[source]["ranking"] = {m: mean(lambda r, s=source, m=m: r["detection"][s]["ranking"][m])
                                      for m in ("precision_at_flips", "best_precision_at_recall_0.8")}
    stage = summary[STAGE][settings.filter_by]
    def recovery(against: str) -> dict[str, Any]:
        clean = clean_accuracy[against]
        flipped = mean(lambda r: r["accuracy"]["flipped"][against])
        reviewed = mean(lambda r: r["accuracy"]["reviewed"][against])
        lost = clean - flipped
        return {"clean": clean, "flipped": flipped, "reviewed": reviewed, "lost": round(lost, 4),
                "won_back": round(reviewed - flipped, 4),
                # Only a loss beyond a test row's worth is worth a share.
                "won_back_share": round((reviewed - flipped) / lost, 4) if lost > 1 / len(split.test) else None}

    out = {
        "share": args.share, "rows": n, "flip_seeds": args.seeds, "test_rows": len(split.test),
        "stage": {"models": list(settings.models), "filter_by": settings.filter_by, "ranked_by": issues.RANKED_BY},
        "goal": {"precision": GOAL, "recall": GOAL,
                 "met": bool(stage["precision"] >= GOAL and stage["recall"] >= GOAL)},
        "mean": summary,
        # Means over the flip seeds: as evaluate would report it (each fit against the labels it was given,
        # test rows included), and the model's own quality (against the original labels, and the truth).
        "accuracy": {against: recovery(against) for against in ("vs_its_labels", "vs_original_labels", "vs_truth")},
        "against_truth": against_truth,
        "runs": runs,
        "seconds": round(time.perf_counter() - started, 1),
    }
    target = ROOT / "reports/benchmarks/label_noise.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_json(target, out, sort_keys=False)
    reported = out["accuracy"]["vs_its_labels"]
    print(f"stage ({' and '.join(settings.models)}, {settings.filter_by}): precision {stage['precision']}, recall "
          f"{stage['recall']} (goal {GOAL}/{GOAL}: {'met' if out['goal']['met'] else 'not met'}); reported accuracy "
          f"clean {reported['clean']}, flipped {reported['flipped']}, reviewed {reported['reviewed']} -> {target}")


if __name__ == "__main__":
    main()
