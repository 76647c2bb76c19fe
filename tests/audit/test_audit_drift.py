"""The audit knows when it is out of its depth: the sampled followers against the drift reference."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from pipeline import cli, features
from pipeline.audit import audit, quantify
from pipeline.core.vocabulary import AUTHENTIC
from pipeline.instagram.server import serve
from pipeline.instagram.world import World, audit_world
from pipeline.serving import decision, export, litert
from pipeline.training import model as M
from tests.conftest import REPO, api_client, repo_params
from tests.validation.conftest import SEEDS, world_table


def _fit(world: World, feature_set: str) -> bytes:
    profiles = list(world.profiles.values())
    x = features.to_matrix(features.compute([p.user for p in profiles], feature_set), feature_set)
    y = np.array([p.label == AUTHENTIC for p in profiles], np.float32)
    pre = M.fit_preprocessing(x, features.heavy_tailed_columns(feature_set), True)
    members = M.train_members(pre.apply(x), y, [0], M.FitConfig(16, 40, 32, 0.01, 0, "none"))
    return export.to_tflite(M.shipped_model(members, pre))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Models trained on labels (the audit tests' own models learn a stand-in rule: their estimates are far off,
    and followers compared at a wrong share do drift), with error rates measured on another world."""
    d = tmp_path_factory.mktemp("labelled_models")
    train = World(11, SEEDS, 200, 0.03)
    (d / "model.tflite").write_bytes(_fit(train, "seed16"))
    (d / "list_model.tflite").write_bytes(_fit(train, "follower_list"))
    (d / "audit.json").write_text(json.dumps({"list_threshold": 0.5, "list_feature_set": "follower_list"}))
    held_out = list(World(12, SEEDS, 200, 0.03).profiles.values())
    said = litert.Model.load(d / "model.tflite").run(
        features.to_matrix(features.compute([p.user for p in held_out]))) >= 0.5
    truth = np.array([p.label == AUTHENTIC for p in held_out])
    rates = quantify.Rates(true_authentic=int(np.sum(said & truth)), false_fake=int(np.sum(~said & truth)),
                           false_authentic=int(np.sum(said & ~truth)), true_fake=int(np.sum(~said & ~truth)))
    chosen = decision.Decision(0.5, "fixed", "valid", dataclasses.asdict(rates), "test")
    (d / "decision.json").write_text(json.dumps(decision.write_dict(chosen, {})))
    return d


def model_args(models) -> list[str]:
    return ["--model", str(models / "model.tflite"), "--list-model", str(models / "list_model.tflite"),
            "--card", str(models / "audit.json"), "--decision", str(models / "decision.json")]


@pytest.fixture(scope="module")
def loaded(models):
    return audit.Models.load(models / "list_model.tflite", models / "model.tflite", models / "audit.json",
                             models / "decision.json")


def _audit(loaded, broken: bool):
    world = audit_world(seed=5, accounts="acct", followers=600, authentic_share=0.7, mistake_rate=0.03)
    if broken:  # a crawl that lost the follower counts: every profile says 0
        for profile in world.profiles.values():
            profile.user["follower_count"] = 0
    with serve(world) as server:
        return audit.audit(api_client(server.base_url), "acct", loaded, 200, 0, concurrency=2,
                           reference=world_table(), drift_params=repo_params().drift)


def test_followers_like_the_training_data_at_another_prevalence_are_no_drift(loaded):
    result = _audit(loaded, broken=False)
    d = result.drift
    assert d["verdict"] == "no drift" and d["drifted_features"] == [] and d["sampled"] == 200
    assert d["reference_share"] == pytest.approx(0.357, abs=0.001)  # the crawl world's labels (450 of 1260)
    assert d["at_share"] == pytest.approx(min(max(result.estimate.share, 0), 1))
    assert result.drift_line().startswith("no covariate drift (200 sampled profiles against the training data at "
                                          f"the estimated {d['at_share']:.1%} authentic")
    assert result.as_dict()["drift"] == d


def test_covariate_drift_is_named_and_the_interval_marked_less_trustworthy(loaded):
    result = _audit(loaded, broken=True)
    # The model misreads every profile without followers too, so the share it estimates is off and more than
    # the broken feature drifts at that share; the broken one is named, and drifts most.
    drifted = result.drift["drifted_features"]
    assert "follower_count" in drifted and "follower_following_ratio" in drifted
    p = {n: f["p_adjusted"] for n, f in result.drift["features"].items()}
    assert p["follower_count"] == min(p.values()) < 1e-6
    line = result.drift_line()
    assert line.startswith(f"covariate drift in {', '.join(drifted)} (200 sampled profiles")
    assert line.endswith("so the 95% interval is less trustworthy than it says")


def test_the_command_prints_the_drift_line_and_says_when_it_has_no_reference(models, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("pipeline.core.paths.AUDIT_CACHE", tmp_path / "cache")
    name = repo_params().audit.simulator.accounts[0]
    base = ["audit", name, "--followers", "300", "--sample-size", "40", "--params", str(REPO / "params.yaml"),
            *model_args(models)]
    reference = tmp_path / "reference.parquet"
    pq.write_table(world_table(), reference)
    assert cli.main([*base, "--reference", str(reference)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "of 300 followers authentic" in lines[0]
    assert lines[1].startswith("no covariate drift (40 sampled profiles"), lines[1]
    assert cli.main([*base, "--reference", str(tmp_path / "none.parquet")]) == 0
    assert capsys.readouterr().out.splitlines()[1] == (
        "drift not checked: no drift reference (data/baseline/reference.parquet, written by `igfake baseline`)")
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    assert cli.main([*base, "--reference", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"igfake audit: error: {bad}: not a readable Parquet file"), err
