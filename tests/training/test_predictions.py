"""The split results table: one row per (model, split, member seed), what comparisons pair up."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow.parquet as pq
import pytest

from pipeline.training import predictions, study
from tests.conftest import repo_section


@pytest.fixture(scope="module")
def small_study():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(120, 4)).astype(np.float32)
    y = (x[:, 0] + 0.7 * rng.normal(size=120) > 0).astype(np.float32)
    train = repo_section("train")
    params = dataclasses.replace(train, seeds=2, epochs=3,
                                 split=dataclasses.replace(train.split, folds=3, repeats=2))
    pks = np.arange(1000, 1120)
    return x, y, pks, params, study.run(x, y, params, [], 0.5)


def test_split_rows_hold_every_member_on_every_split(small_study, tmp_path):
    _, y, pks, params, result = small_study
    rows = study.split_rows(result, y, pks, 0.5)
    assert len(rows) == (1 + 3 * 2) * 2
    assert [r["split"] for r in rows[:2]] == ["holdout", "holdout"]
    assert {r["member_seed"] for r in rows} == {params.seed, params.seed + 1}
    # Each row's accuracy is that member's, on that split's test rows.
    fold = result.kfold[4]
    row = next(r for r in rows if r["split"] == fold.split.name and r["member_seed"] == params.seed + 1)
    expected = np.mean((fold.probs[1, fold.split.test] >= 0.5) == (y[fold.split.test] == 1))
    assert row["accuracy"] == pytest.approx(expected) and row["test_rows"] == len(fold.split.test)
    assert row["log_loss"] > 0 and 0 <= row["roc_auc"] <= 1

    # A split's digest names its test rows: shared by its members, different across splits.
    digests = {r["split"]: r["split_digest"] for r in rows}
    assert len(set(digests.values())) == len(digests) == 7
    assert digests["r0f1"] == predictions.split_digest(pks[result.kfold[1].split.test][::-1])

    path = tmp_path / "splits.parquet"
    pq.write_table(predictions.split_results(rows, {"features_md5": "abc", "split.folds": 3}), path)
    table = pq.read_table(path)
    assert table.schema.metadata[b"features_md5"] == b"abc"
    assert table.to_pylist() == rows
