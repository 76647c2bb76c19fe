"""``igfake drift A B`` and the drift reference ``igfake baseline`` writes, in a project of its own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.cli import main
from pipeline.core import paths
from tests.conftest import project_at
from tests.validation.conftest import world_table

NO_FOLLOWERS = "follower_count"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with the repository's params, ``pipeline.core.paths`` pointed at it."""
    root = project_at(tmp_path / "p", monkeypatch)
    paths.BASELINE.parent.mkdir(parents=True)
    return root


def write_run(root: Path, table: pa.Table | None = None) -> pa.Table:
    """A run's features (a simulated world's) and its predictions (a seeded probability per row)."""
    table = world_table() if table is None else table
    features_path = root / "data" / "features" / "features.parquet"
    predictions_path = root / "data" / "predictions" / "predictions.parquet"
    for path in (features_path, predictions_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, features_path)
    prob = np.random.default_rng(0).random(table.num_rows)
    pq.write_table(pa.table({"pk": table.column("pk"), "prob": pa.array(prob)}), predictions_path)
    return table


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def test_baseline_writes_the_reference_and_drift_compares_the_workspace_with_it(project, capsys):
    table = write_run(project)
    from tests.evaluation.test_splits import GOOD

    paths.SPLIT_RESULTS.write_bytes(GOOD)
    assert main(["baseline"]) == 0
    assert "data/baseline/reference.parquet: drift reference (1260 rows)" in capsys.readouterr().out
    reference = pq.read_table(paths.REFERENCE)
    assert reference.column("pk").to_pylist() == table.column("pk").to_pylist()
    assert reference.column(NO_FOLLOWERS).to_pylist() == table.column(NO_FOLLOWERS).to_pylist()
    expected_prob = pq.read_table(paths.PREDICTIONS).column("prob").to_pylist()
    assert reference.column("prob").to_pylist() == expected_prob
    assert main(["drift"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("drift of workspace against data/baseline/reference.parquet: no drift;"), out
    assert "over 34 tests" in out  # 16 features and the score, within each label


def test_drift_names_a_broken_feature(project, tmp_path, capsys):
    before, after = tmp_path / "before.parquet", tmp_path / "after.parquet"
    pq.write_table(world_table(), before)
    pq.write_table(world_table(edit=lambda u: u.update(follower_count=0)), after)
    assert main(["drift", str(before), str(after)]) == 0
    out = capsys.readouterr().out
    assert "drift; drifted: follower_following_ratio, follower_count" in out.splitlines()[0]
    rows = {line.split()[0]: line.split()[-1] for line in out.splitlines()[3:]}
    assert rows[NO_FOLLOWERS] == "DRIFT" and rows["media_count"] == "ok"
    assert main(["drift", str(before), str(after), "--json"]) == 0
    import json

    report = json.loads(capsys.readouterr().out)
    assert report["drifted_features"] == ["follower_following_ratio", NO_FOLLOWERS]


@pytest.mark.parametrize(("args", "message"), [
    (["nowhere.parquet", "workspace"], "nowhere.parquet: no such file"),
    (["no-such-rev", "workspace"], "no-such-rev: neither a git revision nor a DVC experiment"),
    (["baseline", "workspace"], "baseline: data/baseline/reference.parquet not found; write it with `igfake baseline`"),
    (["workspace", "baseline"], "workspace: data/features/features.parquet not found; run `dvc repro` first"),
])
def test_bad_runs_are_one_line(project, capsys, args, message):
    assert main(["drift", *args]) == 2
    line = one_line(capsys)
    assert line.startswith(f"igfake drift: error: {message}"), line


def test_a_bad_features_file_is_one_line(project, tmp_path, capsys):
    good, text, partial = tmp_path / "good.parquet", tmp_path / "text.parquet", tmp_path / "partial.parquet"
    pq.write_table(world_table(), good)
    text.write_text("pk,label\n1,1\n")
    pq.write_table(world_table().drop_columns(["media_count"]), partial)
    assert main(["drift", str(good), str(text)]) == 2
    assert one_line(capsys).startswith(f"igfake drift: error: {text}: not a readable Parquet file")
    assert main(["drift", str(good), str(partial)]) == 2
    assert one_line(capsys) == f"igfake drift: error: {partial}: no column 'media_count' (feature set seed16)"
