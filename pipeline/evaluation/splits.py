"""The split results: every model's and member's metrics on every split, at the model's own threshold.

Train writes probabilities (``data/predictions/scores.parquet``); evaluate, which owns the decision
threshold, scores them here and writes ``data/predictions/splits.parquet``: one row per (model, split,
member seed) with that member's accuracy, ROC AUC and log loss on that split's test rows. It is what
``igfake compare``, the quality gate and ``igfake baseline`` read. The Parquet schema's metadata carries
the features' md5 and the split protocol (from the scores) and the shipped model's threshold, so a
comparison can tell whether two runs saw the same data under the same protocol.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.core.errors import InputError
from pipeline.evaluation import metrics
from pipeline.evaluation.metric_registry import SPLIT_METRICS

COLUMNS = ("model", "split", "split_digest", "member_seed", "train_rows", "test_rows", *SPLIT_METRICS)


def split_digest(pks: np.ndarray) -> str:
    """Which rows a split tests on, as a short hash: two runs pair up split by split only where these agree."""
    return hashlib.sha256(np.sort(np.asarray(pks, np.int64)).tobytes()).hexdigest()[:16]


def results(scores: pd.DataFrame, thresholds: Mapping[str, float]) -> pd.DataFrame:
    """One row per (model, split, member seed) of ``scores``, in their order, with the test metrics at the
    model's threshold (``thresholds``, by model)."""
    missing = sorted(set(scores["model"]) - set(thresholds))
    if missing:
        raise InputError(f"scores.parquet: model(s) {', '.join(missing)} have no probability column in "
                         "predictions.parquet (train's outputs out of step: run dvc repro train)")
    rows = []
    for (model, split, seed), group in scores.groupby(["model", "split", "member_seed"], sort=False):
        rows.append({"model": model, "split": split, "split_digest": split_digest(group["pk"].to_numpy()),
                     "member_seed": int(seed), "train_rows": int(group["train_rows"].iloc[0]),
                     "test_rows": len(group),
                     **metrics.split_metrics(group["label"].to_numpy(), group["prob"].to_numpy(), thresholds[model])})
    return pd.DataFrame(rows, columns=list(COLUMNS))


def table(frame: pd.DataFrame | Sequence[Mapping[str, object]], metadata: Mapping[str, object]) -> pa.Table:
    """``splits.parquet`` from :func:`results` (or rows of :data:`COLUMNS`); ``metadata`` goes into the
    Parquet schema."""
    if not isinstance(frame, pd.DataFrame):
        frame = pd.DataFrame(list(frame), columns=list(COLUMNS))
    schema = pa.schema([
        pa.field("model", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("split_digest", pa.string(), nullable=False),
        pa.field("member_seed", pa.int64(), nullable=False),
        pa.field("train_rows", pa.int64(), nullable=False),
        pa.field("test_rows", pa.int64(), nullable=False),
        *(pa.field(name, pa.float64(), nullable=False) for name in SPLIT_METRICS),
    ], metadata={k: str(v) for k, v in metadata.items()})
    # from_pydict, not from_pandas: no pandas metadata beside the protocol's.
    return pa.Table.from_pydict({c: frame[c].to_list() for c in COLUMNS}, schema=schema)


def protocol(scores_schema: pa.Schema, threshold: float) -> dict[str, str]:
    """The split results' metadata: the scores' (features md5, split protocol) and the shipped threshold."""
    metadata = {k.decode(): v.decode() for k, v in (scores_schema.metadata or {}).items()}
    return metadata | {"threshold": f"{threshold:g}"}
