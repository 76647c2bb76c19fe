"""Split results read back (:func:`pipeline.evaluation.splits.read`): a damaged or foreign table is one line
naming the file, the row and the field, exit status 2, through the real ``igfake compare`` and ``igfake
baseline``; never a traceback, a KeyError or a verdict computed from NaN or an accuracy of 1.7.

The expected rows are counted by hand from :func:`tests.evaluation.test_compare.results_table`: one row per
split (holdout, then r0f0 ... r1f4) and member seed (0-9), split-major, so row 12 is split r0f0, seed 2.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.cli import main
from pipeline.core import paths
from pipeline.core.errors import IgfakeError, InputError
from pipeline.evaluation import compare, splits
from pipeline.evaluation.metric_registry import METRICS
from tests.conftest import project_at
from tests.evaluation.test_compare import PROTOCOL, results_table


def parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


GOOD = parquet(results_table())


def edited(**cells: tuple[int, object]) -> bytes:
    """The good table with ``column=(row, value)`` set."""
    rows = results_table().to_pylist()
    for column, (row, value) in cells.items():
        rows[row][column] = value
    return parquet(splits.table(rows, PROTOCOL))


def loose(edit: Callable[[dict[str, list]], None]) -> bytes:
    """The good table's columns, edited, written with whatever types pyarrow infers (no schema imposed)."""
    columns = results_table().to_pydict()
    edit(columns)
    return parquet(pa.table(columns))


def _set(column: str, row: int, value: object) -> Callable[[dict[str, list]], None]:
    def edit(columns: dict[str, list]) -> None:
        columns[column][row] = value
    return edit


def _duplicate_row(columns: dict[str, list]) -> None:
    for values in columns.values():
        values.append(values[12])


# (id, the file's bytes, what the one line must say after the file's name)
CASES = [
    ("truncated", GOOD[: len(GOOD) // 2], "not a readable Parquet file (Parquet magic bytes not found in footer"),
    ("not parquet", b"model,split,accuracy\nmlp,holdout,0.93\n", "not a readable Parquet file ("),
    ("empty file", b"", "not a readable Parquet file (Parquet file size is 0 bytes)"),
    ("missing column", parquet(results_table().drop_columns(["roc_auc"])),
     "column roc_auc missing (expected columns: model, split, split_digest, member_seed, train_rows, test_rows, "
     "accuracy, roc_auc, log_loss)"),
    ("wrong type", loose(lambda c: c.update(accuracy=[str(v) for v in c["accuracy"]])),
     "column accuracy: expected type double, got string"),
    ("null cell", loose(_set("log_loss", 5, None)), "row 5: log_loss is null"),
    ("NaN accuracy", edited(accuracy=(12, math.nan)),
     "row 12 (model 'mlp', split 'r0f0', member seed 2): accuracy is not a number (NaN)"),
    ("accuracy 1.7", edited(accuracy=(12, 1.7)),
     "row 12 (model 'mlp', split 'r0f0', member seed 2): accuracy 1.7 is outside its range [0, 1]"),
    ("negative log loss", edited(log_loss=(20, -0.1)),
     "row 20 (model 'mlp', split 'r0f1', member seed 0): log_loss -0.1 is outside its range [0, inf]"),
    ("infinite log loss", edited(log_loss=(20, math.inf)),
     "row 20 (model 'mlp', split 'r0f1', member seed 0): log_loss inf is outside its range [0, inf]"),
    ("ROC AUC below 0", edited(roc_auc=(109, -0.5)),
     "row 109 (model 'mlp', split 'r1f4', member seed 9): roc_auc -0.5 is outside its range [0, 1]"),
    ("no test rows", edited(test_rows=(3, 0)),
     "row 3 (model 'mlp', split 'holdout', member seed 3): test_rows 0, expected at least 1"),
    ("duplicate rows", loose(_duplicate_row),
     "row 110 (model 'mlp', split 'r0f0', member seed 2): the same model, split and member seed as row 12"),
    ("seeds of one split on other rows", edited(split_digest=(13, "other")),
     "row 13 (model 'mlp', split 'r0f0', member seed 3): split_digest differs from the split's other member seeds"),
]
IDS = [c[0] for c in CASES]


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


@pytest.mark.parametrize(("content", "message"), [c[1:] for c in CASES], ids=IDS)
def test_compare_refuses_a_bad_table_in_one_line(tmp_path, capsys, content, message):
    good, bad = tmp_path / "good.parquet", tmp_path / "bad.parquet"
    good.write_bytes(GOOD)
    bad.write_bytes(content)
    for runs in ([str(good), str(bad)], [str(bad), str(good)]):
        assert main(["compare", *runs]) == 2
        line = one_line(capsys)
        assert line.startswith(f"igfake compare: error: {bad}: {message}"), line
        assert line.endswith("; rebuild it with `dvc repro evaluate`"), line


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with the repository's params, ``pipeline.core.paths`` pointed at it."""
    root = project_at(tmp_path / "p", monkeypatch)
    paths.SPLIT_RESULTS.parent.mkdir(parents=True)
    paths.BASELINE.parent.mkdir(parents=True)
    return root


HOLDOUT_ONLY = parquet(splits.table([r for r in results_table().to_pylist() if r["split"] == "holdout"], PROTOCOL))


@pytest.mark.parametrize(("content", "message"), [
    *[c[1:] for c in CASES],
    (HOLDOUT_ONLY, "workspace:mlp: 0 k-fold split(s); a comparison needs at least 2 (set train.split.repeats >= 1), "
                   "then `dvc repro` and `igfake baseline` again; data/baseline/splits.parquet is left as it was"),
], ids=[*IDS, "hold-out only"])
def test_baseline_refuses_to_make_a_bad_table_the_gates_baseline(project, capsys, content, message):
    old = parquet(results_table(noise_seed=7))
    paths.BASELINE.write_bytes(old)
    paths.SPLIT_RESULTS.write_bytes(content)
    assert main(["baseline"]) == 2
    line = one_line(capsys)
    prefix = "" if content is HOLDOUT_ONLY else "data/predictions/splits.parquet: "
    assert line.startswith(f"igfake baseline: error: {prefix}{message}"), line
    assert paths.BASELINE.read_bytes() == old
    assert sorted(p.name for p in paths.BASELINE.parent.iterdir()) == ["splits.parquet"]  # no temporary left


def test_baseline_copies_a_good_table_bit_for_bit(project, capsys):
    """What the reader accepts is written unchanged: the committed baseline stays the md5 dvc.lock names."""
    from tests.cli.test_drift import write_run  # the drift reference beside it needs the run's features

    write_run(project)
    paths.SPLIT_RESULTS.write_bytes(GOOD)
    assert main(["baseline"]) == 0
    assert paths.BASELINE.read_bytes() == GOOD
    assert capsys.readouterr().out.startswith("data/baseline/splits.parquet: baseline from workspace (110 rows)")


@pytest.mark.parametrize(("content", "message"), [c[1:] for c in CASES[:7]], ids=IDS[:7])
def test_a_bad_baseline_names_the_baseline_and_igfake_baseline(project, capsys, content, message):
    """The gate's baseline as `igfake compare baseline` (and evaluate, through the same reader) reads it."""
    paths.SPLIT_RESULTS.write_bytes(GOOD)
    paths.BASELINE.write_bytes(content)
    assert main(["compare", "baseline", "workspace"]) == 2
    line = one_line(capsys)
    assert line.startswith(f"igfake compare: error: data/baseline/splits.parquet: {message}"), line
    assert line.endswith("; write the gate's baseline again from a good run with `igfake baseline`"), line
    with pytest.raises(InputError, match=r"^data/baseline/splits\.parquet: "):
        splits.read(paths.BASELINE)  # the one line evaluate reads the baseline with


def test_a_good_table_reads_back_as_written():
    table = splits.read(GOOD, "good.parquet")
    assert table.equals(results_table()) and table.schema.metadata == results_table().schema.metadata


# Fuzzing: random damage to a valid table never ends in a traceback; what the reader accepts is a table a
# comparison can trust (every metric finite and within its range).
SMALL = results_table(seeds=range(2))
SMALL_BYTES = parquet(SMALL)
CELLS = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
                  st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8), st.binary(max_size=8))


