"""Drift against a reference, measured on simulated worlds (issue 23's four worlds) and by hand."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

from pipeline import features
from pipeline.core.errors import InputError
from pipeline.core.vocabulary import LABEL_VALUE
from pipeline.validation import drift
from tests.validation.conftest import drift_params, world_table

NAMES = features.feature_names("seed16")


def test_the_same_world_re_crawled_has_not_drifted(reference):
    report = drift.drift(reference, world_table(), "seed16", drift_params())
    assert report["verdict"] == drift.NO_DRIFT
    assert report["drifted_features"] == []
    assert all(f["p_value"] == 1.0 and f["psi"] == 0.0 for f in report["features"].values())
    assert report["prior"]["difference"] == 0 and not report["prior"]["shifted"]


def test_another_simulator_seed_drifts_a_little_and_is_not_flagged(reference):
    report = drift.drift(reference, world_table(seed=7), "seed16", drift_params())
    assert report["verdict"] == drift.NO_DRIFT, drift.summary_line(report)
    assert report["drifted_features"] == [] and not report["prior"]["shifted"]
    # Small, not nothing: some feature differs (another draw) and none by a PSI of 0.1 ("moderate" shift).
    assert 0 < max(f["psi"] for f in report["features"].values()) < 0.1
    assert min(f["p_adjusted"] for f in report["features"].values()) > 0.05


def test_a_different_class_mix_flags_the_prior_not_the_features(reference):
    current = world_table(authentic_share=0.7)
    report = drift.drift(reference, current, "seed16", drift_params())
    assert report["verdict"] == drift.PRIOR_SHIFT, drift.summary_line(report)
    assert report["drifted_features"] == []
    authentic = LABEL_VALUE["authentic"]
    shares = {side: float(np.mean(t.column("label").to_numpy() == authentic))
              for side, t in (("reference", reference), ("current", current))}
    assert report["prior"]["authentic_share"] == pytest.approx(shares, abs=1e-6)
    assert shares["current"] - shares["reference"] > 0.3 and report["prior"]["p_value"] < 1e-10
    # Why within each label: the marginals do move with the mix, and a marginal comparison would call it drift.
    marginal = drift.drift(reference.drop_columns(["label"]), current.drop_columns(["label"]), "seed16",
                           drift_params())
    assert marginal["method"] == "marginal" and marginal["drifted_features"]


def _no_followers(user: dict) -> None:
    user["follower_count"] = 0


def test_a_broken_feature_is_flagged_by_name(reference):
    report = drift.drift(reference, world_table(edit=_no_followers), "seed16", drift_params())
    assert report["verdict"] == drift.DRIFT
    # follower_count, and the ratio computed from it; nothing else reads the follower count.
    assert report["drifted_features"] == ["follower_following_ratio", "follower_count"]
    assert "drifted: follower_following_ratio, follower_count" in drift.summary_line(report)
    assert not report["prior"]["shifted"]


def test_p_values_are_bonferroni_corrected_over_every_test_of_the_report(reference):
    current = world_table(seed=7)
    report = drift.drift(reference, current, "seed16", drift_params())
    assert report["tests"] == 2 * len(NAMES)  # each feature within each of the two labels; no score column
    fake = LABEL_VALUE["fake"]
    ref = reference.filter(pa.compute.equal(reference.column("label"), fake))
    cur = current.filter(pa.compute.equal(current.column("label"), fake))
    expected = stats.ks_2samp(np.log1p(ref.column("media_count").to_numpy()),
                              np.log1p(cur.column("media_count").to_numpy())).pvalue
    got = report["features"]["media_count"]["by_group"]["fake"]
    assert got["test"] == "ks" and got["p_value"] == pytest.approx(expected)
    assert got["p_adjusted"] == pytest.approx(min(1.0, expected * 32))


def test_large_groups_are_judged_by_distance(reference):
    params = drift_params(large_sample=10)
    assert drift.drift(reference, world_table(seed=7), "seed16", params)["verdict"] == drift.NO_DRIFT
    report = drift.drift(reference, world_table(edit=_no_followers), "seed16", params)
    row = report["features"]["follower_count"]["by_group"]["authentic"]
    assert row["test"] == "wasserstein"
    # Every current value is log1p(0) = 0: the distance is the reference's mean over its standard deviation.
    counts = reference.filter(pa.compute.equal(reference.column("label"), LABEL_VALUE["authentic"]))
    logged = np.log1p(counts.column("follower_count").to_numpy().astype(float))
    assert row["distance"] == pytest.approx(logged.mean() / logged.std())
    assert report["features"]["is_private"]["test"] == "jensen_shannon"
    assert report["drifted_features"] == ["follower_following_ratio", "follower_count"]


def test_psi_by_hand():
    reference, current = np.array([0] * 50 + [1] * 50), np.array([0] * 80 + [1] * 20)
    by_hand = 0.3 * np.log(0.8 / 0.5) + (-0.3) * np.log(0.2 / 0.5)
    assert drift.psi(reference, current, categorical=True, bins=10) == pytest.approx(by_hand)
    assert drift.psi(reference.astype(float), reference.astype(float), categorical=False, bins=10) == 0


def test_an_audited_account_is_compared_at_its_own_prevalence(reference):
    """Unlabelled followers, 70% authentic: no drift against the reference at that share, drift without it."""
    followers = world_table(seed=7, authentic_share=0.7, labelled=False)
    at_share = drift.drift(reference, followers, "seed16", drift_params(), authentic_share=0.7)
    assert at_share["method"] == "at_prior" and at_share["verdict"] == drift.NO_DRIFT, drift.summary_line(at_share)
    assert drift.drift(reference, followers, "seed16", drift_params())["drifted_features"]
    kept = drift.at_prior(reference, 0.7, seed=0).column("label").to_numpy()
    assert np.mean(kept == LABEL_VALUE["authentic"]) == pytest.approx(0.7, abs=0.002)


def test_the_model_score_is_compared_when_both_sides_have_it(reference):
    rng = np.random.default_rng(0)
    with_score = reference.append_column(drift.SCORE, pa.array(rng.random(reference.num_rows)))
    shifted = reference.append_column(drift.SCORE, pa.array(rng.random(reference.num_rows) ** 3))
    report = drift.drift(with_score, shifted, "seed16", drift_params())
    assert report["tests"] == 2 * (len(NAMES) + 1)
    # Reported, not judged: a retrained model's scores move whatever the data does.
    assert report["score"]["drifted"] and report["drifted_features"] == []
    assert report["verdict"] == drift.NO_DRIFT and "the model's scores drifted" in report["summary"]


def test_a_table_without_a_feature_is_one_line_naming_it(reference):
    with pytest.raises(InputError, match=r"^current table: no feature column 'media_count' \(feature set seed16\)"):
        drift.drift(reference, reference.drop_columns(["media_count"]), "seed16", drift_params())
