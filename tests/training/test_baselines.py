"""Baselines in the MLP's protocol: same splits, same training rows, rows that pair with the MLP's."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from pipeline.core.errors import ParamsError
from pipeline.core.params import load
from pipeline.core.vocabulary import BASELINES, GBDT
from pipeline.evaluation import splits as splits_lib
from pipeline.evaluation import variance
from pipeline.training import baselines, predictions, study
from tests.conftest import repo_params


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(150, 4)).astype(np.float32)
    x[:, 3] = np.exp(3 * x[:, 3])  # one heavy-tailed count
    y = (x[:, 0] - x[:, 1] + 0.5 * rng.normal(size=150) > 0).astype(np.float32)
    train = repo_params().train
    params = dataclasses.replace(train, seeds=2, epochs=3, split=dataclasses.replace(train.split, folds=3, repeats=1),
                                 baselines=dataclasses.replace(train.baselines, forest_trees=25, gbdt_rounds=30))
    result = study.run(x, y, params, [3])
    splits = baselines.study_splits(result, x)
    fits = baselines.run(params.baselines, params.seed, x, y, splits)
    return x, y, np.arange(500, 650), params, result, splits, fits


def split_results(result, fits, splits, y, pks, threshold=0.5):
    scored = study.scored(result) + baselines.scored(fits, [s for s, _ in splits])
    frame = predictions.scores(scored, pks, y, {}).to_pandas()
    return splits_lib.results(frame, {name: threshold for name in ("mlp", *BASELINES)})


def test_baselines_rows_pair_up_with_the_mlp_rows(small):
    _, y, pks, params, result, splits, fits = small
    rows = split_results(result, fits, splits, y, pks)
    mlp, others = rows[rows["model"] == "mlp"], rows[rows["model"] != "mlp"]
    assert set(others["model"]) == set(BASELINES) and len(others) == len(BASELINES) * (1 + 3)
    keys = ["split", "split_digest", "train_rows", "test_rows"]
    by_split = set(mlp[keys].itertuples(index=False))
    for model in BASELINES:
        assert set(others[others["model"] == model][keys].itertuples(index=False)) == by_split
    # The accuracy is the baseline's own on that split's test rows.
    fold = result.kfold[2].split
    row = others[(others["model"] == "forest") & (others["split"] == fold.name)].iloc[0]
    forest = fits["forest"][3].probs
    assert row["accuracy"] == pytest.approx(np.mean((forest[fold.test] >= 0.5) == (y[fold.test] == 1)))
    assert row["member_seed"] == params.seed


def test_baselines_learn_only_from_training_rows(small):
    x, y, _, params, _, splits, fits = small
    split, x_pre = splits[0]
    flipped = y.copy()
    flipped[split.valid] = 1 - flipped[split.valid]
    flipped[split.test] = 1 - flipped[split.test]
    for name in BASELINES:
        again = baselines.fit_split(name, params.baselines, params.seed, x, x_pre, flipped, split.train)
        np.testing.assert_array_equal(again.probs, fits[name][0].probs)  # valid/test labels never seen


def test_baselines_are_deterministic_and_learn(small):
    x, y, _, params, _, splits, fits = small
    split, x_pre = splits[0]
    again = baselines.fit_split("forest", params.baselines, params.seed, x, x_pre, y, split.train)
    np.testing.assert_array_equal(again.probs, fits["forest"][0].probs)
    other = baselines.fit_split("forest", params.baselines, params.seed + 1, x, x_pre, y, split.train)
    assert not np.array_equal(other.probs, again.probs)
    for name in BASELINES:
        acc = np.mean((fits[name][0].probs[split.test] >= 0.5) == (y[split.test] == 1))
        assert acc > 0.75, name


def test_baseline_variance_matches_their_split_rows(small):
    _, y, pks, _, result, splits, fits = small
    rows = split_results(result, fits, splits, y, pks)
    v = variance.report(rows, alpha=0.05)["baselines"]
    for name in BASELINES:
        accs = rows[rows["model"] == name]["accuracy"].tolist()
        assert v[name]["holdout"]["mean"] == pytest.approx(accs[0])
        assert v[name]["kfold"]["mean"] == pytest.approx(np.mean(accs[1:]))
        assert v[name]["kfold"]["splits"] == 3 and v[name]["holdout"]["init_std"] == 0


def test_the_boosted_trees_take_their_configuration_from_params():
    params = dataclasses.replace(repo_params().train.baselines, gbdt_rounds=17, gbdt_learning_rate=0.2,
                                 gbdt_max_leaf_nodes=5, gbdt_min_samples_leaf=9)
    model = baselines.estimator(GBDT, params, seed=4)
    assert (model.max_iter, model.learning_rate, model.max_leaf_nodes, model.min_samples_leaf, model.random_state,
            model.early_stopping) == (17, 0.2, 5, 9, 4, False)


def test_the_boosted_trees_stop_at_their_rounds(small):
    # 17 rounds: exactly 17 trees, no early stop (it would carve validation rows of its own).
    x, y, _, params, _, splits, _ = small
    split, _ = splits[0]
    model = baselines.estimator(GBDT, dataclasses.replace(params.baselines, gbdt_rounds=17), params.seed)
    model.fit(x[split.train], y[split.train])
    assert model.n_iter_ == 17


def test_a_bad_gbdt_setting_is_named(tmp_path):
    text = (Path(__file__).resolve().parents[2] / "params.yaml").read_text()
    text = text.replace("gbdt_max_leaf_nodes: 15", "gbdt_max_leaf_nodes: 1")
    (tmp_path / "params.yaml").write_text(text)
    with pytest.raises(ParamsError, match=r"train\.baselines\.gbdt_max_leaf_nodes: expected an integer of at least 2, "
                                          r"got 1"):
        load(tmp_path / "params.yaml")
