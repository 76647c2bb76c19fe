import dataclasses

import numpy as np
import pytest

from pipeline import features
from pipeline.core.params import load
from pipeline.evaluation import splits, variance
from pipeline.instagram.crawler import crawl
from pipeline.instagram.records import relationships
from pipeline.instagram.server import serve
from pipeline.instagram.sources import client_for, world_for
from pipeline.labelling import table as labelled_table
from pipeline.training import predictions, study
from tests.conftest import REPO


def test_holdout_is_stratified_disjoint_and_validates_on_training_rows_only():
    y = np.array([1] * 30 + [0] * 70)
    s = study.holdout(y, test_size=0.2, validation_size=0.25, seed=3)
    assert len(s.test) == 20 and y[s.test].sum() == 6  # stratified: 30% authentic
    assert not set(s.test) & set(s.train) and not set(s.test) & set(s.valid) and not set(s.train) & set(s.valid)
    assert len(s.train) + len(s.valid) + len(s.test) == 100
    assert len(s.valid) == 20 and y[s.valid].sum() == 6
    again = study.holdout(y, 0.2, 0.25, 3)
    assert np.array_equal(again.test, s.test) and np.array_equal(again.valid, s.valid)


def test_repeated_kfold_tests_every_row_once_per_repeat():
    y = np.array([1] * 33 + [0] * 67)
    splits = study.repeated_kfold(y, folds=5, repeats=3, validation_size=0.1, seed=1)
    assert len(splits) == 15 and len({s.name for s in splits}) == 15
    for r in range(3):
        tested = np.concatenate([s.test for s in splits[r * 5 : (r + 1) * 5]])
        assert sorted(tested) == list(range(100))
    assert not np.array_equal(splits[0].test, splits[5].test)  # repeats reshuffle
    assert study.repeated_kfold(y, 5, 0, 0.1, 1) == []


@pytest.fixture(scope="module")
def default_data():
    """The default pipeline's data, built in-process: crawl the simulated world, join labels, featurize."""
    params = load(REPO / "params.yaml")
    sim, crawl_params = params.simulator, params.crawl
    world = world_for(sim, crawl_params.seed_accounts)
    with serve(world) as server:
        result = crawl(client_for(crawl_params, server.base_url), crawl_params.seed_accounts,
                       crawl_params.max_profiles)
    table, _ = labelled_table.join(result.profiles, world.labels(), relationships(result.graph), source="simulator")
    table = features.featurize(table, "seed16")
    x = features.to_matrix(table)
    y = table.column("label").to_numpy().astype(np.float32)
    return x, y


def _train(preset: str):
    params = load(REPO / "params.yaml").train
    return dataclasses.replace(params, preset=preset, seeds=30, split=dataclasses.replace(params.split, repeats=0))


def test_default_recipe_is_more_accurate_and_steadier_than_the_article_recipe(default_data):
    """Only what holds on every machine of this kind: the raw-feature article recipe is ill-conditioned, so
    how far it swings depends on the CPU's float paths (seed std 0.035 on one machine, 0.014 on another),
    while the stable recipe reproduces 0.950 +- 0.012 on both."""
    x, y = default_data
    columns = features.heavy_tailed_columns("seed16")
    article = holdout_variance(study.run(x, y, _train("article"), columns), y)
    stable = holdout_variance(study.run(x, y, _train("stable"), columns), y)
    assert article["n_seeds"] == stable["n_seeds"] == 30
    assert stable["init_std"] <= article["init_std"], (stable, article)
    assert stable["mean"] >= article["mean"] + 0.01, (stable, article)
    assert stable["min"] >= article["min"], (stable, article)


def test_study_is_reproducible(default_data):
    x, y = default_data
    params = dataclasses.replace(_train("stable"), seeds=3, epochs=20)
    a = study.run(x, y, params, features.heavy_tailed_columns("seed16"))
    b = study.run(x, y, params, features.heavy_tailed_columns("seed16"))
    assert np.array_equal(a.holdout.probs, b.holdout.probs) and np.array_equal(a.shipped_probs, b.shipped_probs)


def holdout_variance(result: study.StudyResult, y: np.ndarray) -> dict:
    """The hold-out decomposition evaluate would report for ``result`` at threshold 0.5."""
    scores = predictions.scores(study.scored(result), np.arange(len(y)), y, {}).to_pandas()
    return variance.report(splits.results(scores, {"mlp": 0.5}), alpha=0.05)["holdout"]


def test_what_ships_is_one_selection_for_the_model_and_the_cross_validated_probabilities():
    """train.ship picks the members once (study.shipped_index): the shipped model's and the audit's
    cross-validated probabilities select the same ones."""
    from pipeline.training import model as model_lib

    s, f, h = 3, 2, 4
    members = model_lib.Members(np.arange(s * f * h, dtype=np.float32).reshape(s, f, h), np.zeros((s, h), np.float32),
                                np.ones((s, h), np.float32), np.arange(s, dtype=np.float32), (7, 8, 9))
    assert study.shipped_members(members, "seed").seeds == (7,)
    assert np.array_equal(study.shipped_members(members, "seed").w1, members.w1[:1])
    assert study.shipped_members(members, "ensemble").seeds == (7, 8, 9)
    assert np.array_equal(study.shipped_members(members, "ensemble").w1, members.w1)

    probs = np.array([[0.2, 0.4], [0.6, 0.8], [1.0, 0.0]], np.float32)  # [members, rows]
    fold = study.SplitFit(study.Split("r0f0", np.array([], int), np.array([], int), np.array([0, 1])), None, None,
                          np.zeros_like(probs), probs, None, 0.0, 0.0)
    np.testing.assert_allclose(study.out_of_fold([fold], 2, "ensemble"), [0.6, 0.4], atol=1e-7)
    np.testing.assert_allclose(study.out_of_fold([fold], 2, "seed"), [0.2, 0.4], atol=1e-7)
