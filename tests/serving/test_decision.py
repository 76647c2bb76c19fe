"""The decision threshold has one owner: evaluate chooses it, writes it, and predict and audit decide at it.

The chain is tested through the files, as the stage hands them on: evaluate's domain function on a small
predictions table whose balanced-accuracy-optimal threshold is known by hand, its decision and report
written as the evaluate stage writes them, then read back by the functions that give ``igfake predict``
and ``igfake audit`` their threshold. No TFLite model is needed to resolve a threshold, so LiteRT's loader
is replaced by a stand-in (the model is checked before the threshold is read, and that order is
predict's own test's business).
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import pandas as pd
import pytest

from pipeline.audit import audit, quantify
from pipeline.cli import predict
from pipeline.core import atomic
from pipeline.evaluation import evaluate
from pipeline.serving import decision, litert
from tests.conftest import repo_params

# Validation rows: every fake below 0.65, every authentic from 0.70. On the grid (0.05, 0.06, ...,
# 0.95) the thresholds 0.65 to 0.70 call all eight right (balanced accuracy 1); from 0.31 to 0.64 the
# fake at 0.64 is called authentic (0.875), and so on down. Ties go to the one nearest 0.5: 0.65.
VALID = [(0, 0.10), (0, 0.20), (0, 0.30), (0, 0.64), (1, 0.70), (1, 0.75), (1, 0.80), (1, 0.90)]
BALANCED_ACCURACY_THRESHOLD = 0.65
# Test rows, decided at 0.65: fakes 0.20, 0.60 right, 0.68 called authentic; authentic 0.55 called fake,
# 0.66 and 0.90 right. At 0.5 the fake at 0.60 and the authentic at 0.55 would go the other way.
TEST = [(0, 0.20), (0, 0.60), (0, 0.68), (1, 0.55), (1, 0.66), (1, 0.90)]
AT_CHOSEN = {"true_authentic": 2, "false_fake": 1, "false_authentic": 1, "true_fake": 2}
TRAIN = [(0, 0.15), (1, 0.85)]


def predictions() -> pd.DataFrame:
    rows = [(split, label, prob) for split, part in (("train", TRAIN), ("valid", VALID), ("test", TEST))
            for label, prob in part]
    return pd.DataFrame({"pk": range(100, 100 + len(rows)), "label": [r[1] for r in rows],
                         "split": [r[0] for r in rows], "prob": [r[2] for r in rows],
                         "prob_seed_0": [r[2] for r in rows]})


@pytest.fixture
def stand_in_model(monkeypatch):
    """LiteRT's loader replaced: resolving a threshold needs no model, only the decision beside it."""
    loaded = []
    monkeypatch.setattr(litert.Model, "load", classmethod(lambda cls, path: loaded.append(path) or f"model {path}"))
    return loaded


def test_predict_and_audit_decide_at_the_threshold_evaluate_chose_not_the_fixed_one(tmp_path, stand_in_model):
    params = dataclasses.replace(repo_params().evaluate, threshold_rule="balanced_accuracy", bootstrap=200)
    assert params.threshold != BALANCED_ACCURACY_THRESHOLD  # the fixed rule's value, which must not decide
    ev = evaluate.evaluate(predictions(), params, repo_params().compare.alpha)
    # As the evaluate stage writes them.
    models, reports = tmp_path / "models", tmp_path / "reports"
    atomic.write_json(models / decision.FILE, ev.decision)
    atomic.write_json(reports / "evaluation.json", ev.report)

    reported = json.loads((reports / "evaluation.json").read_text())["threshold"]
    assert reported["value"] == BALANCED_ACCURACY_THRESHOLD and reported["rule"] == "balanced_accuracy"
    written = json.loads((models / decision.FILE).read_text())
    assert written["threshold"] == BALANCED_ACCURACY_THRESHOLD and written["chosen_on"] == "valid"
    assert {k: written["shipped_rates"][k] for k in decision.COUNTS} == AT_CHOSEN

    # igfake predict: the threshold of the decision.json beside the TFLite file, and its calls at it.
    args = argparse.Namespace(model=str(models / "model.tflite"), threshold=None)
    _, _, threshold = predict.resolve_model(args, tmp_path / "download")
    assert threshold == BALANCED_ACCURACY_THRESHOLD
    users = [{"pk": 1, "username": "a"}, {"pk": 2, "username": "b"}]
    calls = [json.loads(line)["authentic"] for line in predict.render(users, [0.60, 0.66], threshold,
                                                                       "jsonl").splitlines()]
    assert calls == [False, True]  # at the fixed 0.5 both would be authentic

    # igfake audit: the shipped model's threshold and rates from the same file; the list-only model keeps
    # its own cut from its card (train_list.threshold), which is not the shipped model's.
    card = models / "audit.json"
    card.write_text(json.dumps({"list_feature_set": "follower_list", "list_threshold": 0.4}))
    loaded = audit.Models.load(models / "list_model.tflite", models / "model.tflite", card, models / decision.FILE)
    assert loaded.threshold == BALANCED_ACCURACY_THRESHOLD and loaded.list_threshold == 0.4
    assert loaded.rates == quantify.Rates(**AT_CHOSEN)
    assert set(stand_in_model) == {models / "model.tflite", models / "list_model.tflite"}  # no real model loaded
