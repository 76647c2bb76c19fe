"""The split results: every model's and member's metrics on every split, at the model's own threshold.

Train writes probabilities (``data/predictions/scores.parquet``); evaluate, which owns the decision
threshold, scores them here and writes ``data/predictions/splits.parquet``: one row per (model, split,
member seed) with that member's accuracy, ROC AUC and log loss on that split's test rows. It is what
``igfake compare``, the quality gate and ``igfake baseline`` read. The Parquet schema's metadata carries
the features' md5 and the split protocol (from the scores) and the shipped model's threshold, so a
comparison can tell whether two runs saw the same data under the same protocol.

Every reader takes it through :func:`read`, which checks it at the edge (readable Parquet, these columns
and types, metrics finite and within the registry's range, one row per model, split and member seed), so
a damaged or foreign file is one line naming the file, the row and the field, never a traceback or a
verdict computed from garbage.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.core import paths
from pipeline.core.errors import InputError
from pipeline.evaluation import metrics
from pipeline.evaluation.metric_registry import METRICS, SPLIT_METRICS

# Every column and its type, as evaluate writes them: the one schema :func:`table` writes and :func:`read` checks.
TYPES: dict[str, pa.DataType] = {
    "model": pa.string(), "split": pa.string(), "split_digest": pa.string(),
    "member_seed": pa.int64(), "train_rows": pa.int64(), "test_rows": pa.int64(),
    **{name: pa.float64() for name in SPLIT_METRICS},
}
COLUMNS = tuple(TYPES)
KEY = ("model", "split", "member_seed")  # one row each
# The same for every member seed of one (model, split): the split's rows, not the member's.
PER_SPLIT = ("split_digest", "train_rows", "test_rows")


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
    schema = pa.schema([pa.field(name, kind, nullable=False) for name, kind in TYPES.items()],
                       metadata={k: str(v) for k, v in metadata.items()})
    # from_pydict, not from_pandas: no pandas metadata beside the protocol's.
    return pa.Table.from_pydict({c: frame[c].to_list() for c in COLUMNS}, schema=schema)


def protocol(scores_schema: pa.Schema, threshold: float) -> dict[str, str]:
    """The split results' metadata: the scores' (features md5, split protocol) and the shipped threshold."""
    metadata = {k.decode(): v.decode() for k, v in (scores_schema.metadata or {}).items()}
    return metadata | {"threshold": f"{threshold:g}"}


def read(source: Path | bytes, shown: str | None = None, fix: str | None = None) -> pa.Table:
    """The split results in ``source`` (a file, or its bytes from a revision), checked by :func:`check`.

    ``shown`` is how messages name it (default: the path as :func:`pipeline.core.paths.shown` shows it),
    ``fix`` what to run to get a good one (default: by the file, `dvc repro evaluate` or `igfake baseline`).
    """
    shown = shown or (paths.shown(source) if isinstance(source, Path) else "split results")
    fix = fix or _fix(shown)
    return check(read_parquet(source, shown, fix), shown, fix)


def read_parquet(source: Path | bytes, shown: str, fix: str) -> pa.Table:
    """Any Parquet table in ``source`` (a file, or its bytes from a revision), read whole and its strings
    decoded, or one line: ``<shown>: not a readable Parquet file (<why>); <fix>``. The split results, the
    features and the drift reference are all read through here."""
    try:
        table = pq.read_table(io.BytesIO(source) if isinstance(source, bytes) else source)
        # Reading checks no UTF-8: a damaged string (a value, a column name, the metadata) would surface later.
        table.validate(full=True)
        _decode_all(table.schema)
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:  # also decompression and thrift errors
        # pyarrow's message repeats the path: the reason is what follows it.
        reason = re.sub(r"^Could not open Parquet input source '.*?': ", "", str(exc).split("\n")[0])
        reason = reason or type(exc).__name__
        raise InputError(f"{shown}: not a readable Parquet file ({reason}); {fix}") from None
    return table


def _decode_all(schema: pa.Schema) -> None:
    """Decode the column names and the metadata (pyarrow keeps them as bytes until asked): UnicodeDecodeError
    here, not in whichever reader asks first."""
    metadata = schema.metadata or {}
    for raw in (*metadata, *metadata.values()):
        raw.decode()
    list(schema.names)


def _fix(shown: str) -> str:
    if shown.endswith(paths.shown(paths.BASELINE)):
        return "write the gate's baseline again from a good run with `igfake baseline`"
    return "rebuild it with `dvc repro evaluate`"


def check(table: pa.Table, shown: str, fix: str | None = None) -> pa.Table:
    """``table`` if it is split results as :func:`table` writes them, else an :class:`InputError` naming
    ``shown``, the column and the first bad row (its model, split and member seed) and ``fix``."""
    fix = fix or _fix(shown)

    def refuse(what: str) -> InputError:
        return InputError(f"{shown}: {what}; {fix}")

    names = table.schema.names
    for name, kind in TYPES.items():
        count = names.count(name)
        if count != 1:
            raise refuse(f"column {name} {'missing' if count == 0 else f'appears {count} times'} "
                         f"(expected columns: {', '.join(COLUMNS)})")
        found = table.schema.field(name).type
        if found != kind:
            raise refuse(f"column {name}: expected type {kind}, got {found}")
    for name in COLUMNS:
        nulls = table.column(name).is_null().to_numpy(zero_copy_only=False)
        if nulls.any():
            raise refuse(f"row {int(np.argmax(nulls))}: {name} is null")
    frame = table.select(list(COLUMNS)).to_pandas()

    def where(i: int) -> str:
        row = frame.iloc[i]
        return f"row {i} (model {row['model']!r}, split {row['split']!r}, member seed {row['member_seed']})"

    for name in ("train_rows", "test_rows"):
        bad = np.flatnonzero(frame[name].to_numpy() < 1)
        if len(bad):
            raise refuse(f"{where(bad[0])}: {name} {frame[name].iloc[bad[0]]}, expected at least 1")
    for name in SPLIT_METRICS:
        metric, values = METRICS[name], frame[name].to_numpy(float)
        bad = np.flatnonzero(~(np.isfinite(values) & (values >= metric.low) & (values <= metric.high)))
        if len(bad):
            value = values[bad[0]]
            problem = ("is not a number (NaN)" if np.isnan(value)
                       else f"{value:g} is outside its range [{metric.low:g}, {metric.high:g}]")
            raise refuse(f"{where(bad[0])}: {name} {problem}")
    twice = np.flatnonzero(frame.duplicated(list(KEY)))
    if len(twice):
        first = int(np.flatnonzero((frame[list(KEY)] == frame.iloc[twice[0]][list(KEY)]).all(axis=1))[0])
        raise refuse(f"{where(int(twice[0]))}: the same model, split and member seed as row {first}")
    for name in PER_SPLIT:
        varies = np.flatnonzero(frame[name].ne(frame.groupby(["model", "split"])[name].transform("first")))
        if len(varies):
            raise refuse(f"{where(int(varies[0]))}: {name} differs from the split's other member seeds")
    return table
