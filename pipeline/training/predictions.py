"""The tables train writes for later stages: probabilities only, never a decision.

Train does not know the decision threshold: evaluate chooses it (``evaluate.threshold_rule``) and turns
these probabilities into decisions, so an evaluate-only change re-runs no training.

``data/predictions/predictions.parquet`` has one row per labelled profile: ``pk``, ``label``, its
``split`` on the fixed hold-out (train, valid or test), ``prob`` (what the shipped model outputs),
``logit`` (the shipped model's logit before its calibration, which the schema's ``igfake.calibration``
metadata describes: ``prob = sigmoid(scale * logit + shift)``, or the members' plain mean without one),
``prob_cv`` (the cross-validated probability: from the k-fold study's models that held the row out; NaN
without one), one ``prob_seed_<seed>`` column per seed member, then one ``prob_baseline_<model>`` column
per baseline (:mod:`pipeline.training.baselines`: fitted on the same training rows).
``data/predictions/scores.parquet`` has one row per (model, split, member seed, test row of that split):
every member's and baseline's P(authentic) on every split's test rows, the fixed hold-out's and each
k-fold split's (evaluate scores them: :mod:`pipeline.evaluation.splits`).
``data/predictions/holdout.parquet`` is the fixed hold-out alone (``pk``, ``split``): what the list-only
model trains on, so that it re-trains only when the rows change, not when the network does.
``data/predictions/history.parquet`` has one row per epoch of each member on each split, with the
training and validation loss. Kept apart from the study so that reading them needs no TensorFlow.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

SEED_COLUMN_PREFIX = "prob_seed_"
BASELINE_COLUMN_PREFIX = "prob_baseline_"
CALIBRATION_KEY = b"igfake.calibration"


def shipped_index(ship: str) -> slice | list[int]:
    """What ships (``train.ship``), as an index on the members axis: every member, averaged (``ensemble``),
    or member 0 alone (``seed``). The shipped model, its calibration, the cross-validated probabilities
    the audit's error rates come from and evaluate's re-seeding estimate all select by it. Here, beside the
    member columns it indexes, so that evaluate reads it without TensorFlow."""
    return slice(None) if ship == "ensemble" else [0]


def table(pks: np.ndarray, y: np.ndarray, valid: np.ndarray, test: np.ndarray, shipped: np.ndarray,
          member_seeds: Sequence[int], member_probs: np.ndarray,
          baseline_probs: Mapping[str, np.ndarray] | None = None,
          cross_validated: np.ndarray | None = None, shipped_logit: np.ndarray | None = None,
          calibration: Mapping[str, object] | None = None) -> pa.Table:
    """The table, from row indices of the validation and test rows (the rest are training rows);
    ``calibration`` (the fitted :class:`pipeline.training.calibration.Calibration` as a dict) goes to the metadata."""
    columns = {
        "pk": pa.array(pks, pa.int64()),
        "label": pa.array(y, pa.int8()),
        "split": pa.array(_roles(len(y), valid, test), pa.string()),
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


def _roles(n: int, valid: np.ndarray, test: np.ndarray) -> np.ndarray:
    role = np.full(n, "train", dtype=object)
    role[valid] = "valid"
    role[test] = "test"
    return role


def holdout(pks: np.ndarray, valid: np.ndarray, test: np.ndarray) -> pa.Table:
    """The fixed hold-out's rows: ``pk`` and ``split`` (train, valid or test), nothing fitted."""
    return pa.table({"pk": pa.array(pks, pa.int64()), "split": pa.array(_roles(len(pks), valid, test), pa.string())})


@dataclass(frozen=True)
class Scored:
    """One model's (or one member's) P(authentic) on the test rows of one split."""

    model: str
    split: str
    member_seed: int
    train_rows: int  # rows it was fitted on, validation slice included
    test: np.ndarray  # row indices of the split's test rows
    probs: np.ndarray  # P(authentic) of every row of the table (only ``test`` is kept)


def scores(scored: Sequence[Scored], pks: np.ndarray, y: np.ndarray, metadata: Mapping[str, object]) -> pa.Table:
    """``scores.parquet``: one row per (model, split, member seed, test row); ``metadata`` (the features'
    md5 and the split protocol) goes into the Parquet schema, so comparisons can tell whether two runs saw
    the same data under the same protocol."""
    sizes = [len(s.test) for s in scored]
    rows = np.concatenate([s.test for s in scored]) if scored else np.array([], dtype=int)
    schema = pa.schema([
        pa.field("model", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("member_seed", pa.int64(), nullable=False),
        pa.field("train_rows", pa.int64(), nullable=False),
        pa.field("pk", pa.int64(), nullable=False),
        pa.field("label", pa.int8(), nullable=False),
        # float64: the baselines' probabilities as scikit-learn gives them, the members' float32 exactly.
        pa.field("prob", pa.float64(), nullable=False),
    ], metadata={k: str(v) for k, v in metadata.items()})
    return pa.Table.from_arrays([
        pa.array(np.repeat([s.model for s in scored], sizes).astype(str)),
        pa.array(np.repeat([s.split for s in scored], sizes).astype(str)),
        pa.array(np.repeat([s.member_seed for s in scored], sizes), pa.int64()),
        pa.array(np.repeat([s.train_rows for s in scored], sizes), pa.int64()),
        pa.array(np.asarray(pks)[rows], pa.int64()),
        pa.array(np.asarray(y)[rows], pa.int8()),
        pa.array(np.concatenate([np.asarray(s.probs, np.float64)[s.test] for s in scored]) if scored else [],
                 pa.float64()),
    ], schema=schema)


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
