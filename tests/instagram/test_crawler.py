import json

import pytest

from pipeline.core.errors import CrawlError, FieldError
from pipeline.instagram.crawler import crawl, select_profiles
from pipeline.instagram.records import normalize_user, relationships
from pipeline.instagram.server import SimulatedInstagram, serve
from pipeline.instagram.world import World
from tests.conftest import api_client

SEEDS = ("owner.one", "owner_two")


@pytest.fixture(scope="module")
def world():
    return World(seed=7, seed_usernames=SEEDS, accounts_per_seed=150, mistake_rate=0.03)


def test_world_is_a_pure_function_of_its_params(world):
    again = World(seed=7, seed_usernames=SEEDS, accounts_per_seed=150, mistake_rate=0.03)
    assert [p.user for p in again.profiles.values()] == [p.user for p in world.profiles.values()]
    other = World(seed=8, seed_usernames=SEEDS, accounts_per_seed=150, mistake_rate=0.03)
    assert [p.user for p in other.profiles.values()] != [p.user for p in world.profiles.values()]


def test_every_simulated_record_is_a_valid_user_info_record(world):
    for profile in world.profiles.values():
        assert normalize_user(profile.user)["pk"] == profile.pk
    kinds = {p.kind for p in world.profiles.values()}
    assert {"person", "farm", "spam"} <= kinds


def test_crawl_over_http_gets_every_profile_once_sorted_and_counts_requests(world):
    with serve(world) as server:
        client = api_client(server.base_url)
        result = crawl(client, SEEDS, max_profiles=10_000, page_size=50, concurrency=4)
        served = sum(server.requests.values())
    assert [p["pk"] for p in result.profiles] == sorted(world.profiles)
    assert result.profiles[0] == normalize_user(world.profiles[result.profiles[0]["pk"]].user)
    assert result.stats.requests == served
    assert result.stats.profiles == len(world.profiles)
    # one usernameinfo per seed, ceil(list/50) pages per list, one info per profile
    pages = sum(-(-len(s.followers) // 50) + -(-len(s.following) // 50) for s in world.seeds.values())
    assert result.stats.pages == pages
    assert served == len(SEEDS) + pages + len(world.profiles)


def test_crawl_output_does_not_depend_on_concurrency_or_page_size(world):
    with serve(world) as server:
        a = crawl(api_client(server.base_url), SEEDS, max_profiles=120, page_size=200, concurrency=1)
        b = crawl(api_client(server.base_url), SEEDS, max_profiles=120, page_size=7, concurrency=8)
    assert a.profiles == b.profiles and a.graph == b.graph
    assert len(a.profiles) == 120


def test_max_profiles_takes_seeds_in_turn():
    relations = {"a": ([1, 2, 3], [4]), "b": ([5, 6], [1])}
    assert select_profiles(relations, 4) == [1, 5, 2, 6]
    assert select_profiles(relations, 100) == [1, 5, 2, 6, 3, 4]


def test_graph_gives_the_calibration_relationships(world):
    with serve(world) as server:
        result = crawl(api_client(server.base_url), SEEDS, max_profiles=10_000)
    rel = relationships(result.graph)
    seed = world.seeds[SEEDS[0]]
    mutual = set(seed.followers) & set(seed.following)
    assert mutual and all(rel[pk] == "mutual" for pk in mutual)
    assert all(rel[pk] == "fans" for pk in set(seed.followers) - set(seed.following))
    assert {"fans", "mutual", "unrequited"} == set(rel.values())


class _CorruptingServer(SimulatedInstagram):
    """Serves one profile with follower_count as a string, as a broken proxy might."""

    bad_pk = None

    def respond(self, route, groups, query):
        status, body = super().respond(route, groups, query)
        if route == "info" and int(groups["pk"]) == self.bad_pk:
            body = json.loads(json.dumps(body))
            body["user"]["follower_count"] = "many"
        return status, body


def test_malformed_record_is_quarantined_with_reason_not_dropped(world):
    server = _CorruptingServer(world)
    server.bad_pk = sorted(world.profiles)[3]
    import threading

    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        result = crawl(api_client(server.base_url), SEEDS, max_profiles=10_000)
    finally:
        server.shutdown()
        server.server_close()
    assert server.bad_pk not in {p["pk"] for p in result.profiles}
    assert result.stats.quarantined == 1 and len(result.profiles) == len(world.profiles) - 1
    (q,) = result.quarantine
    assert q["pk"] == server.bad_pk and q["field"] == "follower_count" and "'many'" in q["reason"]
    assert q["record"]["follower_count"] == "many"


def test_unknown_seed_account_is_a_clear_error(world):
    with serve(world) as server, pytest.raises(CrawlError, match="seed account 'nobody'"):
        crawl(api_client(server.base_url), ["nobody"], max_profiles=10)


@pytest.mark.parametrize(
    ("record", "field"),
    [({"pk": 1}, "username"), ({"pk": "x"}, "pk"), (["not", "a", "dict"], "<record>")],
)
def test_normalize_user_names_the_bad_field(record, field):
    with pytest.raises(FieldError) as err:
        normalize_user(record)
    assert err.value.field == field
