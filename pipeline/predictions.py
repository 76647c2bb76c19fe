"""The predictions table train writes (``data/predictions/predictions.parquet``) and later stages read.

One row per labelled profile: ``pk``, ``label``, its ``split`` on the fixed hold-out (train, valid or
test), ``prob`` (what the shipped model outputs), ``prob_cv`` (the cross-validated probability: from the
k-fold study's models that held the row out; NaN without one) and one ``prob_seed_<seed>`` column per
seed member.
Kept apart from the study so that reading it needs no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

SEED_COLUMN_PREFIX = "prob_seed_"


def table(pks: np.ndarray, y: np.ndarray, valid: np.ndarray, test: np.ndarray, shipped: np.ndarray,
          member_seeds: Sequence[int], member_probs: np.ndarray, cross_validated: np.ndarray | None = None) -> pa.Table:
    """The table, from row indices of the validation and test rows (the rest are training rows)."""
    role = np.full(len(y), "train", dtype=object)
    role[valid] = "valid"
    role[test] = "test"
    columns = {
        "pk": pa.array(pks, pa.int64()),
        "label": pa.array(y, pa.int8()),
        "split": pa.array(role, pa.string()),
        "prob": pa.array(shipped, pa.float32()),
        "prob_cv": pa.array(np.full(len(y), np.nan) if cross_validated is None else cross_validated, pa.float32()),
    }
    for seed, probs in zip(member_seeds, member_probs, strict=True):
        columns[f"{SEED_COLUMN_PREFIX}{seed}"] = pa.array(probs, pa.float32())
    return pa.table(columns)


def seed_columns(column_names: Sequence[str]) -> dict[int, str]:
    """The per-member probability columns, by member seed."""
    return {int(c.removeprefix(SEED_COLUMN_PREFIX)): c for c in column_names if c.startswith(SEED_COLUMN_PREFIX)}
