"""Every path the pipeline reads or writes, defined once.

Stage paths are relative to the project root, the directory holding ``dvc.yaml``: DVC runs each stage
there, including in the temporary workspaces of ``dvc exp run --queue``. The MLflow store is the one
exception: it must outlive those temporary workspaces, so it is resolved from ``DVC_ROOT`` (which DVC
points at the parent repository even for queued experiments).
"""

from __future__ import annotations

import os
from pathlib import Path


def find_root(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` (default: the working directory) holding dvc.yaml."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "dvc.yaml").is_file():
            return candidate
    return here


ROOT = find_root()

PARAMS = ROOT / "params.yaml"

DATA = ROOT / "data"
RAW = DATA / "raw"
RAW_PROFILES = RAW / "profiles.jsonl"
RAW_GRAPH = RAW / "graph.jsonl"
RAW_QUARANTINE = RAW / "quarantine.jsonl"
# The crawl's resume cache: answers of an unfinished crawl, kept until its outputs are written (git- and
# dvc-ignored: it is neither input nor output, and DVC must not cache a half-finished crawl).
CRAWL_CACHE = DATA / "cache" / "crawl"
# Journals of stages whose outputs are replaced together (pipeline.core.atomic.together), one per stage.
COMMITS = DATA / "cache" / "commits"

INTERIM = DATA / "interim"
LABELLED = INTERIM / "labelled.parquet"
LABEL_QUARANTINE = INTERIM / "label_quarantine.jsonl"

# Annotators' label files (igfake label writes <annotator>.csv): user input, tracked by git.
LABELS_DIR = DATA / "labels"

FEATURES_DIR = DATA / "features"
FEATURES = FEATURES_DIR / "features.parquet"
FEATURE_SPEC = FEATURES_DIR / "feature_spec.json"

PREDICTIONS = DATA / "predictions" / "predictions.parquet"
# Every member's and baseline's P(authentic) on every split's test rows (train: probabilities, no decisions).
SCORES = DATA / "predictions" / "scores.parquet"
# The fixed hold-out's rows alone (pk, split): what train-list trains on, unchanged when only the network changes.
HOLDOUT = DATA / "predictions" / "holdout.parquet"
# Every (model, split, member seed) with its test metrics at the model's threshold (written by evaluate, which
# chooses the threshold): what comparisons and the gate pair up.
SPLIT_RESULTS = DATA / "predictions" / "splits.parquet"
# Every member's loss curves on every split.
HISTORY = DATA / "predictions" / "history.parquet"
# The gate's baseline: a copy of an accepted run's split results, tracked by git (`igfake baseline` writes it).
BASELINE = DATA / "baseline" / "splits.parquet"
# The drift reference beside it: the accepted run's features (and its shipped model's probability), at most
# drift.reference_rows rows; `igfake baseline` writes both.
REFERENCE = DATA / "baseline" / "reference.parquet"

MODELS = ROOT / "models"
KERAS_MODEL = MODELS / "model.keras"
TFLITE_MODEL = MODELS / "model.tflite"
# The audit's list-only model and its card (feature set, threshold, test quality; stage train-list).
LIST_TFLITE_MODEL = MODELS / "list_model.tflite"
AUDIT_CARD = MODELS / "audit.json"
# The shipped model's decision: the threshold evaluate chose and the error rates at it. Beside the model it
# applies to; igfake predict, igfake audit, the report and the registered MLflow model read it.
DECISION = MODELS / "decision.json"
# `igfake audit`'s resume cache (git- and dvc-ignored), deleted once an audit finishes.
AUDIT_CACHE = DATA / "cache" / "audit"

REPORTS = ROOT / "reports"
CRAWL_REPORT = REPORTS / "crawl.json"
LABELS_REPORT = REPORTS / "labels.json"
# The labels most likely wrong, worst first (stage label-issues): what `igfake label --review` shows first.
LABEL_ISSUES = REPORTS / "label_issues.json"
VARIANCE = REPORTS / "variance.json"
# When each split's fit started and how long it took: differs run to run, so no DVC metric.
TRAIN_TIMING = REPORTS / "train_timing.json"
# Which MLflow run the track stage logged this pipeline run as.
MLFLOW_RUN = DATA / "tracking" / "mlflow_run.json"
# The headline, the pipeline's one DVC metric (what `dvc exp show` leads with); everything evaluate
# measured, with intervals, baselines and comparisons, is in EVALUATION.
METRICS = REPORTS / "metrics.json"
EVALUATION = REPORTS / "evaluation.json"
CONFUSION = REPORTS / "confusion.txt"
# Per-slice accuracy with intervals, the offline report (images inline) and the model card.
SLICES = REPORTS / "slices.json"
REPORT_HTML = REPORTS / "report.html"
MODEL_CARD = REPORTS / "model_card.md"
EXPORT_REPORT = REPORTS / "export.json"
LIST_MODEL_REPORT = REPORTS / "list_model.json"
GATE = REPORTS / "gate.json"
# Stage validate: the features against the reference, per feature, the label prior and the model's scores.
DRIFT = REPORTS / "drift.json"
CI_REPORT = REPORTS / "ci.md"
# DVC plot data (<plot>.csv) and the same plots as PNGs, one pair per plot of pipeline.reporting.plot_registry.
PLOTS = REPORTS / "plots"


def shown(path: Path) -> str:
    """``path`` as messages show it: relative to the project root when inside it."""
    path = Path(path)
    return path.relative_to(ROOT).as_posix() if path.is_absolute() and path.is_relative_to(ROOT) else str(path)


def commit_journal(stage: str) -> Path:
    """The journal of ``stage``'s outputs while they are being replaced together."""
    return COMMITS / f"{stage}.json"


def tracking_root() -> Path:
    """Where ``mlflow.db`` and ``mlruns/`` live: the parent repository, even under ``dvc exp run --queue``."""
    dvc_root = os.environ.get("DVC_ROOT")
    return Path(dvc_root).resolve() if dvc_root else ROOT
