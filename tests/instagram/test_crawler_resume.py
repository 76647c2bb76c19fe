"""A crawl killed with SIGKILL at any point resumes without refetching what it had, and ends identical.

The crawl stage runs in a subprocess against a simulated Instagram served by this test process, which
counts every request it receives and kills the crawler itself when the Nth request arrives.
"""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.instagram.api import ResponseCache
from pipeline.instagram.server import SimulatedInstagram, serve
from pipeline.instagram.world import World
from tests.conftest import REPO, run_env

SEEDS = ("owner.one", "owner_two")
WORLD = {"seed": 11, "accounts_per_seed": 150, "annotator_mistake_rate": 0.03}
CONCURRENCY = 4
PAGE = 50
OUTPUTS = ("data/raw/profiles.jsonl", "data/raw/graph.jsonl", "data/raw/quarantine.jsonl")


def make_project(path: Path, **crawl: object) -> Path:
    path.mkdir()
    (path / "dvc.yaml").write_text((REPO / "dvc.yaml").read_text())
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["simulator"].update(WORLD)
    params["crawl"].update(seed_accounts=list(SEEDS), max_profiles=10_000, page_size=PAGE,
                           concurrency=CONCURRENCY, **crawl)
    (path / "params.yaml").write_text(yaml.safe_dump(params))
    return path


def start_crawl(project: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline.stages.crawl"], cwd=project,
                            env=run_env(IG_SESSIONID="test-session"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


class KillingInstagram(SimulatedInstagram):
    """Kills the crawler process with SIGKILL as the ``kill_at``-th request arrives."""

    kill_at = 0
    victim: subprocess.Popen | None = None

    def count(self, route: str) -> int:
        ordinal = super().count(route)
        if ordinal == self.kill_at and self.victim is not None:
            os.kill(self.victim.pid, signal.SIGKILL)
        return ordinal


@pytest.fixture(scope="module")
def world() -> World:
    return World(seed=WORLD["seed"], seed_usernames=SEEDS, accounts_per_seed=WORLD["accounts_per_seed"],
                 mistake_rate=WORLD["annotator_mistake_rate"])


@pytest.fixture(scope="module")
def reference(world, tmp_path_factory) -> dict[str, bytes]:
    """An uninterrupted crawl of the same world by the stage's default source, the simulator."""
    project = make_project(tmp_path_factory.mktemp("ref") / "p")
    done = subprocess.run([sys.executable, "-m", "pipeline.stages.crawl"], cwd=project, env=run_env(),
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return {name: (project / name).read_bytes() for name in OUTPUTS}


def expected_requests(world: World) -> int:
    pages = sum(-(-len(s.followers) // PAGE) + -(-len(s.following) // PAGE) for s in world.seeds.values())
    return len(SEEDS) + pages + len(world.profiles)


@pytest.mark.parametrize("fraction", [0.0, 0.5, 0.9, 1.0],
                         ids=["during-lists", "halfway", "near-the-end", "at-the-last-request"])
def test_sigkilled_crawl_resumes_identically_refetching_only_what_was_in_flight(world, reference, tmp_path,
                                                                                fraction):
    total = expected_requests(world)
    kill_at = max(3, int(total * fraction))  # 3: while paging through the first seed's followers
    server = KillingInstagram(world, session_id="test-session")
    server.kill_at = kill_at
    project = make_project(tmp_path / "p", source="instagram")
    import threading

    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        params = yaml.safe_load((project / "params.yaml").read_text())
        params["crawl"]["instagram_url"] = server.base_url
        (project / "params.yaml").write_text(yaml.safe_dump(params))
        first = start_crawl(project)
        server.victim = first
        first.communicate(timeout=60)
        assert first.returncode == -signal.SIGKILL
        assert not (project / OUTPUTS[0]).exists()
        before = server.total_requests
        assert before >= kill_at

        second = start_crawl(project)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 0, err
    finally:
        server.shutdown()
        server.server_close()
    for name in OUTPUTS:
        assert (project / name).read_bytes() == reference[name], name
    refetched = server.total_requests - total
    # Only the requests in flight when it died (at most one per worker, or the one page being read).
    assert 0 <= refetched <= CONCURRENCY
    assert server.total_requests - before < total  # the second run did not start over
    # The report counts both processes: every request the server answered, but the few in flight at the kill.
    report = json.loads((project / "reports" / "crawl.json").read_text())
    assert report["all_attempts"]["runs"] == 2
    assert report["requests"] < report["all_attempts"]["requests"]
    assert server.total_requests - CONCURRENCY <= report["all_attempts"]["requests"] <= server.total_requests
    assert not any((project / "data" / "cache" / "crawl").iterdir()), "resume cache kept after success"


def test_cache_drops_a_torn_last_line_and_keeps_the_rest(tmp_path):
    cache = ResponseCache(tmp_path / "responses.jsonl")
    cache.put("/a?", {"status": "ok", "n": 1})
    cache.put("/b?", {"status": "ok", "n": 2})
    cache.close()
    with open(tmp_path / "responses.jsonl", "ab") as fh:
        fh.write(b'{"key": "/c?", "body": {"sta')  # what a write cut by SIGKILL could leave
    again = ResponseCache(tmp_path / "responses.jsonl")
    assert len(again) == 2 and again.get("/b?") == {"status": "ok", "n": 2} and again.get("/c?") is None
    again.put("/c?", {"status": "ok", "n": 3})
    again.close()
    assert len(ResponseCache(tmp_path / "responses.jsonl")) == 3


def test_a_rerun_after_success_fetches_again_from_a_fresh_cache(world, tmp_path):
    """The cache is for resuming: a finished crawl leaves none behind, so new code never meets old answers."""
    project = make_project(tmp_path / "p", source="instagram")
    with serve(world, session_id="test-session") as server:
        params = yaml.safe_load((project / "params.yaml").read_text())
        params["crawl"]["instagram_url"] = server.base_url
        (project / "params.yaml").write_text(yaml.safe_dump(params))
        for _ in range(2):
            done = start_crawl(project)
            _, err = done.communicate(timeout=60)
            assert done.returncode == 0, err
        assert server.total_requests == 2 * expected_requests(world)


def test_stage_against_a_hostile_simulator_writes_the_calm_output(reference, tmp_path):
    """simulator.faults on (10% 5xx, 5% resets, 429 bursts, 2% truncated bodies): same bytes, faults counted."""
    project = make_project(tmp_path / "p", max_retries=10, backoff_seconds=0.05, backoff_max_seconds=1)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["simulator"]["faults"].update(seed=4, server_error_rate=0.10, reset_rate=0.05, malformed_rate=0.02,
                                         rate_limit_requests=60, rate_limit_window_seconds=0.5)
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    done = subprocess.run([sys.executable, "-m", "pipeline.stages.crawl"], cwd=project, env=run_env(),
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for name in OUTPUTS:
        assert (project / name).read_bytes() == reference[name], name
    report = json.loads((project / "reports/crawl.json").read_text())
    assert report["http_429"] > 0 and report["errors"] > 0
    assert report["retries"] == report["http_429"] + report["errors"]
    assert "profiles " in done.stderr  # not a terminal: periodic plain log lines instead of a bar
