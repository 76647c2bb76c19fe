"""The simulated Instagram looks like the real sample: calibrated per labelled class, and not trivially separable."""

import hashlib
import json
import re
from importlib import resources

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from pipeline import features
from pipeline.core.params import load
from pipeline.core.vocabulary import AUTHENTIC, CLASSES, FAKE
from pipeline.instagram.crawler import select_profiles
from pipeline.instagram.records import normalize_user
from pipeline.instagram.sources import world_for
from pipeline.instagram.world import World, load_calibration
from tests.conftest import REPO

SHARED = REPO.parent / "shared" / "calibration" / "instagram_class_stats.json"
FRACTION_TOLERANCE = 0.05  # absolute, in shares
QUANTILE_FACTOR = 1.5


@pytest.fixture(scope="module")
def default_world() -> World:
    params = load(REPO / "params.yaml")
    return world_for(params.simulator, params.crawl.seed_accounts)


# SHA-256 of ../shared/calibration/instagram_class_stats.json, the real sample's statistics, as read on
# 2026-12-04: the package's copy must be those bytes, checked in any clone (../shared is not in the repository).
SHARED_SHA256 = "0b8f106a65bb09bfa36105ad78ed03542f65621c56e2c7da8476a2c784780e45"


def by_class(classes: dict) -> dict:
    """The shared file's classes under this project's words (it calls the fake class not_authentic)."""
    return {AUTHENTIC: classes["authentic"], FAKE: classes["not_authentic"]}


@pytest.fixture(scope="module")
def calibration() -> dict:
    """The shared sample's statistics where ../shared is at hand, else the package's copy of them
    (test_the_package_carries_the_shared_calibration proves the two equal wherever both exist)."""
    return by_class(json.loads(SHARED.read_text())["classes"]) if SHARED.is_file() else load_calibration()


def relationships(world: World) -> dict[int, str]:
    out = {}
    for seed in world.seeds.values():
        followers, following = set(seed.followers), set(seed.following)
        for pk in followers | following:
            out[pk] = "mutual" if pk in followers and pk in following else (
                "fans" if pk in followers else "unrequited")
    return out


def observed(world: World, label: str) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """The calibration's statistics, measured on the simulated profiles the annotator gave ``label``."""
    profiles = [p for p in world.profiles.values() if p.label == label]
    users = [normalize_user(p.user) for p in profiles]
    rel = relationships(world)

    def share(test) -> float:
        return float(np.mean([bool(test(u)) for u in users]))

    fractions = {
        "biography_empty": share(lambda u: u["biography"] == ""),
        "external_url_nonempty": share(lambda u: u["external_url"]),
        "following_zero": share(lambda u: u["following_count"] == 0),
        "full_name_empty": share(lambda u: u["full_name"] == ""),
        "has_anonymous_profile_picture": share(lambda u: u["has_anonymous_profile_picture"]),
        "has_highlight_reels": share(lambda u: u["has_highlight_reels"]),
        "is_potential_business": share(lambda u: u["is_potential_business"]),
        "is_private": share(lambda u: u["is_private"]),
        "is_verified": share(lambda u: u["is_verified"]),
        "media_zero": share(lambda u: u["media_count"] == 0),
    }
    for value in ("on", "off", "unset"):
        fractions[f"reel_auto_archive.{value}"] = share(lambda u, v=value: u["reel_auto_archive"] == v)
    for value in "0123":
        fractions[f"username_regex_type.{value}"] = share(
            lambda u, v=value: str(features.username_type(u["username"])) == v)
    for value in ("fans", "mutual", "unrequited"):
        fractions[f"relationship.{value}"] = float(np.mean([rel[p.pk] == value for p in profiles]))
    values = {
        "follower_count": [u["follower_count"] for u in users],
        "following_count": [u["following_count"] for u in users],
        "following_tag_count": [u["following_tag_count"] for u in users],
        "media_count": [u["media_count"] for u in users],
        "usertags_count": [u["usertags_count"] for u in users],
        "biography_len_chars": [len(u["biography"]) for u in users],
        "full_name_len_chars": [len(u["full_name"]) for u in users],
        "username_len_chars": [len(u["username"]) for u in users],
        "username_digits": [len(re.findall(r"\d", u["username"])) for u in users],
    }
    return fractions, {k: np.asarray(v, float) for k, v in values.items()}


