"""Baselines in the MLP's protocol: same splits, same training rows, rows that pair with the MLP's."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pipeline.training import baselines, predictions, study
from tests.conftest import repo_section


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(150, 4)).astype(np.float32)
    x[:, 3] = np.exp(3 * x[:, 3])  # one heavy-tailed count
    y = (x[:, 0] - x[:, 1] + 0.5 * rng.normal(size=150) > 0).astype(np.float32)
    train = repo_section("train")
    params = dataclasses.replace(train, seeds=2, epochs=3, split=dataclasses.replace(train.split, folds=3, repeats=1),
                                 baselines=dataclasses.replace(train.baselines, forest_trees=25))
    result = study.run(x, y, params, [3], 0.5)
    splits = baselines.study_splits(result, x)
    fits = baselines.run(params.baselines, params.seed, x, y, splits)
    return x, y, np.arange(500, 650), params, result, splits, fits


def test_baselines_rows_pair_up_with_the_mlp_rows(small):
    _, y, pks, params, result, splits, fits = small
    mlp = study.split_rows(result, y, pks, 0.5)
    rows = baselines.split_rows(fits, [s for s, _ in splits], y, pks, 0.5)
    assert {r["model"] for r in rows} == {"logreg", "forest"}
    assert len(rows) == 2 * (1 + 3)
    by_split = {(r["split"], r["split_digest"], r["train_rows"], r["test_rows"]) for r in mlp}
    for model in ("logreg", "forest"):
        mine = {(r["split"], r["split_digest"], r["train_rows"], r["test_rows"]) for r in rows if r["model"] == model}
        assert mine == by_split
    # The table takes them as they are, and the accuracy is the baseline's own on that split's test rows.
    predictions.split_results(mlp + rows, {})
    fold = result.kfold[2].split
    row = next(r for r in rows if r["model"] == "forest" and r["split"] == fold.name)
    forest = fits["forest"][3].probs
    assert row["accuracy"] == pytest.approx(np.mean((forest[fold.test] >= 0.5) == (y[fold.test] == 1)))
    assert row["member_seed"] == params.seed


def test_baselines_learn_only_from_training_rows(small):
    x, y, _, params, _, splits, fits = small
    split, x_pre = splits[0]
    flipped = y.copy()
    flipped[split.valid] = 1 - flipped[split.valid]
    flipped[split.test] = 1 - flipped[split.test]
    for name in ("logreg", "forest"):
        again = baselines.fit_split(name, params.baselines, params.seed, x, x_pre, flipped, split.train)
        np.testing.assert_array_equal(again.probs, fits[name][0].probs)  # valid/test labels never seen


def test_baselines_are_deterministic_and_learn(small):
    x, y, _, params, _, splits, fits = small
    split, x_pre = splits[0]
    again = baselines.fit_split("forest", params.baselines, params.seed, x, x_pre, y, split.train)
    np.testing.assert_array_equal(again.probs, fits["forest"][0].probs)
    other = baselines.fit_split("forest", params.baselines, params.seed + 1, x, x_pre, y, split.train)
    assert not np.array_equal(other.probs, again.probs)
    for name in ("logreg", "forest"):
        acc = np.mean((fits[name][0].probs[split.test] >= 0.5) == (y[split.test] == 1))
        assert acc > 0.75, name


def test_baseline_variance_matches_their_split_rows(small):
    _, y, pks, _, _, splits, fits = small
    plain = [s for s, _ in splits]
    v = baselines.variance(fits, plain, y, 0.5)
    rows = baselines.split_rows(fits, plain, y, pks, 0.5)
    for name in ("logreg", "forest"):
        accs = [r["accuracy"] for r in rows if r["model"] == name]
        assert v[name]["holdout"]["mean"] == pytest.approx(accs[0])
        assert v[name]["kfold"]["mean"] == pytest.approx(np.mean(accs[1:]))
        assert v[name]["kfold"]["splits"] == 3 and v[name]["holdout"]["init_std"] == 0
