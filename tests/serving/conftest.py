"""Fixtures of the batch-scoring tests: simulated profiles, a tiny TFLite model trained on them, and
records that break every rule of the user-info check."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline import features
from pipeline.instagram.world import World


def simulated_users(seed: int = 3, n: int = 60) -> list[dict]:
    world = World(seed=seed, seed_usernames=("owner.one",), accounts_per_seed=n, mistake_rate=0.0)
    return [world.profiles[pk].user for pk in sorted(world.profiles)]


def tiny_tflite(users: list[dict], path):
    """A small model of the shipped kind (raw seed16 features in, P(authentic) out) as a .tflite file."""
    from pipeline.serving import export
    from pipeline.training import model as M

    x = features.to_matrix(features.compute(users))
    y = np.array([u["follower_count"] > u["following_count"] for u in users], np.float32)
    pre = M.fit_preprocessing(x, features.heavy_tailed_columns("seed16"), True)
    members = M.train_members(pre.apply(x), y, [0, 1], M.FitConfig(8, 5, 16, 0.01, 0, "none"))
    path.write_bytes(export.to_tflite(M.shipped_model(members, pre)))
    return path


# Valid records that are hard on the features: unicode, emoji, empty and very long strings, None texts.
ADVERSARIAL = [
    {"username": "Zoë.İlker_92", "full_name": "Zoë 🔥✨ Lind", "biography": ""},
    {"username": "maya", "full_name": None, "biography": None},
    {"username": "_x", "full_name": "", "biography": "\u2028coffee\u3000travel\xa0berlin\x1cdogs\u200b"},
    {"username": "KELVIN\u212a1", "full_name": "a" * 30000, "biography": "🔥 " * 10000},
    {"username": "١٢٣", "full_name": "👩‍👩‍👧 family", "biography": "e\u0301 combining?? ok?"},
    {"username": "x" * 3000, "full_name": "\t\n\x0b\x0c\r", "biography": "a.b_c d"},
]


def adversarial_users(base: list[dict]) -> list[dict]:
    return [dict(base[i], pk=9_000_000_000_000 + i, **texts) for i, texts in enumerate(ADVERSARIAL)]


@pytest.fixture(scope="module")
def users() -> list[dict]:
    return simulated_users()


@pytest.fixture(scope="module")
def tflite(tmp_path_factory, users):
    return tiny_tflite(users, tmp_path_factory.mktemp("model") / "model.tflite")
