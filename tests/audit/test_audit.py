"""igfake audit end to end on small simulated accounts, with small real TFLite models."""

import contextlib
import json
import math

import numpy as np
import pytest

from pipeline import cli, features
from pipeline.audit import audit, quantify
from pipeline.core.errors import AccountBlocked, CrawlError
from pipeline.instagram.api import ResponseCache
from pipeline.instagram.crawler import crawl
from pipeline.instagram.server import SimulatedInstagram, serve
from pipeline.instagram.world import audit_world
from pipeline.serving import litert
from tests.audit.conftest import LIST_THRESHOLD, RATES, SHIPPED_THRESHOLD
from tests.audit.conftest import model_args as _files
from tests.conftest import REPO, api_client, faults, repo_params


def test_the_simulated_account_has_the_share_asked_for_and_everyone_follows_it():
    world = audit_world(seed=1, accounts="acct", followers=1500, authentic_share=0.3, mistake_rate=0.03)
    assert len(world.seeds["acct"].followers) == 1500
    shares = world.shares("acct")
    assert abs(shares["labelled"] - 0.3) < 0.04
    assert shares["truth"] != shares["labelled"]  # the annotator's blind spots are part of the world


def test_audit_cli_pages_samples_and_estimates_as_the_estimator_would(models, tmp_path, capsys, monkeypatch):
    """Wiring, not the value: the command's numbers equal the estimator's on the same followers, sample and
    models (the estimator's own numbers are checked by hand and by simulated coverage in test_quantify.py)."""
    monkeypatch.setattr("pipeline.core.paths.AUDIT_CACHE", tmp_path / "data" / "cache" / "audit")
    name = repo_params().audit.simulator.accounts[1]  # not the first: the world holds them all
    argv = ["audit", name, "--json", "--followers", "700", "--authentic-share", "0.4", "--sample-size", "50",
            "--seed", "9", "--params", str(REPO / "params.yaml"), *_files(models)]
    assert cli.main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["account"], out["simulated"]) == (name, True)
    pages = math.ceil(700 / 200)
    assert (out["followers"], out["sampled"], out["pages"]) == (700, 50, pages)
    assert out["requests"] == 1 + pages + 50
    assert out["requests_if_one_per_follower"] == 1 + pages + 700
    assert out["ci95"][0] <= out["authentic_share"] <= out["ci95"][1]
    assert not any((tmp_path / "data" / "cache" / "audit").glob("*/responses.jsonl"))  # finished: no journal

    # The same numbers straight from the world: list order, sample and models wired as documented.
    sim = repo_params().audit.simulator
    world = audit_world(sim.seed, sim.accounts, 700, 0.4, repo_params().simulator.annotator_mistake_rate)
    entries = [world.profiles[pk].short() for pk in world.seeds[name].followers]
    scores = litert.Model.load(models / "list_model.tflite").run(
        features.to_matrix(features.compute(entries, "follower_list"), "follower_list"))
    sample = quantify.sample_indices(700, 50, 9)
    users = [world.profiles[entries[i]["pk"]].user for i in sample]
    shipped = litert.Model.load(models / "model.tflite").run(features.to_matrix(features.compute(users)))
    expected = quantify.estimate(scores, LIST_THRESHOLD, sample, shipped >= SHIPPED_THRESHOLD, RATES)
    assert out["authentic_share"] == pytest.approx(expected.share, abs=1e-9)
    assert out["list_model_share"] == pytest.approx(float(np.mean(scores >= LIST_THRESHOLD)))
    at_half = quantify.estimate(scores, 0.5, sample, shipped >= 0.5, RATES)
    assert at_half.share != pytest.approx(expected.share, abs=1e-6)  # the thresholds decided something
    assert out["ci95"] == pytest.approx([expected.low, expected.high], abs=1e-9)


