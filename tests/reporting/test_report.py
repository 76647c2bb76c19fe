"""The model card and the report say what the params say: the architecture, the recipe and what ships
(``train``), and the level of the k-fold intervals and verdicts (``compare.alpha``), never fixed prose."""

from __future__ import annotations

import dataclasses

import pytest

from pipeline import features
from pipeline.evaluation import evaluate
from pipeline.reporting import report
from tests.conftest import repo_params
from tests.evaluation.test_evaluate import ALPHA, params, synthetic

LABELS = {"source": "simulator", "labelled": 400, "authentic": 160, "fake": 240}
# A k-fold study as variance.json and the comparison record it; the numbers are the card's to print.
KFOLD = {"splits": 10, "n_seeds": 3, "mean": 0.9, "ci": [0.88, 0.92], "level": 0.95}
TIE = {"logreg": {"splits": 10, "mean_difference": 0.01, "ci": [-0.01, 0.03], "level": 0.95,
                  "verdict": "no detectable difference"}}


@pytest.fixture(scope="module")
def evaluated():
    """The evaluation of a synthetic table (3 seeded members), with a k-fold comparison that ties."""
    table, profiles = synthetic()
    r = evaluate.evaluate(table, params(), ALPHA, profiles=profiles).report
    return {**r, "comparison": {**r["comparison"], "kfold": TIE}}


def card_of(evaluated, alpha: float = 0.05, **train) -> str:
    about = report.Card(dataclasses.replace(repo_params().train, **train), "seed16", alpha)
    return report.model_card(evaluated, LABELS, {"kfold": KFOLD}, about)


def test_the_card_has_the_hidden_units_of_the_params(evaluated):
    assert repo_params().train.hidden_units == 16  # the default, which must not leak into the card
    card = card_of(evaluated, hidden_units=8)
    assert "`Dense(8, relu) -> Dense(1, sigmoid)`" in card
    assert "Dense(16" not in card


def test_the_card_says_what_ships_ensemble_or_one_member(evaluated):
    members = evaluated["seeds"]["n"]
    assert members == 3  # synthetic(): seeds 0, 1 and 10
    ensemble = card_of(evaluated, ship="ensemble")
    assert "Shipped as TFLite: an ensemble of the 3 seeded members (mean probability)." in ensemble
    single = card_of(evaluated, ship="seed", seed=4)
    assert "ensemble" not in single.lower()
    assert "Shipped as TFLite: member 0 alone (seed 4) of the 3 seeded members." in single
    one = report.model_sentence(report.Card(repo_params().train, "seed16", 0.05), 1, evaluated["threshold"])
    assert "Shipped as TFLite: member 0 alone (seed 0)." in one and "ensemble" not in one  # train.seeds: 1
    # A calibration averages the members' logits, then calibrates them (pipeline.training.model).
    assert "an ensemble of the 3 seeded members (mean logit, then temperature scaling)" in card_of(
        evaluated, calibration="temperature")


def test_the_card_describes_the_recipe_of_the_preset_in_force(evaluated):
    presets = repo_params().train.presets
    stable, ple = presets.stable, presets.ple
    assert (stable.log_counts, stable.standardise, stable.validation_size, stable.patience) == (True, True, 0.15, 20)
    assert (stable.bins, stable.weight_decay) == (0, 0)
    card = card_of(evaluated, preset="stable")
    assert ("inside the model: log1p of the heavy-tailed counts, then standardisation with the training rows' "
            "moments. Recipe `stable`") in card
    assert "stopping early on the 15% of the training rows held out (patience 20) within 200 epochs" in card
    assert "weight decay" not in card
    assert (ple.bins, ple.keep_inputs, ple.weight_decay) == (8, True, 1e-4)
    encoded = card_of(evaluated, preset="ple")
    assert ("standardisation with the training rows' moments, then a piecewise-linear encoding on 8 quantile bins "
            "per column beside the column itself. Recipe `ple`") in encoded
    assert "no class weights, L2 weight decay 0.0001 on the kernels." in encoded
    article = card_of(evaluated, preset="article", epochs=50)
    assert "on 16 profile features (`seed16`), raw (no preprocessing)" in article
    assert "Recipe `article`: Adam (learning rate 0.001, batch 32), all 50 epochs, no validation slice" in article
    assert "log1p" not in article
    listed = report.model_card(evaluated, LABELS, {}, report.Card(repo_params().train, "follower_list", 0.05))
    assert f"on {len(features.FEATURE_SETS['follower_list'])} profile features (`follower_list`)" in listed


def test_the_verdicts_and_kfold_intervals_are_at_one_minus_compare_alpha(evaluated):
    card = card_of(evaluated, alpha=0.1)
    assert "[0.880, 0.920] (90%, Nadeau-Bengio corrected)" in card
    assert "the difference is +1.0 points [-1.0, +3.0], no detectable difference at 90%." in card
    assert "at 95%" not in card and "(95%, Nadeau-Bengio corrected)" not in card
    # The test-row bootstrap is the 2.5th to 97.5th percentiles whatever alpha is: its level stays.
    assert "## Metrics (hold-out test rows, 95% bootstrap intervals)" in card
    assert "no detectable difference at 95%." in card_of(evaluated, alpha=0.05)
    variance = {"holdout": {"mean": 0.9, "init_std": 0.01, "binomial_se": 0.02}, "kfold": {
        **KFOLD, "split_std": 0.01, "total_std": 0.02}}
    page = report.html_report(evaluated, [], variance, LABELS, {}, card, 0.1)
    assert "repeated k-fold (Nadeau-Bengio, paired, 90%)" in page and "k-fold mean [90% CI]" in page
    assert "hold-out test rows (paired bootstrap, 95%)" in page
    assert "no detectable difference at 90%.</p>" in page


def test_the_card_says_how_far_the_shipped_model_moves_and_its_ece_beside_its_floor(evaluated):
    """The numbers of the sentence are the report's: the redraw spread against one member's, the hold-out ECE
    against its floor, and the cross-validated ECE (absent without a k-fold study: then no such clause)."""
    cv = {"rows": 1000, "accuracy": {"value": 0.968, "ci95": [0.957, 0.979]},
          "ece": {"value": 0.0124, "ci95": [0.0101, 0.0258]}, "ece_floor": {"mean": 0.0135, "p95": 0.0187}}
    with_cv = {**evaluated, "cross_validated": cv,
               "seeds_shipped": {**evaluated["seeds_shipped"], "accuracy_std": 0.0031}}
    card = card_of(with_cv)
    assert "would move by 0.003 (std over 300 redraws of its 3 member(s) from the 3 trained; one member alone " \
           f"moves by {evaluated['seeds']['std']:.3f})" in card
    assert f"its ECE is {evaluated['ece']:.3f}, and a perfectly calibrated model would show " \
           f"{evaluated['ece_floor']['mean']:.3f} there" in card
    assert "over all 1000 labelled rows, each scored by a k-fold model that held it out, its ECE is 0.012 " \
           "[0.010, 0.026] against a floor of 0.013" in card
    assert "k-fold model that held it out" not in card_of(evaluated)  # the synthetic table has no prob_cv
