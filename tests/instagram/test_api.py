"""The one API client's pk check, list entries and paging (the crawl and the audit both go through them)."""

import pytest

from pipeline.core.errors import FieldError
from pipeline.instagram import api
from pipeline.instagram.server import serve
from pipeline.instagram.world import World
from tests.conftest import api_client


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
