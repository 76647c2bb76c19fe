"""What train writes (probabilities on every split) and the split results evaluate makes of them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow.parquet as pq
import pytest

from pipeline.evaluation import splits
from pipeline.training import predictions, study
from tests.conftest import repo_params


@pytest.fixture(scope="module")
def small_study():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(120, 4)).astype(np.float32)
    y = (x[:, 0] + 0.7 * rng.normal(size=120) > 0).astype(np.float32)
    train = repo_params().train
    params = dataclasses.replace(train, seeds=2, epochs=3,
                                 split=dataclasses.replace(train.split, folds=3, repeats=2))
    pks = np.arange(1000, 1120)
    return x, y, pks, params, study.run(x, y, params, [])


def test_scores_hold_every_member_on_every_split_and_evaluate_scores_them_at_its_threshold(small_study, tmp_path):
    """Train writes probabilities only (scores.parquet); evaluate's split results turn them into decisions at
    the threshold it chooses: accuracy moves with the threshold, ROC AUC and log loss do not."""
    _, y, pks, params, result = small_study
    scores = predictions.scores(study.scored(result), pks, y, {"features_md5": "abc", "split.folds": 3})
    assert scores.schema.metadata[b"features_md5"] == b"abc"
    frame = scores.to_pandas()
    # Every member on every split's test rows, nothing else: (1 + 3 x 2 splits) x 2 members x their test rows.
    expected_rows = sum(len(f.split.test) for f in (result.holdout, *result.kfold)) * 2
    assert len(frame) == expected_rows and set(frame["member_seed"]) == {params.seed, params.seed + 1}
    fold = result.kfold[4]
    mine = frame[(frame["split"] == fold.split.name) & (frame["member_seed"] == params.seed + 1)]
    assert mine["pk"].tolist() == pks[fold.split.test].tolist()
    np.testing.assert_array_equal(mine["prob"].to_numpy(), fold.probs[1, fold.split.test].astype(np.float64))
    assert mine["label"].tolist() == y[fold.split.test].astype(int).tolist()
    assert (mine["train_rows"] == len(fold.split.train) + len(fold.split.valid)).all()

    rows = splits.results(frame, {"mlp": 0.5})
    assert len(rows) == (1 + 3 * 2) * 2 and rows["split"].tolist()[:2] == ["holdout", "holdout"]
    row = rows[(rows["split"] == fold.split.name) & (rows["member_seed"] == params.seed + 1)].iloc[0]
    expected = np.mean((fold.probs[1, fold.split.test] >= 0.5) == (y[fold.split.test] == 1))
    assert row["accuracy"] == pytest.approx(expected) and row["test_rows"] == len(fold.split.test)
    assert row["log_loss"] > 0 and 0 <= row["roc_auc"] <= 1
    stricter = splits.results(frame, {"mlp": 0.9})
    expected_strict = np.mean((fold.probs[1, fold.split.test] >= 0.9) == (y[fold.split.test] == 1))
    assert stricter.loc[row.name, "accuracy"] == pytest.approx(expected_strict)
    assert stricter["roc_auc"].tolist() == rows["roc_auc"].tolist()
    assert stricter["log_loss"].tolist() == rows["log_loss"].tolist()

    # A split's digest names its test rows: shared by its members, different across splits.
    digests = dict(zip(rows["split"], rows["split_digest"], strict=True))
    assert len(set(digests.values())) == len(digests) == 7
    assert digests["r0f1"] == splits.split_digest(pks[result.kfold[1].split.test][::-1])

    path = tmp_path / "splits.parquet"
    pq.write_table(splits.table(rows, splits.protocol(scores.schema, 0.5)), path)
    table = pq.read_table(path)
    assert table.schema.metadata == {b"features_md5": b"abc", b"split.folds": b"3", b"threshold": b"0.5"}
    assert table.to_pylist() == rows.to_dict("records")


def test_holdout_table_names_each_rows_role():
    pks = np.array([10, 11, 12, 13, 14])
    table = predictions.holdout(pks, valid=np.array([1]), test=np.array([3, 4]))
    assert table.to_pydict() == {"pk": [10, 11, 12, 13, 14], "split": ["train", "valid", "train", "test", "test"]}