def test_an_interrupted_audit_resumes_from_its_journal(models, tmp_path):
    world = audit_world(seed=2, accounts="acct", followers=900, authentic_share=0.6, mistake_rate=0.03)
    loaded = audit.Models.load(models / "list_model.tflite", models / "model.tflite", models / "audit.json",
                               models / "decision.json")
    assert (loaded.threshold, loaded.list_threshold, loaded.rates) == (SHIPPED_THRESHOLD, LIST_THRESHOLD, RATES)
    journal = tmp_path / "responses.jsonl"
    with serve(world, faults=faults(login_required_after=30)) as server:
        cache = ResponseCache(journal)
        with pytest.raises(AccountBlocked):
            audit.audit(api_client(server.base_url, cache), "acct", loaded, 60, 0, concurrency=2)
        cache.close()
    with serve(world) as server:
        cache = ResponseCache(journal)
        result = audit.audit(api_client(server.base_url, cache), "acct", loaded, 60, 0, concurrency=2)
        cache.close()
        assert server.total_requests == result.requests
    total = 1 + math.ceil(900 / 200) + 60
    assert result.cached >= 25 and result.requests + result.cached == total


def test_audit_never_imports_tensorflow():
    import subprocess
    import sys

    code = ("import sys, pipeline.cli.audit, pipeline.audit.audit, pipeline.instagram.server, "
            "pipeline.instagram.world; "
            "heavy = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')]; assert not heavy, heavy")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("argv, message", [
    (["--sample-size", "2"], "--sample-size: expected an integer of at least 3, got 2"),
    (["--authentic-share", "1.5"], "--authentic-share: expected a number from 0 to 1, got 1.5"),
    (["--followers", "0"], "--followers: expected a positive integer, got 0"),
    (["--source", "instagram"], "the instagram source needs a session: set the environment variable IG_SESSIONID"),
])
def test_audit_rejects_bad_options_in_one_line(argv, message, capsys, monkeypatch):
    monkeypatch.delenv("IG_SESSIONID", raising=False)
    assert cli.main(["audit", "acct", "--params", str(REPO / "params.yaml"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


class _BadFollowerPk(SimulatedInstagram):
    """Lists the first follower of every account with ``bad_pk`` for a pk, as a broken proxy might."""

    bad_pk: object = None

    def respond(self, route, groups, query):
        status, body = super().respond(route, groups, query)
        if route == "followers" and body.get("users") and "max_id" not in query:
            body = {**body, "users": [{**body["users"][0], "pk": self.bad_pk}, *body["users"][1:]]}
        return status, body


@contextlib.contextmanager
def _serving_bad_pk(world, bad_pk):
    with serve(world, kind=_BadFollowerPk) as server:
        server.bad_pk = bad_pk
        yield server


# Digits int() takes but no API sends as a pk (Arabic-Indic, superscript), not digits, and numbers out of a
# pk's range: the crawl refuses each, and the audit must too (it used to take "١٢٣" as 123 and 0 as a pk).
@pytest.mark.parametrize("bad_pk", ["١٢٣", "12a", "²", "", True, 0, -5, 2**63, 1.5])
def test_the_audit_refuses_a_follower_pk_as_the_crawl_does(bad_pk, models, tmp_path, capsys, monkeypatch):
    name = repo_params().audit.simulator.accounts[0]
    world = audit_world(seed=4, accounts=name, followers=250, authentic_share=0.5, mistake_rate=0.0)
    owner = world.seeds[name].user["pk"]
    expected = f"GET /api/v1/friendships/{owner}/followers/: expected 'users' to be a list of records with a pk, got "
    with _serving_bad_pk(world, bad_pk) as server:
        with pytest.raises(CrawlError) as crawled:
            crawl(api_client(server.base_url), [name], max_profiles=10)
        assert str(crawled.value).startswith(expected) and repr(bad_pk) in str(crawled.value)
        # The audit command, against the same server: one line, the crawl's message, exit status 2.
        monkeypatch.setattr("pipeline.core.paths.AUDIT_CACHE", tmp_path / "cache")
        monkeypatch.setattr("pipeline.instagram.server.serve", lambda *a, **k: contextlib.nullcontext(server))
        argv = ["audit", name, "--params", str(REPO / "params.yaml"), *_files(models)]
        assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"igfake audit: error: {crawled.value}"]
