"""The simulated Instagram served over HTTP, with the private API's URL and JSON shapes.

- ``GET /api/v1/users/{username}/usernameinfo/``  -> ``{"user": {...}, "status": "ok"}``
- ``GET /api/v1/users/{pk}/info/``                -> ``{"user": {...}, "status": "ok"}``
- ``GET /api/v1/friendships/{pk}/followers/``     -> ``{"users": [...], "next_max_id": "...", ...}``
- ``GET /api/v1/friendships/{pk}/following/``     (same shape; ``count`` up to 200, cursor ``max_id``)

It binds to 127.0.0.1 by default, on a free port unless one is given, and counts the requests it
answers so tests can prove what a crawler fetched.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections import Counter
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from pipeline.instagram.world import World

MAX_PAGE = 200

_ROUTES = (
    ("usernameinfo", re.compile(r"^/api/v1/users/(?P<username>[^/]+)/usernameinfo/$")),
    ("info", re.compile(r"^/api/v1/users/(?P<pk>\d+)/info/$")),
    ("followers", re.compile(r"^/api/v1/friendships/(?P<pk>\d+)/followers/$")),
    ("following", re.compile(r"^/api/v1/friendships/(?P<pk>\d+)/following/$")),
)


class SimulatedInstagram(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, world: World, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__((host, port), _Handler)
        self.world = world
        self.requests = Counter()
        self._lock = threading.Lock()
        self._seed_by_pk = {s.user["pk"]: s for s in world.seeds.values()}

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def count(self, route: str) -> None:
        with self._lock:
            self.requests[route] += 1

    def respond(self, route: str, groups: dict[str, str], query: dict[str, list[str]]) -> tuple[int, Any]:
        world = self.world
        if route == "usernameinfo":
            seed = world.seeds.get(groups["username"])
            if seed is None:
                return HTTPStatus.NOT_FOUND, {"message": "User not found", "status": "fail"}
            return HTTPStatus.OK, {"user": seed.user, "status": "ok"}
        pk = int(groups["pk"])
        if route == "info":
            user = world.user(pk)
            if user is None:
                return HTTPStatus.NOT_FOUND, {"message": "User not found", "status": "fail"}
            return HTTPStatus.OK, {"user": user, "status": "ok"}
        seed = self._seed_by_pk.get(pk)
        if seed is None:  # only the seed accounts' lists are visible in this world
            return HTTPStatus.OK, {"users": [], "big_list": False, "page_size": 0, "status": "ok"}
        pks = seed.followers if route == "followers" else seed.following
        try:
            count = min(max(int(query.get("count", ["200"])[0]), 1), MAX_PAGE)
            start = int(query.get("max_id", ["0"])[0])
        except ValueError:
            return HTTPStatus.BAD_REQUEST, {"message": "Invalid parameter", "status": "fail"}
        page = pks[start : start + count]
        body: dict[str, Any] = {
            "users": [world.profiles[p].short() for p in page],
            "big_list": start + count < len(pks),
            "page_size": count,
            "status": "ok",
        }
        if start + count < len(pks):
            body["next_max_id"] = str(start + count)
        return HTTPStatus.OK, body


class _Handler(BaseHTTPRequestHandler):
    server: SimulatedInstagram
    protocol_version = "HTTP/1.1"  # keep-alive, as the real API; pooled clients reuse connections
    disable_nagle_algorithm = True  # headers and body go out as two writes; Nagle would stall each reply

    def do_GET(self) -> None:
        url = urlparse(self.path)
        for route, pattern in _ROUTES:
            match = pattern.match(url.path)
            if match:
                self.server.count(route)
                status, body = self.server.respond(route, match.groupdict(), parse_qs(url.query))
                break
        else:
            status, body = HTTPStatus.NOT_FOUND, {"message": "Page not found", "status": "fail"}
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the crawler reports; a line per request would drown it


@contextlib.contextmanager
def serve(world: World, host: str = "127.0.0.1", port: int = 0) -> Iterator[SimulatedInstagram]:
    """Run the simulated Instagram in a background thread for the duration of the block."""
    server = SimulatedInstagram(world, host, port)
    thread = threading.Thread(target=server.serve_forever, name="simulated-instagram", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
