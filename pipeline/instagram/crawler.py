"""The crawler: seed accounts -> follower/following lists -> one user-info request per profile.

Requests go through :class:`~pipeline.instagram.api.ApiClient` (its retries, rate limit and resume journal),
to the same endpoints and with the same paging and pk checks as ``igfake audit``. Records from dump files
(``crawl.source: files``) join the same path after "fetching": :func:`collect` validates every record, keeps
the good ones by pk and quarantines the rest.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.core.errors import CrawlError, FieldError, RequestFailed
from pipeline.core.vocabulary import LEGACY_LABEL_FIELD
from pipeline.instagram import api
from pipeline.instagram.records import normalize_user

log = logging.getLogger(__name__)


@dataclass
class CrawlStats(api.RequestStats):
    """The client's request counts (copied when the crawl ends), and what the crawl made of the answers."""

    pages: int = 0  # follower/following pages read
    profiles: int = 0
    quarantined: int = 0
    elapsed_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class CrawlResult:
    profiles: list[dict[str, Any]]  # normalised user-info records, sorted by pk
    graph: list[dict[str, Any]]  # one row per (seed, profile) relation, sorted
    quarantine: list[dict[str, Any]]  # records that failed validation, with the reason
    stats: CrawlStats = field(default_factory=CrawlStats)
    cache: Path | None = None  # the resume cache it used: delete it once the outputs are written
    # Over every process a resumed crawl took: runs, requests, retries, http_429, errors (None: no requests).
    all_attempts: dict[str, int] | None = None


def _list_pks(client: api.ApiClient, username: str, pk: int, which: str, page_size: int,
              stats: CrawlStats) -> list[int]:
    pks: list[int] = []
    for page in api.list_pages(client, pk, which, page_size, owner=f"seed account {username!r}"):
        stats.pages += 1
        pks.extend(page.pks)
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


# What the article's dumps carry besides the API's fields: the person's label.
LABEL_FIELD = LEGACY_LABEL_FIELD


def _without_label(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != LABEL_FIELD}


def _labels_conflict(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Both records carry a label, and not the same one (a label on one side only is no conflict)."""
    return LABEL_FIELD in a and LABEL_FIELD in b and a[LABEL_FIELD] != b[LABEL_FIELD]


def quarantine_order(entry: dict[str, Any]) -> tuple[int, str]:
    """By pk (a pk that is not a number first), then by where the record came from."""
    pk = entry["pk"]
    return (pk if isinstance(pk, int) and not isinstance(pk, bool) else -1, str(entry["where"]))


def collect(records: Iterable[tuple[str, Any, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The one path every source's records take: validate, keep the first of each pk, quarantine the rest.

    ``records`` yields ``(where, pk, record)``: ``where`` names the request or the file and line/key the
    record came from, ``pk`` is the pk it was fetched or filed under (None if unknown). Returns the valid
    records sorted by pk and the quarantine (pk, where, field, reason, record), sorted by pk and where.
    """
    profiles: dict[int, dict[str, Any]] = {}
    first_seen: dict[int, str] = {}
    quarantine: list[dict[str, Any]] = []

    def reject(pk: Any, where: str, field_name: str, reason: str, record: Any) -> None:
        quarantine.append({"pk": pk, "where": where, "field": field_name, "reason": reason, "record": record})

    for where, pk, record in records:
        try:
            user = normalize_user(record)
        except FieldError as exc:
            reject(pk, where, exc.field, exc.reason, record)
            continue
        if pk is not None and user["pk"] != pk:
            reject(pk, where, "pk", f"record has pk {user['pk']}, filed under {pk}", record)
            continue
        seen = first_seen.get(user["pk"])
        if seen is not None:
            kept = profiles[user["pk"]]
            # The same profile in a labelled dump and in a plain one is no news: the label joins the record.
            if _without_label(user) != _without_label(kept) or _labels_conflict(user, kept):
                reject(user["pk"], where, "pk", f"duplicate pk, differs from the record at {seen}", record)
            elif LABEL_FIELD in user:
                kept.setdefault(LABEL_FIELD, user[LABEL_FIELD])
            continue
        profiles[user["pk"]] = user
        first_seen[user["pk"]] = where
    quarantine.sort(key=quarantine_order)
    return [profiles[pk] for pk in sorted(profiles)], quarantine


def crawl(client: api.ApiClient, seed_accounts: Sequence[str], max_profiles: int, page_size: int = api.MAX_PAGE,
          concurrency: int = 4, progress: Callable[[int, int], None] | None = None) -> CrawlResult:
    """Crawl the seed accounts' followers and followings, then every chosen profile's details."""
    started = time.monotonic()
    stats = CrawlStats()
    seeds: dict[str, int] = {}
    relations: dict[str, tuple[list[int], list[int]]] = {}
    for username in seed_accounts:
        seeds[username] = pk = api.user_pk(client, username, "seed account")
        try:
            relations[username] = (_list_pks(client, username, pk, api.FOLLOWERS, page_size, stats),
                                   _list_pks(client, username, pk, api.FOLLOWING, page_size, stats))
        except RequestFailed as exc:
            raise CrawlError(f"seed account {username!r}: {exc}") from None
    chosen = select_profiles(relations, max_profiles)

    def fetch(pk: int) -> tuple[str, int, Any]:
        path = api.USER_INFO.format(pk=pk)
        try:
            body = client.get(path)
        except RequestFailed as exc:  # e.g. deleted since it was listed: quarantined with the answer
            return f"GET {path}", pk, exc
        return f"GET {path}", pk, body.get("user")

    fetched: list[tuple[str, int, Any]] = []
    failed: list[tuple[str, int, RequestFailed]] = []
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="crawl")
    try:
        futures = [pool.submit(fetch, pk) for pk in chosen]
        for done, future in enumerate(as_completed(futures), start=1):
            where, pk, user = future.result()  # an abort (CrawlError) propagates from here
            if isinstance(user, RequestFailed):
                failed.append((where, pk, user))
            else:
                fetched.append((where, pk, user))
            if progress is not None:
                progress(done, len(chosen))
    except BaseException:
        client.stop.set()  # workers still queued give up instead of fetching for a crawl that is over
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

    profiles, quarantine = collect(fetched)
    quarantine += [{"pk": pk, "where": where, "field": "<request>", "reason": str(exc), "record": None}
                   for where, pk, exc in failed]
    quarantine.sort(key=quarantine_order)
    kept = {p["pk"] for p in profiles}
    graph = []
    for username, (followers, following) in relations.items():
        followers_set, following_set = set(followers), set(following)
        for pk in sorted(kept & (followers_set | following_set)):
            graph.append({"seed": username, "seed_pk": seeds[username], "pk": pk,
                          "follows_seed": pk in followers_set, "followed_by_seed": pk in following_set})
    for counted in dataclasses.fields(api.RequestStats):
        setattr(stats, counted.name, getattr(client.stats, counted.name))
    stats.profiles = len(profiles)
    stats.quarantined = len(quarantine)
    stats.elapsed_seconds = round(time.monotonic() - started, 3)
    earlier = client.cache.earlier if client.cache is not None else dict.fromkeys(api.COSTS, 0)
    runs = 1 + (client.cache.earlier_runs if client.cache is not None else 0)
    all_attempts = {"runs": runs, **{name: earlier[name] + getattr(stats, name) for name in api.COSTS}}
    return CrawlResult(profiles=profiles, graph=graph, quarantine=quarantine, stats=stats, all_attempts=all_attempts)

