"""The tables train writes for later stages: every row's predictions, and every split's results.

``data/predictions/predictions.parquet`` has one row per labelled profile: ``pk``, ``label``, its
``split`` on the fixed hold-out (train, valid or test), ``prob`` (what the shipped model outputs),
``logit`` (the shipped model's logit before its calibration, which the schema's ``igfake.calibration``
metadata describes: ``prob = sigmoid(scale * logit + shift)``, or the members' plain mean without one),
``prob_cv`` (the cross-validated probability: from the k-fold study's models that held the row out; NaN
without one), one ``prob_seed_<seed>`` column per seed member, then one ``prob_baseline_<model>`` column
per baseline (:mod:`pipeline.training.baselines`: fitted on the same training rows).
``data/predictions/splits.parquet`` has one row per (model, split, member seed) of the study with that
member's test metrics on that split; ``data/predictions/history.parquet`` one row per epoch of each of
them, with the training and validation loss. Kept apart from the study so that reading them needs no
TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa

SEED_COLUMN_PREFIX = "prob_seed_"
BASELINE_COLUMN_PREFIX = "prob_baseline_"
CALIBRATION_KEY = b"igfake.calibration"


def table(pks: np.ndarray, y: np.ndarray, valid: np.ndarray, test: np.ndarray, shipped: np.ndarray,
          member_seeds: Sequence[int], member_probs: np.ndarray,
          baseline_probs: Mapping[str, np.ndarray] | None = None,
          cross_validated: np.ndarray | None = None, shipped_logit: np.ndarray | None = None,
          calibration: Mapping[str, object] | None = None) -> pa.Table:
    """The table, from row indices of the validation and test rows (the rest are training rows);
    ``calibration`` (the fitted :class:`pipeline.training.calibration.Calibration` as a dict) goes to the metadata."""
    role = np.full(len(y), "train", dtype=object)
    role[valid] = "valid"
    role[test] = "test"
    columns = {
        "pk": pa.array(pks, pa.int64()),
        "label": pa.array(y, pa.int8()),
        "split": pa.array(role, pa.string()),
        "prob": pa.array(shipped, pa.float32()),
        "logit": pa.array(np.full(len(y), np.nan) if shipped_logit is None else shipped_logit, pa.float64()),
        "prob_cv": pa.array(np.full(len(y), np.nan) if cross_validated is None else cross_validated, pa.float32()),
    }
    for seed, probs in zip(member_seeds, member_probs, strict=True):
        columns[f"{SEED_COLUMN_PREFIX}{seed}"] = pa.array(probs, pa.float32())
    for name, probs in (baseline_probs or {}).items():
        columns[f"{BASELINE_COLUMN_PREFIX}{name}"] = pa.array(probs, pa.float32())
    metadata = {CALIBRATION_KEY: json.dumps(dict(calibration), sort_keys=True)} if calibration else None
    return pa.table(columns, metadata=metadata)


def calibration(schema: pa.Schema) -> dict[str, object] | None:
    """The shipped model's calibration as train recorded it in the predictions' metadata (None: not recorded)."""
    raw = (schema.metadata or {}).get(CALIBRATION_KEY)
    return json.loads(raw) if raw else None


def seed_columns(column_names: Sequence[str]) -> dict[int, str]:
    """The per-member probability columns, by member seed."""
    return {int(c.removeprefix(SEED_COLUMN_PREFIX)): c for c in column_names if c.startswith(SEED_COLUMN_PREFIX)}


def baseline_columns(column_names: Sequence[str]) -> dict[str, str]:
    """The baselines' probability columns, by model name."""
    return {c.removeprefix(BASELINE_COLUMN_PREFIX): c for c in column_names if c.startswith(BASELINE_COLUMN_PREFIX)}


SPLIT_METRICS = ("accuracy", "roc_auc", "log_loss")


def split_digest(pks: np.ndarray) -> str:
    """Which rows a split tests on, as a short hash: two runs pair up split by split only where these agree."""
    return hashlib.sha256(np.sort(np.asarray(pks, np.int64)).tobytes()).hexdigest()[:16]


def split_results(rows: Sequence[Mapping[str, object]], metadata: Mapping[str, str]) -> pa.Table:
    """One row per (model, split, member seed): the split's name and digest, its sizes and test metrics.

    ``metadata`` (e.g. the features' md5 and the split protocol) goes into the Parquet schema, so a
    comparison can tell whether two runs saw the same data under the same protocol.
    """
    schema = pa.schema([
        pa.field("model", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("split_digest", pa.string(), nullable=False),
        pa.field("member_seed", pa.int64(), nullable=False),
        pa.field("train_rows", pa.int64(), nullable=False),
        pa.field("test_rows", pa.int64(), nullable=False),
        *(pa.field(name, pa.float64(), nullable=False) for name in SPLIT_METRICS),
    ], metadata={k: str(v) for k, v in metadata.items()})
    return pa.Table.from_pylist(list(rows), schema=schema)


def history(rows: Sequence[Mapping[str, object]]) -> pa.Table:
    """One row per (model, split, member seed, epoch): the loss curves, and the epoch the member kept."""
    schema = pa.schema([
        pa.field("model", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("member_seed", pa.int64(), nullable=False),
        pa.field("epoch", pa.int32(), nullable=False),
        pa.field("loss", pa.float64(), nullable=False),
        pa.field("val_loss", pa.float64(), nullable=False),  # NaN without a validation slice
        pa.field("best_epoch", pa.int32(), nullable=False),
    ])
    return pa.Table.from_pylist(list(rows), schema=schema)
