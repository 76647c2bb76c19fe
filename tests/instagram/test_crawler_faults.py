"""The crawler against a hostile simulated Instagram: same output as a calm one, or a clear abort."""

import time

import pytest

from pipeline.core.atomic import jsonl_line
from pipeline.core.errors import AccountBlocked, CrawlError
from pipeline.instagram.api import ApiClient, ResponseCache
from pipeline.instagram.crawler import crawl
from pipeline.instagram.server import RATE_LIMITED, serve
from pipeline.instagram.world import World
from tests.conftest import api_client, faults

SEEDS = ("owner.one", "owner_two")
HOSTILE = faults(seed=3, server_error_rate=0.10, reset_rate=0.05, malformed_rate=0.02,
                 rate_limit_requests=60, rate_limit_window_seconds=0.5)


@pytest.fixture(scope="module")
def world():
    return World(seed=5, seed_usernames=SEEDS, accounts_per_seed=150, mistake_rate=0.03)


def client(server, cache=None, **overrides) -> ApiClient:
    overrides = {"max_retries": 10, "backoff_seconds": 0.05, "backoff_max_seconds": 1.0, **overrides}
    return api_client(server.base_url, cache, **overrides)


def as_bytes(result) -> dict[str, bytes]:
    return {name: b"".join(jsonl_line(r).encode() for r in getattr(result, name))
            for name in ("profiles", "graph", "quarantine")}


@pytest.fixture(scope="module")
def calm(world):
    with serve(world) as server:
        return crawl(client(server), SEEDS, max_profiles=10_000, page_size=50)


def test_faulty_crawl_is_byte_identical_to_a_calm_one(world, calm):
    with serve(world, faults=HOSTILE) as server:
        result = crawl(client(server), SEEDS, max_profiles=10_000, page_size=50, concurrency=4)
        served = dict(server.faults_served)
    assert as_bytes(result) == as_bytes(calm)
    assert len(result.profiles) == len(world.profiles)
    # The faults did happen, and the report counts them.
    for kind in ("429", "reset", "malformed"):
        assert served.get(kind, 0) > 0, served
    assert sum(served.get(k, 0) for k in ("500", "502", "503")) > 0, served
    stats = result.stats
    assert stats.http_429 == served["429"]
    assert stats.retries == sum(served.values()) and stats.errors == stats.retries - stats.http_429
    assert stats.requests == stats.cached + len(world.profiles) + stats.pages + len(SEEDS) + stats.retries


def test_faults_do_not_depend_on_thread_scheduling(world):
    chosen = faults(seed=9, server_error_rate=0.1, reset_rate=0.05, malformed_rate=0.02)
    seen = []
    for concurrency in (2, 8):
        with serve(world, faults=chosen) as server:
            crawl(client(server, backoff_seconds=0.01), SEEDS, max_profiles=10_000, page_size=50,
                  concurrency=concurrency)
            seen.append(dict(server.faults_served))
    assert seen[0] == seen[1]


def test_slow_answers_beyond_the_timeout_are_retried(world, calm):
    chosen = faults(seed=1, slow_rate=0.05, slow_seconds=0.5)
    with serve(world, faults=chosen) as server:
        result = crawl(client(server, timeout_seconds=0.2), SEEDS, max_profiles=10_000, page_size=50, concurrency=8)
    assert as_bytes(result) == as_bytes(calm)
    assert result.stats.errors > 0 and result.stats.http_429 == 0


def test_429_body_is_instagrams(world):
    import requests

    with serve(world, faults=faults(rate_limit_requests=1, rate_limit_window_seconds=60)) as server:
        requests.get(f"{server.base_url}/api/v1/users/owner.one/usernameinfo/", timeout=5)
        answer = requests.get(f"{server.base_url}/api/v1/users/owner.one/usernameinfo/", timeout=5)
    assert answer.status_code == 429 and answer.json() == RATE_LIMITED


def test_client_rate_limit_spaces_requests_and_avoids_the_servers_429s(world):
    per_minute = 1200  # one request every 50 ms; the server allows 25 per second
    with serve(world, faults=faults(rate_limit_requests=25, rate_limit_window_seconds=1.0)) as server:
        started = time.monotonic()
        result = crawl(client(server, requests_per_minute=per_minute), SEEDS, max_profiles=30, page_size=200,
                       concurrency=4)
        elapsed = time.monotonic() - started
    assert result.stats.http_429 == 0 and len(result.profiles) == 30
    assert elapsed >= (result.stats.requests - 1) * 60 / per_minute * 0.95


def test_persistent_failure_stops_with_what_to_do(world):
    with serve(world, faults=faults(server_error_rate=1.0)) as server:
        with pytest.raises(CrawlError, match=r"still failing after 2 retries.*crawl.requests_per_minute"):
            crawl(client(server, max_retries=2), SEEDS, max_profiles=10)
        assert server.total_requests == 3


@pytest.mark.parametrize(("refusal", "message"), [
    (faults(login_required_after=40), r"login_required.*IG_SESSIONID"),
    (faults(checkpoint_required_after=40), r"checkpoint_required.*complete the check"),
])
def test_refusals_abort_with_advice_and_the_crawl_resumes_after(world, calm, tmp_path, refusal, message):
    cache = ResponseCache(tmp_path / "responses.jsonl")
    with serve(world, faults=refusal) as server:
        with pytest.raises(AccountBlocked, match=message):
            crawl(client(server, cache=cache), SEEDS, max_profiles=10_000, page_size=50, concurrency=4)
        refused = server.total_requests
    # No retries of a refusal: the workers stop at the first one (each may have had one in flight).
    assert refused <= 40 + 4
    cache.close()
    cache = ResponseCache(tmp_path / "responses.jsonl")
    assert len(cache) == 40
    with serve(world) as server:
        result = crawl(client(server, cache=cache), SEEDS, max_profiles=10_000, page_size=50, concurrency=4)
        assert server.total_requests == calm.stats.requests - 40
    assert as_bytes(result) == as_bytes(calm) and result.stats.cached == 40


def test_standalone_simulator_serves_the_faults_it_is_given(tmp_path):
    import subprocess
    import sys

    import requests

    from tests.conftest import REPO, run_env

    process = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "simulator", "serve", "--params",
                                str(REPO / "params.yaml"), "--accounts-per-seed", "20", "--rate-limit", "2/60"],
                               cwd=tmp_path, env=run_env(), stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        url = line.split()[3]
        assert line.startswith("simulated Instagram on http://127.0.0.1:") and "rate_limit_requests': 2" in line
        answers = [requests.get(f"{url}/api/v1/users/maya.lindqvist/usernameinfo/", timeout=5) for _ in range(3)]
    finally:
        process.kill()
        process.wait()
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[0].json()["user"]["username"] == "maya.lindqvist" and answers[2].json() == RATE_LIMITED
