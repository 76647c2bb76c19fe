"""The simulated Instagram answering follower and following lists as a broken or unwelcoming API would.

Each class is the real loopback simulator (:class:`~pipeline.instagram.server.SimulatedInstagram`) with one
change to how it answers a list page; everything else (user lookups, profiles, the wire) is the simulator's.
"""

from __future__ import annotations

import contextlib
import itertools
from http import HTTPStatus
from typing import Any

from pipeline.instagram import api
from pipeline.instagram.server import SimulatedInstagram, serve
from pipeline.instagram.world import World

LISTS = (api.FOLLOWERS, api.FOLLOWING)


class RepeatingCursor(SimulatedInstagram):
    """Every page after the first is the second again: its cursor never advances past ``"200"``."""

    def respond(self, route: str, groups: dict[str, str], query: dict[str, list[str]]) -> tuple[int, Any]:
        status, body = super().respond(route, groups, query)
        if route in LISTS and body.get("users"):
            body = {**body, "next_max_id": "200"}
        return status, body


class BackwardsCursor(SimulatedInstagram):
    """The first page points to offset 400, the page at 400 back to 200."""

    def respond(self, route: str, groups: dict[str, str], query: dict[str, list[str]]) -> tuple[int, Any]:
        status, body = super().respond(route, groups, query)
        if route in LISTS and body.get("users"):
            at = query.get("max_id")
            body = {**body, "next_max_id": "400" if at is None else str(int(at[0]) - 200)}
        return status, body


class EndlessList(SimulatedInstagram):
    """A list without end: every page full (the owner's followers over and over), the cursor always advancing."""

    def respond(self, route: str, groups: dict[str, str], query: dict[str, list[str]]) -> tuple[int, Any]:
        if route not in LISTS:
            return super().respond(route, groups, query)
        start = int(query.get("max_id", ["0"])[0])
        count = int(query.get("count", [str(api.MAX_PAGE)])[0])
        pks = next(iter(self.world.seeds.values())).followers
        page = list(itertools.islice(itertools.cycle(pks), start % len(pks), start % len(pks) + count))
        return HTTPStatus.OK, {"users": [self.world.profiles[p].short() for p in page], "big_list": True,
                               "next_max_id": str(start + count), "status": "ok"}


class PrivateLists(SimulatedInstagram):
    """Every account is private and not followed by the session: its lists are refused as Instagram does."""

    def respond(self, route: str, groups: dict[str, str], query: dict[str, list[str]]) -> tuple[int, Any]:
        if route in LISTS:
            return HTTPStatus.BAD_REQUEST, {"message": "Not authorized to view user", "status": "fail"}
        return super().respond(route, groups, query)


def serving(kind: type[SimulatedInstagram], world: World) -> contextlib.AbstractContextManager[SimulatedInstagram]:
    """``kind`` serving ``world`` on a free loopback port for the block's duration."""
    return serve(world, kind=kind)