def expected_fractions(stats: dict) -> dict[str, float]:
    out = {}
    for name, value in stats.items():
        if isinstance(value, dict) and "frac" in value:
            out[name] = value["frac"]
        elif name in ("reel_auto_archive", "username_regex_type", "relationship"):
            for key in {"reel_auto_archive": ("on", "off", "unset"), "username_regex_type": "0123",
                        "relationship": ("fans", "mutual", "unrequited")}[name]:
                out[f"{name}.{key}"] = value.get(key, {"frac": 0.0})["frac"]  # absent from the sample: 0
    return out


def quantile_gap(simulated: float, real: float) -> float:
    """How many times apart two quantiles are, on counts shifted by one so that zero compares sanely:
    0 vs 0 is 1.0 (equal), 0 vs 1 is 2.0, 100 vs 150 is about 1.5."""
    a, b = simulated + 1, real + 1
    return max(a / b, b / a)


# In the sample but not in a user-info record, so not simulated: `is_ghost` (a follower who never
# engages, judged from activity the API does not return) and `is_interest_account` (a flag the API
# stopped sending; the sample has it equal to is_potential_business give or take one profile).
NOT_SIMULATED = {"is_ghost", "is_interest_account"}


@pytest.mark.parametrize("label", CLASSES)
def test_default_world_matches_the_calibration_per_labelled_class(default_world, calibration, label):
    stats = calibration[label]
    fractions, values = observed(default_world, label)
    expected = expected_fractions(stats)
    assert set(expected) - set(fractions) <= NOT_SIMULATED
    off = {k: (round(fractions[k], 4), v) for k, v in expected.items()
           if k in fractions and abs(fractions[k] - v) > FRACTION_TOLERANCE}
    assert not off, f"fractions more than {FRACTION_TOLERANCE} off (simulated, real): {off}"
    assert set(stats["quantiles"]) == set(values)
    far = {}
    for name, quantiles in stats["quantiles"].items():
        for q in ("p25", "p50", "p75"):
            simulated = float(np.percentile(values[name], int(q[1:])))
            if quantile_gap(simulated, quantiles[q]) > QUANTILE_FACTOR:
                far[f"{name}.{q}"] = (simulated, quantiles[q])
    assert not far, f"quantiles more than {QUANTILE_FACTOR}x off (simulated, real): {far}"


def test_the_package_carries_the_shared_calibration():
    """The package must not read ../shared at run time; its copy has to stay the shared numbers: the same
    bytes as the shared file's recorded digest in any clone, and the same classes as the file itself where
    ../shared is at hand (so a changed shared file fails here until the copy and the digest follow it)."""
    copy = resources.files("pipeline.instagram").joinpath("calibration.json").read_bytes()
    assert hashlib.sha256(copy).hexdigest() == SHARED_SHA256
    assert load_calibration() == by_class(json.loads(copy)["classes"])
    if SHARED.is_file():
        assert hashlib.sha256(SHARED.read_bytes()).hexdigest() == SHARED_SHA256
        assert load_calibration() == by_class(json.loads(SHARED.read_text())["classes"])


def test_quantile_gap_is_sane_at_zero():
    assert quantile_gap(0, 0) == 1.0 and quantile_gap(0, 0.4) < 1.5 and quantile_gap(0, 1) == 2.0
    assert quantile_gap(149, 99) == pytest.approx(1.5)


def crawled(world: World, max_profiles: int) -> list:
    relations = {name: (list(s.followers), list(s.following)) for name, s in world.seeds.items()}
    return [world.profiles[pk] for pk in sorted(select_profiles(relations, max_profiles))]


def test_ratio_alone_separates_the_labels_about_as_well_as_on_the_real_sample(default_world):
    profiles = crawled(default_world, load(REPO / "params.yaml").crawl.max_profiles)
    y = [p.label == AUTHENTIC for p in profiles]
    ratio = [p.user["follower_count"] / max(p.user["following_count"], 1) for p in profiles]
    assert 0.93 <= roc_auc_score(y, ratio) <= 0.99  # 0.976 on the real sample


