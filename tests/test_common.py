"""The registries, iterated over, as scikit-learn's ``tests/test_common.py`` iterates over its metrics: every
registered metric is computed and reported within its range and with the direction a hand check gives,
every registered plot is drawn, written as DVC plot data and declared in ``dvc.yaml``, and every registered
model is in what train writes. A metric, plot or model added to a registry is checked here at once.

The tables are small and synthetic, and the MLP's members are made up (no TensorFlow): the baselines are
fitted for real, and every table goes through the functions train and evaluate write it with.
"""

from __future__ import annotations

import dataclasses
import html
import json
import math
import re
from types import SimpleNamespace

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline.core import paths
from pipeline.core.params import BaselinesParams, GateParams
from pipeline.core.vocabulary import BASELINES, MODEL_DISPLAY, MODELS, SHIPPED
from pipeline.evaluation import compare, evaluate, gate, metrics
from pipeline.evaluation.metric_registry import CALIBRATION_METRICS, METRICS, SPLIT_METRICS, select
from pipeline.reporting import ci_report, plot_registry, plots, report
from pipeline.training import baselines, predictions, study
from tests.conftest import REPO, repo_params

SEEDS = (0, 1, 2)

# -- one small synthetic run, written as train writes it ---------------------------------------------------


def _members(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Made-up MLP members: P(authentic) from the first feature, each member with its own noise. float32 [S, N]."""
    z = 2.0 * x[:, 0] + rng.normal(0, 0.7, size=(len(SEEDS), len(x)))
    return (1 / (1 + np.exp(-z))).astype(np.float32)


def _fit(split: study.Split, probs: np.ndarray) -> SimpleNamespace:
    """What study.scored and study.history_rows read of a split's fit (two epochs of loss curves)."""
    history = SimpleNamespace(loss=np.full((2, len(SEEDS)), 0.5), val_loss=np.full((2, len(SEEDS)), 0.6),
                              best_epoch=np.full(len(SEEDS), 2))
    return SimpleNamespace(split=split, members=SimpleNamespace(seeds=SEEDS), probs=probs, history=history)


@pytest.fixture(scope="module")
def run():
    """Train's tables (predictions, scores, history) for 300 rows, and evaluate's evaluation of them."""
    rng = np.random.default_rng(0)
    n = 300
    x = rng.normal(size=(n, 4))
    y = (rng.random(n) < 1 / (1 + np.exp(-2.0 * x[:, 0]))).astype(np.float32)
    pks = np.arange(n, dtype=np.int64) + 100
    holdout = study.holdout(y, 0.3, 0.2, seed=0)
    splits = [holdout, *study.repeated_kfold(y, 3, 1, 0.2, seed=0)]
    fits = [_fit(split, _members(x, rng)) for split in splits]
    result = SimpleNamespace(holdout=fits[0], kfold=fits[1:])
    small = BaselinesParams(models=BASELINES, logreg_c=1.0, forest_trees=10, gbdt_rounds=20, gbdt_learning_rate=0.1,
                            gbdt_max_leaf_nodes=7, gbdt_min_samples_leaf=5)
    baseline_fits = baselines.fit_all(small, 0, x, y, [(split.train, x) for split in splits])
    table = predictions.table(pks, y, holdout.valid, holdout.test, fits[0].probs.mean(axis=0), SEEDS, fits[0].probs,
                              {name: f[0].probs for name, f in baseline_fits.items()})
    scores = predictions.scores(study.scored(result) + baselines.scored(baseline_fits, splits), pks, y,
                                {"features_md5": "synthetic"})
    history = predictions.history(study.history_rows(result))
    params = dataclasses.replace(repo_params().evaluate, bootstrap=200)
    ev = evaluate.evaluate(table.to_pandas(), params, repo_params().compare.alpha, scores=scores.to_pandas())
    return SimpleNamespace(table=table, scores=scores, history=history, ev=ev)


# -- metrics -----------------------------------------------------------------------------------------------

# y: four authentic (1), four fake (0); at threshold 0.5 rows 3 and 4 are wrong: TP 3, FN 1, FP 1, TN 3.
Y = np.array([1, 1, 1, 1, 0, 0, 0, 0])
P = np.array([0.9, 0.8, 0.6, 0.3, 0.7, 0.2, 0.1, 0.4])
HAND = {
    "accuracy": 6 / 8,
    "balanced_accuracy": (3 / 4 + 3 / 4) / 2,
    "precision_authentic": 3 / 4, "precision_fake": 3 / 4, "recall_authentic": 3 / 4, "recall_fake": 3 / 4,
    "f1_authentic": 3 / 4, "f1_fake": 3 / 4,
    "mcc": (3 * 3 - 1 * 1) / math.sqrt(4 * 4 * 4 * 4),
    # Authentic above fake in 4 + 4 + 3 + 2 of the 16 pairs.
    "roc_auc": 13 / 16,
    # Fake scored 1 - p: ranked 0.9 F, 0.8 F, 0.7 A, 0.6 F, 0.4 A, 0.3 F: precision 1, 1, 3/4, 4/6 at each fake.
    "average_precision_fake": (1 + 1 + 3 / 4 + 4 / 6) / 4,
    # Squared gaps 0.01, 0.04, 0.16, 0.49 twice each.
    "brier": 2 * (0.01 + 0.04 + 0.16 + 0.49) / 8,
    # The probability given to the true class is 0.9, 0.8, 0.6, 0.3 twice each.
    "log_loss": -math.log(0.9 * 0.8 * 0.6 * 0.3) / 4,
    # Ten bins, one row each: |y - p| summed is 2 * (0.1 + 0.2 + 0.4 + 0.7), over 8 rows.
    "ece": 2 * (0.1 + 0.2 + 0.4 + 0.7) / 8,
}


def test_every_registered_metric_has_its_hand_computed_value_in_both_metric_functions():
    assert list(HAND) == list(METRICS)  # a new metric needs its hand value here, in the registry's order
    point = metrics.point_metrics(Y, P, 0.5, bins=10)
    resampled = metrics.resampled_metrics(Y[None, :], P[None, :], 0.5, bins=10)
    assert list(point) == list(METRICS) and set(resampled) == set(METRICS)
    for name, expected in HAND.items():
        assert point[name] == pytest.approx(expected, abs=1e-9), name
        assert resampled[name][0] == pytest.approx(expected, abs=1e-9), name


@pytest.mark.parametrize("name", list(METRICS))
def test_direction_and_range_agree_with_perfect_and_random_predictions(name):
    """Perfect predictions score the better end of the range; random ones score worse, in the registered
    direction (log loss of perfect predictions is lower than of random ones, accuracy higher)."""
    metric = METRICS[name]
    rng = np.random.default_rng(1)
    y = (rng.random(400) < 0.5).astype(int)
    perfect = metrics.point_metrics(y, y.astype(float), 0.5, bins=10)[name]
    random = metrics.point_metrics(y, rng.random(400), 0.5, bins=10)[name]
    best = metric.high if metric.higher_is_better else metric.low
    assert perfect == pytest.approx(best, abs=1e-5)  # log loss: clipped at 1e-7, so about 1e-7
    assert (perfect > random) if metric.higher_is_better else (perfect < random)
    assert metric.low <= random <= metric.high


def test_every_metric_lands_in_the_evaluation_for_every_model_within_its_range(run):
    report_ = json.loads(json.dumps(run.ev.report))  # as reports/evaluation.json holds it
    assert list(report_["models"]) == list(MODELS)
    for model in MODELS:
        m = report_["models"][model]
        assert list(m) == ["threshold", *METRICS], model
        for name, metric in METRICS.items():
            lo, hi = m[name]["ci95"]
            assert metric.low <= lo <= hi <= metric.high, (model, name)
            assert metric.low <= m[name]["value"] <= metric.high, (model, name)
    assert list(report_["intervals"]) == list(report_["seed_metrics"]) == list(METRICS)
    shipped = report_["models"][SHIPPED]
    assert all(report_[name] == shipped[name]["value"] for name in METRICS)
    headline = evaluate.headline(report_, run.ev.variance, {"blessed": 1, "judged": 1})
    assert all(headline[name] == shipped[name]["value"] for name in evaluate.HEADLINE_REST)


def test_every_split_metric_is_in_the_split_results_of_every_model_within_its_range(run):
    results = run.ev.splits
    assert set(results["model"]) == set(MODELS)
    for name in SPLIT_METRICS:
        metric = METRICS[name]
        assert results[name].between(metric.low, metric.high).all(), name


@pytest.mark.parametrize("name", SPLIT_METRICS)
def test_a_comparison_calls_a_change_better_in_the_registered_direction(name):
    a = pd.Series([0.50, 0.52, 0.51, 0.53, 0.50], index=[f"r0f{i}" for i in range(5)])
    up = a + np.array([0.10, 0.11, 0.10, 0.12, 0.10])
    verdict = compare.paired_metric(name, a, up, 0.25, 0.05).verdict
    assert verdict == ("better" if METRICS[name].higher_is_better else "worse")
    assert compare.paired_metric(name, up, a, 0.25, 0.05).verdict == ("worse" if METRICS[name].higher_is_better
                                                                      else "better")


def test_gain_turns_a_lower_is_better_interval_around():
    assert METRICS["log_loss"].gain(-0.2, -0.1) == (0.1, 0.2)
    assert METRICS["accuracy"].gain(-0.2, -0.1) == (-0.2, -0.1)


def test_every_consumer_chooses_registered_metrics_and_misspelt_ones_fail():
    with pytest.raises(KeyError, match="accuarcy"):
        select("accuracy", "accuarcy")
    for chosen in (SPLIT_METRICS, CALIBRATION_METRICS, evaluate.HEADLINE_REST, evaluate.SWEEP_METRICS,
                   gate.BOUNDED, ci_report.KEY_METRICS, report.CARD_METRICS):
        assert set(chosen) <= set(METRICS)
    # Each bounded metric is a gate rule with its own bound in params.yaml.
    assert {f"min_{m}" for m in gate.BOUNDED} <= {f.name for f in dataclasses.fields(GateParams)}
    assert [name for name, label in report.METRIC_NAMES.items() if "lower is better" in label] == \
        ["brier", "log_loss", "ece"]


# -- plots -------------------------------------------------------------------------------------------------

def _dvc_plots() -> dict[str, dict]:
    """The evaluate stage's ``plots:`` in dvc.yaml, by path."""
    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["evaluate"]
    return {path: props or {} for entry in stage["plots"] for path, props in entry.items()}


def _relative(path) -> str:
    return path.relative_to(paths.ROOT).as_posix()


def test_dvc_yaml_declares_every_registered_plot_and_no_other_with_its_title():
    declared = _dvc_plots()
    expected = {_relative(p.data) for p in plot_registry.PLOTS.values()} | \
        {_relative(p.png) for p in plot_registry.PLOTS.values()}
    assert set(declared) == expected
    for p in plot_registry.PLOTS.values():
        assert declared[_relative(p.data)]["title"] == p.title, p.name


def test_every_registered_plot_has_data_with_the_columns_dvc_yaml_plots(run):
    tables = evaluate.plot_tables(run.ev)
    assert list(tables) == list(plot_registry.PLOTS)
    declared = _dvc_plots()
    for name, frame in tables.items():
        props = declared[_relative(plot_registry.PLOTS[name].data)]
        assert len(frame) > 0 and {props["x"], props["y"]} <= set(frame.columns), name


def test_every_registered_plot_is_drawn_and_captioned_in_the_report(run, tmp_path):
    targets = {name: tmp_path / f"{name}.png" for name in plot_registry.PLOTS}
    plots.write_pngs(run.ev, targets)
    drawn = {name: path.read_bytes() for name, path in targets.items()}
    assert len(set(drawn.values())) == len(drawn)  # eight different images, none drawn twice
    for name, path in targets.items():
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and min(image.shape[:2]) >= 300, name
    page = report.html_report(run.ev.report, run.ev.slices, run.ev.variance, {}, targets, "", 0.05, None)
    captions = [html.unescape(c) for c in re.findall(r"<figcaption>(.*?)</figcaption>", page)]
    assert captions == [p.title for p in plot_registry.PLOTS.values()]


# -- models ------------------------------------------------------------------------------------------------

def test_every_registered_model_is_in_what_train_writes(run):
    columns = run.table.column_names
    assert "prob" in columns  # the shipped model's
    assert {predictions.BASELINE_COLUMN_PREFIX + b for b in BASELINES} <= set(columns)
    assert list(evaluate.model_probabilities(run.table.to_pandas())) == list(MODELS)
    assert compare.models(run.scores) == list(MODELS)  # the shipped model first
    assert set(run.history.column("model").to_pylist()) == {SHIPPED}


def test_every_registered_model_has_a_name_and_a_style():
    assert set(MODEL_DISPLAY) == set(MODELS) == set(plots.MODEL_STYLE)
    assert set(baselines.PREPROCESSED) == set(BASELINES)
    assert len({report.model_name(m) for m in MODELS}) == len(MODELS)