@st.composite
def damaged_tables(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["bytes", "cells", "columns", "rows"]))
    if kind == "bytes":
        data = bytearray(SMALL_BYTES)
        for _ in range(draw(st.integers(1, 8))):
            at = draw(st.integers(0, len(data) - 1))
            data[at] = draw(st.integers(0, 255))
        return bytes(data[: draw(st.integers(0, len(data)))] if draw(st.booleans()) else data)
    columns = SMALL.to_pydict()
    names = list(columns)
    if kind == "cells":
        for _ in range(draw(st.integers(1, 4))):
            column = draw(st.sampled_from(names))
            columns[column][draw(st.integers(0, SMALL.num_rows - 1))] = draw(CELLS)
    elif kind == "columns":
        column = draw(st.sampled_from(names))
        action = draw(st.sampled_from(["drop", "rename", "as text", "as ints"]))
        values = columns.pop(column)
        if action == "rename":
            columns[draw(st.sampled_from(names))] = values
        elif action == "as text":
            columns[column] = [str(v) for v in values]
        elif action == "as ints":
            columns[column] = [int(v) if isinstance(v, float) and math.isfinite(v) else 0 for v in values]
    else:
        order = draw(st.lists(st.integers(0, SMALL.num_rows - 1), max_size=3 * SMALL.num_rows))
        columns = {k: [v[i] for i in order] for k, v in columns.items()}
    try:
        table = pa.table(columns)
    except (pa.ArrowException, OverflowError, TypeError):  # a column of mixed types: not a table at all
        return b"\x00"
    return parquet(table.replace_schema_metadata(SMALL.schema.metadata))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_tables())
def test_damaged_split_results_are_refused_or_trusted_never_a_traceback(data):
    try:
        run = compare.run_results(splits.read(data, "fuzz.parquet"), "fuzz")
    except IgfakeError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    for name in splits.SPLIT_METRICS:
        values = run.splits[name].to_numpy(float)
        assert np.isfinite(values).all() and (values >= METRICS[name].low).all() and (
            values <= METRICS[name].high).all()
    assert (run.splits["test_rows"] >= 1).all() and (run.splits["train_rows"] >= 1).all()