def test_articles_recipe_is_good_but_not_perfect_on_the_default_world(default_world):
    """16 raw features, Dense(16 relu) -> Dense(1 sigmoid), Adam 1e-3, batch 32, 200 epochs, 80/20."""
    from pipeline.training.model import FitConfig, member_probabilities, train_members
    from pipeline.training.study import holdout

    profiles = crawled(default_world, load(REPO / "params.yaml").crawl.max_profiles)
    x = features.to_matrix(features.compute([normalize_user(p.user) for p in profiles]))
    y = np.array([p.label == AUTHENTIC for p in profiles], np.float32)
    split = holdout(y, test_size=0.2, validation_size=0.0, seed=42)
    members = train_members(x[split.train], y[split.train], list(range(30)), FitConfig(16, 200, 32, 1e-3, 0, "none"))
    accuracy = ((member_probabilities(members, x[split.test]) > 0.5) == y[split.test]).mean(axis=1)
    # The article: 94.8% once, "fluctuate between ~85-95%" on reruns. 100% would make every number moot.
    assert 0.85 <= accuracy.mean() <= 0.96, accuracy.mean()


def test_population_has_the_issues_kinds_of_accounts(default_world):
    profiles = list(default_world.profiles.values())
    kinds = {k: [p for p in profiles if p.kind == k] for k in
             ("person", "creator", "business", "farm", "spam", "polished")}
    assert all(kinds.values()), {k: len(v) for k, v in kinds.items()}
    assert all(p.truth == AUTHENTIC for k in ("person", "creator", "business") for p in kinds[k])
    assert all(p.truth == FAKE for k in ("farm", "spam", "polished") for p in kinds[k])
    farm_following = np.median([p.user["following_count"] for p in kinds["farm"]])
    person_following = np.median([p.user["following_count"] for p in kinds["person"]])
    assert farm_following > 3 * person_following
    assert np.mean([p.user["biography"] == "" for p in kinds["farm"]]) > 0.6
    assert all(p.user["external_url"] or len(p.user["biography"]) > 40 for p in kinds["spam"])
    # What a person finds hard: private authentic accounts with few posts, and fakes labelled authentic.
    assert sum(p.user["is_private"] and p.user["media_count"] < 10 for p in kinds["person"]) >= 10
    assert all(p.unsure and p.label == AUTHENTIC for p in kinds["polished"])
    assert all(p.user["is_business"] for p in kinds["business"])


def test_simulator_authentic_share_changes_the_class_mix_and_null_is_the_calibrations(default_world):
    """simulator.authentic_share: null draws the calibration's mix (the default world, unchanged: the same
    fingerprint as a World built without it); 0.6 labels about 60% of the same-sized world authentic, each
    class drawn from its own calibration as before, over the same follow graph's kinds of relationship."""
    import dataclasses

    params = load(REPO / "params.yaml")
    assert params.simulator.authentic_share is None
    sim = params.simulator
    plain = World(seed=sim.seed, seed_usernames=tuple(params.crawl.seed_accounts),
                  accounts_per_seed=sim.accounts_per_seed, mistake_rate=sim.annotator_mistake_rate)
    assert plain.fingerprint() == default_world.fingerprint()
    calibrated = load_calibration()
    share_of = {AUTHENTIC: calibrated[AUTHENTIC]["n"] / (calibrated[AUTHENTIC]["n"] + calibrated[FAKE]["n"])}
    mixed = world_for(dataclasses.replace(sim, authentic_share=0.6), params.crawl.seed_accounts)
    for world, expected in ((default_world, share_of[AUTHENTIC]), (mixed, 0.6)):
        labels = [p.label for p in world.profiles.values()]
        # 1,260 profiles: the share's standard error is about 0.014; 0.05 is over 3.5 of them.
        assert abs(labels.count(AUTHENTIC) / len(labels) - expected) < 0.05
    assert len(mixed.profiles) == len(default_world.profiles)
    assert set(relationships(mixed).values()) == {"fans", "mutual", "unrequited"}  # not an audit's world
    # Each class still looks like its calibration: the median follower count per label.
    for label in CLASSES:
        counts = [normalize_user(p.user)["follower_count"] for p in mixed.profiles.values() if p.label == label]
        assert np.median(counts) == pytest.approx(calibrated[label]["quantiles"]["follower_count"]["p50"], rel=0.35)


def test_simulator_authentic_share_out_of_range_is_one_params_line(tmp_path):
    from pipeline.core.errors import ParamsError

    text = (REPO / "params.yaml").read_text().replace("authentic_share: null", "authentic_share: 1.5", 1)
    (tmp_path / "params.yaml").write_text(text)
    with pytest.raises(ParamsError, match=r"simulator\.authentic_share: expected a number between 0 and 1, got 1\.5$"):
        load(tmp_path / "params.yaml")
