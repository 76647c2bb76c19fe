"""``igfake audit`` on what goes wrong: an API that pages forever, a spent budget, a model too weak to adjust by,
a private account, no API at the URL, an account the simulator does not have.

Each case runs the command as a process with a timeout (a hang fails the case instead of the suite) against
the real loopback simulator, answering as a broken API would (tests/instagram/hostile.py) where the case needs
one. Every case: exit status 2, nothing on stdout, one line on stderr naming the account, page or option.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from pipeline.instagram.server import SimulatedInstagram
from pipeline.instagram.world import World, audit_world
from pipeline.serving import decision
from tests.audit.conftest import SHIPPED_THRESHOLD, model_args
from tests.conftest import REPO, repo_params, run_env
from tests.instagram import hostile

TIMEOUT = 60  # seconds; a well-behaved audit of these small accounts takes a few
SIMULATED = repo_params().audit.simulator.accounts  # the simulated accounts params.yaml names
PRIVATE = "secret.one"  # the account of the worlds served as "instagram"


def _audit(tmp_path: Path, models: Path, argv: list[str], mutate: Callable[[dict], None] = lambda d: None,
           session: bool = False) -> subprocess.CompletedProcess[str]:
    """``igfake audit ARGV`` as a process in ``tmp_path``, with params.yaml changed by ``mutate``."""
    data = yaml.safe_load((REPO / "params.yaml").read_text())
    mutate(data)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(data))
    env = run_env(PYTHONPATH=str(REPO), **({"IG_SESSIONID": "test-session"} if session else {}))
    # ARGV last: its options (--decision) override the models' files.
    return subprocess.run([sys.executable, "-m", "pipeline.cli", "audit", "--params", str(params),
                           *model_args(models), *argv], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT)


def _at(url: str) -> Callable[[dict], None]:
    """params.yaml for the instagram source at ``url`` (the crawl's URL, as `igfake audit` uses it)."""
    def mutate(data: dict) -> None:
        data["audit"]["source"] = "instagram"
        data["crawl"]["instagram_url"] = url
    return mutate


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bad_rates(tmp_path: Path, models: Path, counts: dict[str, int]) -> list[str]:
    """--decision: the shipped model's file with other held-out counts."""
    path = tmp_path / "decision.json"
    chosen = decision.Decision(SHIPPED_THRESHOLD, "balanced_accuracy", "valid", counts, "test")
    path.write_text(json.dumps(decision.write_dict(chosen, {})))
    return ["--decision", str(path)]


def _world() -> World:
    return audit_world(4, PRIVATE, 450, 0.5, 0.0)  # seed, account, followers, authentic share, mistakes


def _simulated_pk(name: str, followers: int) -> int:
    """The pk of simulated account ``name`` in the world `igfake audit --followers FOLLOWERS` serves."""
    params = repo_params()
    sim = params.audit.simulator
    world = audit_world(sim.seed, sim.accounts, followers, sim.authentic_share, params.simulator.annotator_mistake_rate)
    return world.seeds[name].user["pk"]


def _set(section: str, **values) -> Callable[[dict], None]:
    return lambda data: data[section].update(values)


# (case, server class (None: the simulator source; "closed": a closed loopback port), argv, params change,
#  what the one line on stderr says). {url} is the server's, {pk} the audited account's pk.
CASES = [
    ("repeating cursor", hostile.RepeatingCursor, [PRIVATE], None,
     f"igfake audit: error: account '{PRIVATE}': followers page 2 (GET /api/v1/friendships/{{pk}}/followers/): the "
     "next cursor, next_max_id '200', is the one page 2 was asked with: the API is paging in a loop"),
    ("backwards cursor", hostile.BackwardsCursor, [PRIVATE], None,
     f"igfake audit: error: account '{PRIVATE}': followers page 2 (GET /api/v1/friendships/{{pk}}/followers/): the "
     "next cursor, next_max_id '200', goes back from this page's '400': the API is paging in a loop"),
    ("pages budget", hostile.EndlessList, [PRIVATE], _set("audit", max_pages=4),
     f"igfake audit: error: account '{PRIVATE}': followers page 4 (GET /api/v1/friendships/{{pk}}/followers/): "
     "audit.max_pages is 4 and the list goes on (more than 800 entries at 200 a page); raise audit.max_pages in "
     "params.yaml to read it all"),
    # 1 request resolves the account, 2 read pages; the third page is never sent.
    ("requests budget", None, [SIMULATED[0], "--followers", "700"], _set("audit", max_requests=3),
     f"igfake audit: error: account '{SIMULATED[0]}': audit.max_requests is 3: all 3 requests (retries included) "
     "are sent and more are needed (next: GET /api/v1/friendships/{pk}/followers/); raise audit.max_requests in "
     "params.yaml to go on (the journal keeps what was fetched)"),
    ("private account", hostile.PrivateLists, [PRIVATE], None,
     f"igfake audit: error: account '{PRIVATE}' is private: its followers cannot be listed without following it "
     "(GET /api/v1/friendships/{pk}/followers/: HTTP 400 'Not authorized to view user')"),
    ("no such account", SimulatedInstagram, ["nobody"], None,
     "igfake audit: error: account 'nobody': GET /api/v1/users/nobody/usernameinfo/: HTTP 404: 'User not found'"),
    ("connection refused", "closed", [PRIVATE], None,
     "igfake audit: error: GET /api/v1/users/secret.one/usernameinfo/: the API at {url} refused the connection "
     "(nothing listens there); check crawl.instagram_url (and that the API, or `igfake simulator serve`, runs "
     "there)"),
    ("unknown simulated account", None, ["this.account.does.not.exist"], None,
     "igfake audit: error: account 'this.account.does.not.exist' is not a simulated account (audit.source is "
     f"simulator): the simulator has {', '.join(SIMULATED)} (audit.simulator.accounts); for a real account use "
     "--source instagram"),
]


@pytest.mark.parametrize("server_kind, argv, mutate, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_failure_is_one_line_naming_the_account_page_or_option(server_kind, argv, mutate, expected, models,
                                                                    tmp_path):
    mutate = mutate or (lambda data: None)
    world = _world()
    pk = world.seeds[PRIVATE].user["pk"]
    if server_kind is None:  # the simulator source: the world params.yaml describes, --followers 700
        pk = _simulated_pk(argv[0], 700) if argv[0] in SIMULATED else None
        result, url = _audit(tmp_path, models, argv, mutate), ""
    elif server_kind == "closed":
        url = f"http://127.0.0.1:{_closed_port()}"
        result = _audit(tmp_path, models, argv, lambda d: (_at(url)(d), mutate(d)), session=True)
    else:
        with hostile.serving(server_kind, world) as server:
            url = server.base_url
            result = _audit(tmp_path, models, argv, lambda d: (_at(url)(d), mutate(d)), session=True)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [expected.format(pk=pk, url=url)]


# The held-out counts (true authentic, false fake, false authentic, true fake) of a model that barely
# separates the classes, and the line that says so, from the counts by hand.
BAD_RATES = [
    # tpr 50/100 = 50.0%, fpr 48/100 = 48.0%: tpr - fpr = 0.020.
    ((50, 50, 48, 52), "it calls 50.0% of authentic rows authentic (tpr, 50 of 100) and 48.0% of fake rows authentic "
                       "(fpr, 48 of 100); tpr - fpr = 0.020 is not above 0.05"),
    # Worse than chance: tpr 10/100, fpr 60/100.
    ((10, 90, 60, 40), "it calls 10.0% of authentic rows authentic (tpr, 10 of 100) and 60.0% of fake rows authentic "
                       "(fpr, 60 of 100); tpr - fpr = -0.500 is not above 0.05"),
    # No fake row was held out: the fpr is 0 of 0, the tpr 0 of 30.
    ((0, 30, 0, 0), "it calls 0.0% of authentic rows authentic (tpr, 0 of 30) and 0.0% of fake rows authentic "
                    "(fpr, 0 of 0); tpr - fpr = 0.000 is not above 0.05"),
]


@pytest.mark.parametrize("counts, said", BAD_RATES, ids=["barely", "worse than chance", "no fake rows"])
def test_a_model_too_weak_to_adjust_by_is_refused_before_any_request(counts, said, models, tmp_path):
    names = ("true_authentic", "false_fake", "false_authentic", "true_fake")
    decision_args = _bad_rates(tmp_path, models, dict(zip(names, counts, strict=True)))
    result = _audit(tmp_path, models, [SIMULATED[0], *decision_args])
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        f"igfake audit: error: decision.json: shipped_rates at threshold {SHIPPED_THRESHOLD:g}: the "
        f"shipped model barely separates the classes: {said}, so the authentic share cannot be estimated from it; "
        "retrain (`dvc repro`) for a model that separates them"]
    assert not (tmp_path / "data").exists()  # refused before the first request: no journal was even opened


@pytest.mark.parametrize("source, simulated", [("simulator", True), ("instagram", False)])
def test_the_output_says_whether_the_account_is_simulated(source, simulated, models, tmp_path):
    """On the simulator the line and the JSON say so; the same world served as the real API is not called
    simulated (the command cannot know, and does not claim to)."""
    name = SIMULATED[2]
    argv = [name, "--followers", "400", "--sample-size", "30"]
    world = audit_world(4, name, 400, 0.5, 0.0)
    with hostile.serving(SimulatedInstagram, world) as server:
        mutate = _at(server.base_url) if source == "instagram" else (lambda d: None)
        line = _audit(tmp_path, models, argv, mutate, session=source == "instagram")
        as_json = _audit(tmp_path, models, [*argv, "--json"], mutate, session=source == "instagram")
    assert line.returncode == 0 and as_json.returncode == 0, line.stderr + as_json.stderr
    prefix = f"{name} (a simulated account: audit.source is simulator): " if simulated else f"{name}: "
    assert line.stdout.startswith(prefix) and "of 400 followers authentic" in line.stdout
    out = json.loads(as_json.stdout)
    assert (out["account"], out["simulated"], out["followers"]) == (name, simulated, 400)
