"""The audit's tests' models: small real TFLite models trained on a small simulated world."""

import dataclasses
import json

import numpy as np
import pytest

from pipeline import features
from pipeline.audit import quantify
from pipeline.instagram.world import World
from pipeline.serving import decision, export
from pipeline.training import model as M

RATES = quantify.Rates(true_authentic=300, false_fake=20, false_authentic=30, true_fake=650)
# Two different thresholds, so the test tells which model decides at which: the list-only model at its own
# (models/audit.json), the shipped model at the one evaluate chose (models/decision.json).
LIST_THRESHOLD, SHIPPED_THRESHOLD = 0.4, 0.6


def _tflite(users, feature_set: str) -> bytes:
    x = features.to_matrix(features.compute(users, feature_set), feature_set)
    y = np.array([u["follower_count"] > u["following_count"] for u in users], np.float32)
    pre = M.fit_preprocessing(x, features.heavy_tailed_columns(feature_set), True)
    members = M.train_members(pre.apply(x), y, [0, 1], M.FitConfig(8, 5, 16, 0.01, 0, "none"))
    return export.to_tflite(M.shipped_model(members, pre))


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    world = World(seed=3, seed_usernames=("owner.one",), accounts_per_seed=60, mistake_rate=0.0)
    users = [p.user for p in world.profiles.values()]
    d = tmp_path_factory.mktemp("models")
    (d / "model.tflite").write_bytes(_tflite(users, "seed16"))
    (d / "list_model.tflite").write_bytes(_tflite(users, "follower_list"))
    (d / "audit.json").write_text(json.dumps({"list_threshold": LIST_THRESHOLD, "list_feature_set": "follower_list",
                                              "list_model": {"accuracy": 0.7, "roc_auc": 0.75, "test_rows": 40}}))
    chosen = decision.Decision(SHIPPED_THRESHOLD, "balanced_accuracy", "valid", dataclasses.asdict(RATES), "test")
    (d / "decision.json").write_text(json.dumps(decision.write_dict(chosen, {})))
    return d


def model_args(models) -> list[str]:
    return ["--model", str(models / "model.tflite"), "--list-model", str(models / "list_model.tflite"),
            "--card", str(models / "audit.json"), "--decision", str(models / "decision.json")]


