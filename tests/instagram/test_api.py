"""The one API client's pk check, list entries and paging (the crawl and the audit both go through them)."""

import itertools
import socket
import time

import pytest

from pipeline.core.errors import CrawlError, FieldError
from pipeline.instagram import api
from pipeline.instagram.crawler import crawl
from pipeline.instagram.server import serve
from pipeline.instagram.sources import client_for
from pipeline.instagram.world import World
from tests.conftest import api_client, repo_params
from tests.instagram import hostile


@pytest.mark.parametrize("value, pk", [(1, 1), ("42", 42), ("0042", 42), (2**63 - 1, 2**63 - 1),
                                       ("9223372036854775807", 2**63 - 1)])
def test_a_pk_is_a_positive_int64_or_its_ascii_digits(value, pk):
    assert api.positive_pk(value) == pk


@pytest.mark.parametrize("value", ["١٢٣", "²", "12a", " 12", "-3", "", "1" * 5000, 0, -1, 2**63, True, 1.0, None,
                                   [1]])
def test_anything_else_is_not_a_pk(value):
    with pytest.raises(ValueError, match="not a pk"):
        api.positive_pk(value)


ENTRY = {"pk": "17", "username": "a.b", "full_name": None, "is_private": False, "is_verified": False,
         "has_anonymous_profile_picture": True, "profile_pic_url": "https://x/y.jpg"}


def test_a_list_entry_keeps_its_fields_with_pk_as_an_int():
    assert api.normalize_list_entry(ENTRY) == {"pk": 17, "username": "a.b", "full_name": "", "is_private": False,
                                               "is_verified": False, "has_anonymous_profile_picture": True}


@pytest.mark.parametrize("change, field", [({"pk": "١٧"}, "pk"), ({"pk": 0}, "pk"), ({"username": ""}, "username"),
                                           ({"is_private": "no"}, "is_private")])
def test_a_bad_list_entry_names_its_field(change, field):
    with pytest.raises(FieldError) as error:
        api.normalize_list_entry({**ENTRY, **change})
    assert error.value.field == field


@pytest.mark.parametrize("page_size", [1, 7, 200])
def test_list_pages_follow_the_cursor_to_the_end_in_list_order(page_size):
    world = World(seed=5, seed_usernames=("owner",), accounts_per_seed=30, mistake_rate=0.0)
    seed = world.seeds["owner"]
    with serve(world) as server:
        pages = list(api.list_pages(api_client(server.base_url), seed.user["pk"], api.FOLLOWING, page_size))
        assert server.requests[api.FOLLOWING] == len(pages)
    assert [pk for page in pages for pk in page.pks] == list(seed.following)
    assert len(pages) == -(-len(seed.following) // page_size)  # ceil: every page full but the last
    assert [p.max_id for p in pages] == [None, *(str(page_size * i) for i in range(1, len(pages)))]


# -- a list that would page forever, a private list, an API that is not there --------------------------------

OWNER = "account 'owner'"


def _paging_world() -> World:
    return World(seed=5, seed_usernames=("owner",), accounts_per_seed=900, mistake_rate=0.0, authentic_share=0.5)


@pytest.mark.parametrize("kind, budget, error, pages_asked, message", [
    # Page 1 (no cursor) points to "200", and so does page 2, which was asked with "200".
    (hostile.RepeatingCursor, None, api.Runaway, 2,
     f"{OWNER}: followers page 2 (GET {{path}}): the next cursor, next_max_id '200', is the one page 2 was asked "
     "with: the API is paging in a loop"),
    # Page 1 points to "400", page 2 (asked with "400") back to "200": 200 < 400.
    (hostile.BackwardsCursor, None, api.Runaway, 2,
     f"{OWNER}: followers page 2 (GET {{path}}): the next cursor, next_max_id '200', goes back from this page's "
     "'400': the API is paging in a loop"),
    # An honest cursor that never ends: the third page is the last one read (3 x 200 entries).
    (hostile.EndlessList, api.Budget("audit", max_pages=3), api.Runaway, 3,
     f"{OWNER}: followers page 3 (GET {{path}}): audit.max_pages is 3 and the list goes on (more than 600 entries "
     "at 200 a page); raise audit.max_pages in params.yaml to read it all"),
    # The requests budget counts every request sent: two pages, then the third is refused before it is sent.
    (hostile.EndlessList, api.Budget("audit", max_requests=2), api.RequestBudgetSpent, 2,
     "audit.max_requests is 2: all 2 requests (retries included) are sent and more are needed (next: GET {path}); "
     "raise audit.max_requests in params.yaml to go on (the journal keeps what was fetched)"),
    (hostile.PrivateLists, None, CrawlError, 1,
     f"{OWNER} is private: its followers cannot be listed without following it (GET {{path}}: HTTP 400 "
     "'Not authorized to view user')"),
])
def test_a_list_that_would_not_end_or_cannot_be_read_is_one_error_naming_the_account_and_page(
        kind, budget, error, pages_asked, message):
    world = _paging_world()
    pk = world.seeds["owner"].user["pk"]
    with hostile.serving(kind, world) as server:
        client = client_for(repo_params().crawl, server.base_url, budget=budget)
        with pytest.raises(error) as raised:
            # At most 20 pages: a client that would page forever fails here instead of hanging.
            list(itertools.islice(api.list_pages(client, pk, api.FOLLOWERS, owner=OWNER), 20))
        assert server.requests[api.FOLLOWERS] == pages_asked  # nothing is asked once the problem shows
    assert str(raised.value) == message.format(path=f"/api/v1/friendships/{pk}/followers/")


@pytest.mark.parametrize("page_size, cursors", [
    (200, [None, "200", "400", "600", "800"]),
    # "810" < "90" as strings: a cursor compared as text would call the last page backwards.
    (90, [None, *(str(90 * k) for k in range(1, 10))]),
])
def test_numeric_cursors_compare_as_numbers(page_size, cursors):
    world = _paging_world()
    seed = world.seeds["owner"]
    with serve(world) as server:
        pages = list(api.list_pages(api_client(server.base_url), seed.user["pk"], api.FOLLOWERS, page_size))
    assert [p.max_id for p in pages] == cursors
    assert [pk for page in pages for pk in page.pks] == list(seed.followers)


def test_a_crawl_meets_the_repeating_cursor_check_too():
    world = World(seed=5, seed_usernames=("owner",), accounts_per_seed=900, mistake_rate=0.0)
    with (hostile.serving(hostile.RepeatingCursor, world) as server,
          pytest.raises(api.Runaway, match=r"^seed account 'owner': (followers|following) page 2 \(GET ")):
        crawl(api_client(server.base_url), ["owner"], max_profiles=10)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_refused_connection_says_so_at_once_not_to_lower_the_rate():
    port = _closed_port()
    client = api_client(f"http://127.0.0.1:{port}")
    started = time.monotonic()
    with pytest.raises(CrawlError) as raised:
        api.user_pk(client, "owner", "account")
    assert str(raised.value) == (
        f"GET /api/v1/users/owner/usernameinfo/: the API at http://127.0.0.1:{port} refused the connection (nothing "
        "listens there); check crawl.instagram_url (and that the API, or `igfake simulator serve`, runs there)")
    # Not retried: 8 retries on the default backoff would take two minutes.
    assert client.stats.requests == 1 and time.monotonic() - started < 5
