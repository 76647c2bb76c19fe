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

INTERIM = DATA / "interim"
LABELLED = INTERIM / "labelled.parquet"
LABEL_QUARANTINE = INTERIM / "label_quarantine.jsonl"

# Annotators' label files (igfake label writes <annotator>.csv): user input, tracked by git.
LABELS_DIR = DATA / "labels"

FEATURES_DIR = DATA / "features"
FEATURES = FEATURES_DIR / "features.parquet"
FEATURE_SPEC = FEATURES_DIR / "feature_spec.json"

PREDICTIONS = DATA / "predictions" / "predictions.parquet"
# Every (model, split, member seed) of the study with its test metrics: what comparisons pair up.
SPLIT_RESULTS = DATA / "predictions" / "splits.parquet"
# The gate's baseline: a copy of an accepted run's split results, tracked by git (`igfake baseline` writes it).
BASELINE = DATA / "baseline" / "splits.parquet"

MODELS = ROOT / "models"
KERAS_MODEL = MODELS / "model.keras"
TFLITE_MODEL = MODELS / "model.tflite"

REPORTS = ROOT / "reports"
CRAWL_REPORT = REPORTS / "crawl.json"
LABELS_REPORT = REPORTS / "labels.json"
VARIANCE = REPORTS / "variance.json"
METRICS = REPORTS / "metrics.json"
CONFUSION = REPORTS / "confusion.txt"
EXPORT_REPORT = REPORTS / "export.json"
GATE = REPORTS / "gate.json"
CI_REPORT = REPORTS / "ci.md"
PLOTS = REPORTS / "plots"
ROC_PLOT = PLOTS / "roc.csv"
CONFUSION_PLOT = PLOTS / "confusion.csv"
ROC_PNG = PLOTS / "roc.png"
CONFUSION_PNG = PLOTS / "confusion.png"
SEED_ACCURACY_PLOT = PLOTS / "seed_accuracy.csv"
SEED_HISTOGRAM_PLOT = PLOTS / "seed_histogram.csv"
SEED_HISTOGRAM_PNG = PLOTS / "seed_histogram.png"


def tracking_root() -> Path:
    """Where ``mlflow.db`` and ``mlruns/`` live: the parent repository, even under ``dvc exp run --queue``."""
    dvc_root = os.environ.get("DVC_ROOT")
    return Path(dvc_root).resolve() if dvc_root else ROOT
