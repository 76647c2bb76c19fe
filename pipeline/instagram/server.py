"""The simulated Instagram served over HTTP, with the private API's URL and JSON shapes.

- ``GET /api/v1/users/{username}/usernameinfo/``  -> ``{"user": {...}, "status": "ok"}``
- ``GET /api/v1/users/{pk}/info/``                -> ``{"user": {...}, "status": "ok"}``
- ``GET /api/v1/friendships/{pk}/followers/``     -> ``{"users": [...], "next_max_id": "...", ...}``
- ``GET /api/v1/friendships/{pk}/following/``     (same shape; ``count`` up to 200, cursor ``max_id``)

It binds to 127.0.0.1 by default, on a free port unless one is given, and counts the requests it
answers so tests can prove what a crawler fetched.

On request (:class:`~pipeline.core.params.FaultParams`) it fights back as the real API does: a rate limit per
time window answered with 429 ``Please wait a few minutes``, 5xx errors, connection resets, slow answers, truncated JSON
bodies, and ``login_required`` / ``checkpoint_required`` refusals. Whether a request meets a fault is
drawn from the fault seed, the request's URL and how many times that URL was asked before, not from
arrival order, so a crawl meets the same faults however its threads interleave.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from pipeline.core.params import FaultParams
from pipeline.instagram import api
from pipeline.instagram.world import World


def _route(template: str, **fields: str) -> re.Pattern[str]:
    """The client's endpoint ``template`` as a pattern: a username is one path segment, a pk ASCII digits."""
    return re.compile("^" + template.format(username="(?P<username>[^/]+)", pk="(?P<pk>[0-9]+)", **fields) + "$")


_ROUTES = (
    ("usernameinfo", _route(api.USERNAME_INFO)),
    ("info", _route(api.USER_INFO)),
    (api.FOLLOWERS, _route(api.FRIENDSHIPS, which=api.FOLLOWERS)),
    (api.FOLLOWING, _route(api.FRIENDSHIPS, which=api.FOLLOWING)),
)


RATE_LIMITED = {"message": "Please wait a few minutes before you try again.", "status": "fail"}
LOGIN_REQUIRED = {"message": "login_required", "logout_reason": 2, "status": "fail"}
CHECKPOINT_REQUIRED = {"message": "checkpoint_required", "checkpoint_url": "https://i.instagram.com/challenge/",
                       "lock": True, "error_type": "checkpoint_challenge_required", "status": "fail"}


# What the handler does instead of answering normally.
RESET, MALFORMED = "reset", "malformed"


class SimulatedInstagram(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # a burst of concurrent crawlers must not be refused at the socket

    def __init__(self, world: World, host: str = "127.0.0.1", port: int = 0, faults: FaultParams | None = None,
                 session_id: str | None = None) -> None:
        super().__init__((host, port), _Handler)
        self.world = world
        self.faults = faults  # None: a well-behaved API
        # If set, requests must carry this ``sessionid`` cookie, as the real API wants a logged-in session.
        self.session_id = session_id
        self.requests: Counter[str] = Counter()  # every request received, per route, faults included
        self.faults_served: Counter[str] = Counter()  # what was answered instead: 429, 500, reset, ...
        self._attempts: Counter[str] = Counter()
        self._window = (0, 0)  # (window index, requests in it)
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._seed_by_pk = {s.user["pk"]: s for s in world.seeds.values()}

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def count(self, route: str) -> int:
        """Count a request received on ``route``; returns its ordinal among all requests."""
        with self._lock:
            self.requests[route] += 1
            return sum(self.requests.values())

    @property
    def total_requests(self) -> int:
        with self._lock:
            return sum(self.requests.values())

    def fault(self, target: str, cookies: str, ordinal: int) -> tuple[int, Any] | str | None:
        """What to answer ``GET target`` (request number ``ordinal``) with instead of the truth; may sleep.

        Returns a (status, body) refusal, :data:`RESET`, :data:`MALFORMED` or None (answer normally).
        """
        if self.session_id is not None and f"sessionid={self.session_id}" not in cookies.replace(" ", "").split(";"):
            return self._served("login_required", (HTTPStatus.FORBIDDEN, LOGIN_REQUIRED))
        f = self.faults
        if f is None:
            return None
        with self._lock:
            attempt = self._attempts[target]
            self._attempts[target] += 1
            window = int((time.monotonic() - self._started) / f.rate_limit_window_seconds)
            seen = self._window[1] + 1 if self._window[0] == window else 1
            self._window = (window, seen)
        if f.login_required_after and ordinal > f.login_required_after:
            return self._served("login_required", (HTTPStatus.FORBIDDEN, LOGIN_REQUIRED))
        if f.checkpoint_required_after and ordinal > f.checkpoint_required_after:
            return self._served("checkpoint_required", (HTTPStatus.BAD_REQUEST, CHECKPOINT_REQUIRED))
        if f.rate_limit_requests and seen > f.rate_limit_requests:
            return self._served("429", (HTTPStatus.TOO_MANY_REQUESTS, RATE_LIMITED))
        # One private stream per (URL, attempt): the same request meets the same fate on every run.
        rng = random.Random(f"{f.seed}|{target}|{attempt}")
        slow, draw = rng.random(), rng.random()
        if slow < f.slow_rate:
            time.sleep(f.slow_seconds)
        if draw < f.server_error_rate:
            status = rng.choice((HTTPStatus.INTERNAL_SERVER_ERROR, HTTPStatus.BAD_GATEWAY,
                                 HTTPStatus.SERVICE_UNAVAILABLE))
            return self._served(str(int(status)), (status, {"message": "Oops, an error occurred.",
                                                            "status": "fail"}))
        draw -= f.server_error_rate
        if draw < f.reset_rate:
            return self._served(RESET, RESET)
        draw -= f.reset_rate
        if draw < f.malformed_rate:
            return self._served(MALFORMED, MALFORMED)
        return None

    def _served(self, name: str, what: Any) -> Any:
        with self._lock:
            self.faults_served[name] += 1
        return what

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
        pks = seed.followers if route == api.FOLLOWERS else seed.following
        try:
            count = min(max(int(query.get("count", [str(api.MAX_PAGE)])[0]), 1), api.MAX_PAGE)
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
        fault = None
        for route, pattern in _ROUTES:
            match = pattern.match(url.path)
            if match:
                ordinal = self.server.count(route)
                fault = self.server.fault(self.path, self.headers.get("Cookie", ""), ordinal)
                if fault == RESET:
                    # Close with SO_LINGER 0: the kernel sends a RST, the client sees "connection reset".
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    return
                if isinstance(fault, tuple):
                    status, body = fault
                else:
                    status, body = self.server.respond(route, match.groupdict(), parse_qs(url.query))
                break
        else:
            status, body = HTTPStatus.NOT_FOUND, {"message": "Page not found", "status": "fail"}
        payload = json.dumps(body).encode()
        if fault == MALFORMED:
            payload = payload[: len(payload) // 2]  # a body cut short, as a dropped proxy connection leaves
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the crawler reports; a line per request would drown it


@contextlib.contextmanager
def serve(world: World, host: str = "127.0.0.1", port: int = 0, faults: FaultParams | None = None,
          session_id: str | None = None, kind: type[SimulatedInstagram] | None = None) -> Iterator[SimulatedInstagram]:
    """Run the simulated Instagram (or ``kind``, a subclass that answers otherwise: the tests' hostile APIs)
    in a background thread for the duration of the block."""
    server = (kind or SimulatedInstagram)(world, host, port, faults, session_id)
    thread = threading.Thread(target=server.serve_forever, name="simulated-instagram", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
