"""The crawler: seed accounts -> follower/following lists -> one user-info request per profile.

The same code talks to the simulated Instagram and to the real private API; only the base URL and
the session headers differ. Transport retries (429, 5xx, resets) are urllib3's ``Retry`` with
exponential backoff, rather than a loop of our own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from pipeline.instagram.records import RecordError, normalize_user

log = logging.getLogger(__name__)


class CrawlError(RuntimeError):
    """The crawl cannot go on (bad seed account, login required, API refuses)."""


@dataclass
class CrawlStats:
    requests: int = 0
    pages: int = 0
    profiles: int = 0
    quarantined: int = 0
    errors: int = 0
    elapsed_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class CrawlResult:
    profiles: list[dict[str, Any]]  # normalised user-info records, sorted by pk
    graph: list[dict[str, Any]]  # one row per (seed, profile) relation, sorted
    quarantine: list[dict[str, Any]]  # records that failed validation, with the reason
    stats: CrawlStats = field(default_factory=CrawlStats)


class ApiClient:
    """A thin, thread-safe JSON client for Instagram's private API v1."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None, timeout: float = 10.0,
                 retries: int = 5) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.retry = Retry(total=retries, backoff_factor=0.2, backoff_jitter=0.1,
                           status_forcelist=(429, 500, 502, 503, 504), allowed_methods=("GET",),
                           respect_retry_after_header=True, raise_on_status=False)
        self._local = threading.local()
        self._lock = threading.Lock()
        self.requests = 0

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update(self.headers)
            session.mount("http://", HTTPAdapter(max_retries=self.retry))
            session.mount("https://", HTTPAdapter(max_retries=self.retry))
            self._local.session = session
        return session

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        with self._lock:
            self.requests += 1
        try:
            response = self._session().get(f"{self.base_url}{path}", params=params, timeout=self.timeout)
        except requests.RequestException as exc:
            raise CrawlError(f"GET {path}: {exc.__class__.__name__}: {exc}") from None
        try:
            body = response.json()
        except ValueError:
            raise CrawlError(f"GET {path}: HTTP {response.status_code}, body is not JSON") from None
        if response.status_code != 200 or body.get("status") != "ok":
            message = body.get("message", "") if isinstance(body, dict) else ""
            raise CrawlError(f"GET {path}: HTTP {response.status_code}: {message or body!r}")
        return body


def _list_pages(client: ApiClient, pk: int, which: str, page_size: int, stats: CrawlStats) -> list[int]:
    pks: list[int] = []
    max_id: str | None = None
    while True:
        params: dict[str, Any] = {"count": page_size}
        if max_id is not None:
            params["max_id"] = max_id
        body = client.get(f"/api/v1/friendships/{pk}/{which}/", params)
        stats.pages += 1
        pks.extend(int(u["pk"]) for u in body.get("users", []))
        max_id = body.get("next_max_id")
        if not max_id:
            return pks


def select_profiles(relations: dict[str, tuple[list[int], list[int]]], max_profiles: int) -> list[int]:
    """Pick up to ``max_profiles`` pks, taking the seeds' lists in turn so no seed crowds out the rest."""
    queues = [list(dict.fromkeys(followers + following)) for followers, following in relations.values()]
    chosen: dict[int, None] = {}
    position = 0
    while len(chosen) < max_profiles and any(position < len(q) for q in queues):
        for queue in queues:
            if position < len(queue) and len(chosen) < max_profiles:
                chosen.setdefault(queue[position])
        position += 1
    return list(chosen)


def crawl(client: ApiClient, seed_accounts: Sequence[str], max_profiles: int, page_size: int = 200,
          concurrency: int = 4, progress: Callable[[int, int], None] | None = None) -> CrawlResult:
    """Crawl the seed accounts' followers and followings, then every chosen profile's details."""
    started = time.monotonic()
    stats = CrawlStats()
    seeds: dict[str, int] = {}
    relations: dict[str, tuple[list[int], list[int]]] = {}
    for username in seed_accounts:
        try:
            seeds[username] = int(client.get(f"/api/v1/users/{username}/usernameinfo/")["user"]["pk"])
        except CrawlError as exc:
            raise CrawlError(f"seed account {username!r}: {exc}") from None
        pk = seeds[username]
        relations[username] = (_list_pages(client, pk, "followers", page_size, stats),
                               _list_pages(client, pk, "following", page_size, stats))
    chosen = select_profiles(relations, max_profiles)

    profiles: list[dict[str, Any]] = []
    quarantine: list[dict[str, Any]] = []

    def fetch(pk: int) -> tuple[int, Any]:
        try:
            return pk, client.get(f"/api/v1/users/{pk}/info/").get("user")
        except CrawlError as exc:
            return pk, exc

    done = 0
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for pk, user in pool.map(fetch, chosen):
            done += 1
            if isinstance(user, CrawlError):
                stats.errors += 1
                quarantine.append({"pk": pk, "field": "<request>", "reason": str(user), "record": None})
            else:
                try:
                    profiles.append(normalize_user(user))
                except RecordError as exc:
                    quarantine.append({"pk": pk, "field": exc.field, "reason": exc.reason, "record": user})
            if progress is not None:
                progress(done, len(chosen))

    kept = {p["pk"] for p in profiles}
    graph = []
    for username, (followers, following) in relations.items():
        followers_set, following_set = set(followers), set(following)
        for pk in sorted(kept & (followers_set | following_set)):
            graph.append({"seed": username, "seed_pk": seeds[username], "pk": pk,
                          "follows_seed": pk in followers_set, "followed_by_seed": pk in following_set})
    stats.requests = client.requests
    stats.profiles = len(profiles)
    stats.quarantined = len(quarantine)
    stats.elapsed_seconds = round(time.monotonic() - started, 3)
    profiles.sort(key=lambda p: p["pk"])
    quarantine.sort(key=lambda q: q["pk"])
    return CrawlResult(profiles=profiles, graph=graph, quarantine=quarantine, stats=stats)
