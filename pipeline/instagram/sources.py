"""Where the crawl stage's records come from: the simulated Instagram, the real one, or dump files.

This is also where the instagram package's objects are built from ``params.yaml``, by keyword and in one
place: :func:`world_for` (the simulated world) and :func:`client_for` (the API client). Nothing else holds
a default for what params.yaml sets.

All three end in a :class:`~pipeline.instagram.crawler.CrawlResult` built by the same code
(:func:`~pipeline.instagram.crawler.collect` validates, dedups and quarantines every record), so what
``label-import`` reads does not depend on the source.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pipeline.core.errors import CrawlError
from pipeline.core.params import CrawlParams, SimulatorParams
from pipeline.instagram.api import ApiClient, Budget, ResponseCache
from pipeline.instagram.crawler import CrawlResult, CrawlStats, collect, crawl
from pipeline.instagram.records import read_dump
from pipeline.instagram.server import serve
from pipeline.instagram.world import World

log = logging.getLogger(__name__)

SESSION_ENV = "IG_SESSIONID"
# What the Android app sends; the private API refuses clients without an app id.
_APP_HEADERS = {
    "User-Agent": "Instagram 269.0.0.18.75 Android (26/8.0.0; 480dpi; 1080x1920; OnePlus; 6T; devitron; qcom; "
                  "en_US; 314665256)",
    "X-IG-App-ID": "567067343352427",
}

ProgressCallback = Callable[[int, int], None]  # (done, total)


def world_for(sim: SimulatorParams, seed_accounts: Sequence[str]) -> World:
    """The simulated world of ``simulator`` params, built around the crawl's seed accounts."""
    return World(seed=sim.seed, seed_usernames=tuple(seed_accounts), accounts_per_seed=sim.accounts_per_seed,
                 mistake_rate=sim.annotator_mistake_rate, authentic_share=sim.authentic_share)


def cache_dir(root: Path, source: str, identity: object) -> Path:
    """The resume cache of one crawl: ``root/<source>-<hash of what the answers depend on>``.

    A different world or API gets a different directory, so a resumed crawl never mixes answers.
    """
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    return root / f"{source}-{digest}"


def client_for(params: CrawlParams, base_url: str, cache: ResponseCache | None = None,
               headers: dict[str, str] | None = None, budget: Budget | None = None) -> ApiClient:
    """An API client with the crawl's timeout, retries, backoff and rate limit (and the audit's ``budget``)."""
    return ApiClient(base_url, headers=headers, timeout=params.timeout_seconds, retries=params.max_retries,
                     backoff=params.backoff_seconds, backoff_max=params.backoff_max_seconds,
                     requests_per_minute=params.requests_per_minute, cache=cache, budget=budget)


def _crawl_cached(params: CrawlParams, base_url: str, cache_path: Path | None, headers: dict[str, str] | None,
                  progress: ProgressCallback | None) -> CrawlResult:
    cache = ResponseCache(cache_path / "responses.jsonl") if cache_path is not None else None
    if cache is not None and len(cache):
        log.info("resuming an interrupted crawl: %d answers in %s", len(cache), cache.path)
    try:
        client = client_for(params, base_url, cache, headers)
        result = crawl(client, params.seed_accounts, params.max_profiles, params.page_size, params.concurrency,
                       progress=progress)
        result.cache = cache_path
        return result
    finally:
        if cache is not None:
            cache.close()


def from_simulator(params: CrawlParams, sim: SimulatorParams, cache_root: Path | None,
                   progress: ProgressCallback | None = None) -> CrawlResult:
    """Crawl a freshly started simulated Instagram over loopback HTTP."""
    world = world_for(sim, params.seed_accounts)
    path = cache_dir(cache_root, "simulator", world.fingerprint()) if cache_root is not None else None
    with serve(world, faults=sim.faults) as server:
        return _crawl_cached(params, server.base_url, path, None, progress)


def session_headers(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The app's headers plus the session cookie from ``$IG_SESSIONID``; a clear error if it is unset."""
    session = (os.environ if environ is None else environ).get(SESSION_ENV, "").strip()
    if not session:
        raise CrawlError(f"crawl.source is 'instagram' but {SESSION_ENV} is not set: set the environment variable "
                         f"{SESSION_ENV} to the 'sessionid' cookie of a logged-in Instagram session")
    problem = cookie_value_problem(session)
    if problem:  # the message names the problem, never the value: it is a secret
        raise CrawlError(f"{SESSION_ENV} {problem}, which a cookie cannot carry: set it to the value of the "
                         "'sessionid' cookie alone, copied from the browser")
    return {**_APP_HEADERS, "Cookie": f"sessionid={session}"}


def cookie_value_problem(value: str) -> str | None:
    """What makes ``value`` unfit for a cookie (RFC 6265 cookie-octets; %-escapes are fine), or None."""
    for i, char in enumerate(value, start=1):
        if char in "\r\n":
            return f"holds a line break (character {i})"
        if not char.isascii():
            return f"holds a non-ASCII character (character {i})"
        if char in ' ",;\\' or not char.isprintable():
            return f"holds a space, quote, comma, semicolon, backslash or control character (character {i})"
    return None


def from_instagram(params: CrawlParams, cache_root: Path | None,
                   progress: ProgressCallback | None = None) -> CrawlResult:
    """Crawl Instagram's private API at ``crawl.instagram_url`` (or anything that speaks it) as the session."""
    headers = session_headers()
    # Keyed by the API, never by the session: nothing derived from the session id is written anywhere.
    path = cache_dir(cache_root, "instagram", params.instagram_url) if cache_root is not None else None
    return _crawl_cached(params, params.instagram_url, path, headers, progress)


def from_files(files: Sequence[str], root: Path) -> CrawlResult:
    """Read dump files (paths relative to ``root``): no follow graph, so relationships are unknown."""
    if not files:
        raise CrawlError("crawl.source is 'files' but crawl.files is empty: list the dump files to read "
                         "(JSON Lines of user-info records, or one JSON object keyed by pk)")
    started = time.monotonic()
    records = itertools.chain.from_iterable(read_dump(root / name) for name in files)
    profiles, quarantine = collect(records)
    stats = CrawlStats(profiles=len(profiles), quarantined=len(quarantine),
                       elapsed_seconds=round(time.monotonic() - started, 3))
    return CrawlResult(profiles=profiles, graph=[], quarantine=quarantine, stats=stats)


def fetch(params: CrawlParams, sim: SimulatorParams, root: Path, cache_root: Path | None,
          progress: ProgressCallback | None = None) -> CrawlResult:
    """The crawl's records from ``crawl.source``, through the one shared validation path.

    ``root`` resolves ``crawl.files``; ``cache_root`` holds the resume caches of network crawls.
    """
    if params.source == "files":
        return from_files(params.files, root)
    if params.source == "instagram":
        return from_instagram(params, cache_root, progress)
    return from_simulator(params, sim, cache_root, progress)


def report(params: CrawlParams, result: CrawlResult) -> dict[str, object]:
    """``reports/crawl.json``: where the records came from and what it took to get them."""
    out: dict[str, object] = {"source": params.source, **result.stats.as_dict()}
    if result.all_attempts is not None:
        # The fields above count this process; a crawl resumed after a kill took several.
        out["all_attempts"] = result.all_attempts
    return out
