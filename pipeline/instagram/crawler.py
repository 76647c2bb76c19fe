"""The crawler: seed accounts -> follower/following lists -> one user-info request per profile.

The same code talks to the simulated Instagram and to the real private API; only the base URL and
the session headers differ. Records from dump files (``crawl.source: files``) join the same path after
"fetching": :func:`collect` validates every record, keeps the good ones by pk and quarantines the rest.

Surviving the API:

- **Retries.** 429, 5xx, timeouts, connection resets and malformed JSON bodies are retried with
  urllib3's :class:`~urllib3.util.retry.Retry` (its exponential backoff with jitter, its ``Retry-After``
  handling, its history of what went wrong). We drive the attempts ourselves instead of mounting the
  ``Retry`` on the adapter because urllib3 cannot see a truncated JSON body, and because every attempt,
  retries included, has to pass the client-side rate limit.
- **Refusals.** ``login_required`` and ``checkpoint_required`` cannot be retried away: they abort the
  crawl with what to do (:class:`AccountBlocked`).
- **Resuming.** Every successful response is appended to a :class:`ResponseCache` journal before it is
  used. A crawl killed at any point (even SIGKILL) replays the journal when run again and only fetches
  what it never got; the crawl is a deterministic function of the responses, so the result is the same.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

from pipeline.core import atomic
from pipeline.core.errors import AccountBlocked, CrawlError, FieldError, RequestFailed
from pipeline.core.vocabulary import LEGACY_LABEL_FIELD
from pipeline.instagram.records import MAX_INT64, normalize_user

log = logging.getLogger(__name__)

# Transport failures worth another attempt; anything else from requests is a bug or a bad URL.
_TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
              requests.exceptions.ContentDecodingError)
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


_ADVICE = {
    "login_required": (
        "Instagram answered login_required: the session is not logged in (or has expired). Log in to "
        "Instagram in a browser, copy the value of the 'sessionid' cookie into the environment variable "
        "IG_SESSIONID and run the stage again; it resumes where it stopped."),
    "checkpoint_required": (
        "Instagram answered checkpoint_required: it wants to confirm that the account is yours. Open "
        "Instagram with that account in the app or a browser, complete the check, wait a while, and run "
        "the stage again with a lower crawl.requests_per_minute; it resumes where it stopped."),
}


@dataclass
class CrawlStats:
    requests: int = 0  # HTTP requests sent, retries included
    cached: int = 0  # responses replayed from the resume cache instead of fetched
    pages: int = 0  # follower/following pages read
    profiles: int = 0
    quarantined: int = 0
    http_429: int = 0  # "Please wait a few minutes" answers
    retries: int = 0
    errors: int = 0  # failed attempts other than 429: 5xx, timeouts, resets, malformed bodies
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


class RateLimiter:
    """At most ``per_minute`` acquisitions a minute, evenly spaced, across threads (0: unlimited).

    Even spacing rather than a bucket that allows bursts: a burst is exactly what trips Instagram's limit.
    """

    def __init__(self, per_minute: float) -> None:
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


# What every request cost, counted over all the processes a resumed crawl took (reports/crawl.json).
COSTS = ("requests", "retries", "http_429", "errors")


class ResponseCache:
    """An append-only journal of successful responses, one JSON line each, keyed by request.

    Each line goes to the file in a single ``write`` on an ``O_APPEND`` descriptor, so a process killed
    (even with SIGKILL) leaves every answered request on disk, at worst followed by one torn line, which
    loading drops. Not fsynced: it has to survive a killed process, not a power cut, and an fsync per
    request would cost more than the request.

    Each line also records what its answer cost (requests, retries, 429s, errors) and which process got
    it, so a resumed crawl can report its totals over every attempt: :attr:`earlier` sums the lines
    earlier processes wrote, :attr:`earlier_runs` counts those processes. A request that was still failing
    when its process was killed left no line, so it is not counted.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._entries: dict[str, Any] = {}
        self.earlier: dict[str, int] = dict.fromkeys(COSTS, 0)
        self._runs: set[str] = set()
        atomic.cut_torn_tail(self.path, self._load)
        self.earlier_runs = len(self._runs)
        self.run = uuid.uuid4().hex[:12]
        self._file = atomic.AppendOnly(self.path)
        self._lock = threading.Lock()

    def _load(self, line: bytes) -> bool:
        try:
            entry = json.loads(line)
            self._entries[entry["key"]] = entry["body"]
            cost = entry.get("cost") or {"requests": 1}
            for name in COSTS:
                self.earlier[name] += int(cost.get(name, 0))
            self._runs.add(str(entry.get("run")))
        except (ValueError, KeyError, TypeError, AttributeError):
            return False  # the torn tail of a killed write: everything after it is suspect
        return True

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> Any | None:
        return self._entries.get(key)

    def put(self, key: str, body: Any, cost: dict[str, int] | None = None) -> None:
        entry = {"key": key, "body": body, "run": self.run, "cost": cost or {"requests": 1}}
        line = (json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n").encode()
        with self._lock:
            if key in self._entries:
                return
            self._file.write(line)
            self._entries[key] = body

    def close(self) -> None:
        self._file.close()


class ApiClient:
    """A thread-safe JSON client for Instagram's private API v1 that retries what is transient.

    ``headers`` may carry the session cookie: they are sent and never logged, printed or put in an
    error message.
    """

    def __init__(self, base_url: str, *, timeout: float, retries: int, backoff: float, backoff_max: float,
                 requests_per_minute: float, headers: dict[str, str] | None = None,
                 cache: ResponseCache | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = dict(headers or {})
        self.timeout = timeout
        self.retry = Retry(total=retries, connect=None, read=None, redirect=0, status=None, other=None,
                           backoff_factor=backoff, backoff_jitter=backoff, backoff_max=backoff_max,
                           respect_retry_after_header=True, raise_on_status=False)
        self.limiter = RateLimiter(requests_per_minute)
        self.cache = cache
        self.stats = CrawlStats()
        self._local = threading.local()
        self._lock = threading.Lock()
        self.stop = threading.Event()  # set when one request aborts the crawl: the others give up
        self._abort: CrawlError | None = None

    def __repr__(self) -> str:
        return f"ApiClient({self.base_url!r})"  # never the headers: they may hold the session id

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update(self._headers)
            self._local.session = session
        return session

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self.stats, name, getattr(self.stats, name) + delta)

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The JSON body of ``GET path?params`` once it is ``status: ok``, from the cache if it has it."""
        key = f"{path}?{urlencode(sorted((params or {}).items()))}"
        if self.cache is not None:
            cached = self.cache.get(key)
            if cached is not None:
                self._count(cached=1)
                return cached
        url = f"{self.base_url}{path}"
        retry = self.retry.new()
        cost = dict.fromkeys(COSTS, 0)  # what this answer took, for the resume cache's totals
        while True:
            if self.stop.is_set():
                raise self._abandon(path)
            self.limiter.acquire()
            self._count(requests=1)
            cost["requests"] += 1
            response = None
            try:
                response = self._session().get(url, params=params, timeout=self.timeout)
            except _TRANSIENT as exc:
                problem: Exception = exc
            except (requests.RequestException, UnicodeError) as exc:
                # A request that cannot even be sent (a bad URL or header): no retry helps. The class
                # name only, never the text: a header's text may hold the session id.
                raise CrawlError(f"GET {path}: the request cannot be sent ({exc.__class__.__name__}); check "
                                 "crawl.instagram_url and IG_SESSIONID") from None
            else:
                try:
                    body = response.json()
                except ValueError:
                    body = None
                if response.status_code == 200 and isinstance(body, dict) and body.get("status") == "ok":
                    if self.cache is not None:
                        self.cache.put(key, body, cost)
                    return body
                self._refuse(path, response.status_code, body)  # raises unless worth retrying
                problem = ValueError(f"HTTP {response.status_code}" + (", body is not valid JSON"
                                                                       if body is None else ""))
            status = response.status_code if response is not None else None
            failure = "http_429" if status == 429 else "errors"
            self._count(**{failure: 1})
            cost[failure] += 1
            try:
                # A status urllib3 can classify goes in as the response; resets, timeouts and garbled
                # 200s go in as the error, so the history says what happened.
                retry = retry.increment(method="GET", url=url,
                                        response=response.raw if status not in (None, 200) else None,
                                        error=problem if status in (None, 200) else None)
            except MaxRetryError:
                raise CrawlError(
                    f"GET {path}: still failing after {self.retry.total} retries (last: {_describe(problem)}). "
                    "The API is throttling or failing: lower crawl.requests_per_minute or crawl.concurrency "
                    "and run the stage again; it resumes where it stopped.") from None
            self._count(retries=1)
            cost["retries"] += 1
            # urllib3's schedule (Retry-After if the server sent one, else backoff * 2**n plus jitter),
            # slept on the stop event so an abort elsewhere does not wait out a two-minute backoff here.
            delay = retry.get_retry_after(response.raw) if response is not None else None
            if self.stop.wait(delay if delay is not None else retry.get_backoff_time()):
                raise self._abandon(path)

    def _abandon(self, path: str) -> CrawlError:
        # Every thread reports the reason the crawl stopped, whichever of them is asked first.
        if self._abort is not None:
            return type(self._abort)(str(self._abort))
        return CrawlError(f"GET {path}: abandoned, the crawl is stopping")

    def _refuse(self, path: str, status: int, body: Any) -> None:
        """Raise unless ``status`` is worth retrying: a refusal aborts, a definitive answer is final."""
        message = str(body.get("message", "")) if isinstance(body, dict) else ""
        if message in _ADVICE:
            self._abort = AccountBlocked(f"GET {path}: HTTP {status}: {_ADVICE[message]}")
            self.stop.set()
            raise self._abort
        if status in _RETRY_STATUSES or status == 200:
            return  # 200 with a body that is not ``status: ok`` is a garbled answer: retry it
        raise RequestFailed(f"GET {path}: HTTP {status}: {message or body!r}", status)


def _describe(problem: Exception) -> str:
    text = str(problem)
    return f"{problem.__class__.__name__}: {text}" if text else problem.__class__.__name__


def _positive_pk(value: Any) -> int:
    """A pk from a list or lookup answer: a positive integer (or its ASCII digits), else ValueError."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_INT64:
        raise ValueError(f"not a pk: {value!r}"[:100])
    return value


def _list_pages(client: ApiClient, pk: int, which: str, page_size: int, stats: CrawlStats) -> list[int]:
    pks: list[int] = []
    max_id: str | None = None
    while True:
        params: dict[str, Any] = {"count": page_size}
        if max_id is not None:
            params["max_id"] = max_id
        path = f"/api/v1/friendships/{pk}/{which}/"
        body = client.get(path, params)
        stats.pages += 1
        try:
            pks.extend(_positive_pk(u["pk"]) for u in body.get("users", []))
        except (KeyError, TypeError, ValueError):
            raise CrawlError(f"GET {path}: expected 'users' to be a list of records with a pk, got "
                             f"{str(body.get('users'))[:200]}") from None
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


def crawl(client: ApiClient, seed_accounts: Sequence[str], max_profiles: int, page_size: int = 200,
          concurrency: int = 4, progress: Callable[[int, int], None] | None = None) -> CrawlResult:
    """Crawl the seed accounts' followers and followings, then every chosen profile's details."""
    started = time.monotonic()
    stats = CrawlStats()
    seeds: dict[str, int] = {}
    relations: dict[str, tuple[list[int], list[int]]] = {}
    for username in seed_accounts:
        try:
            body = client.get(f"/api/v1/users/{username}/usernameinfo/")
        except RequestFailed as exc:
            raise CrawlError(f"seed account {username!r}: {exc}") from None
        # Only the parsing is guarded: a failure inside the request (a bad header, say) is not "no pk".
        try:
            seeds[username] = _positive_pk(body["user"]["pk"])
        except (KeyError, TypeError, ValueError):
            raise CrawlError(f"seed account {username!r}: the answer has no valid user.pk") from None
        pk = seeds[username]
        try:
            relations[username] = (_list_pages(client, pk, "followers", page_size, stats),
                                   _list_pages(client, pk, "following", page_size, stats))
        except RequestFailed as exc:
            raise CrawlError(f"seed account {username!r}: {exc}") from None
    chosen = select_profiles(relations, max_profiles)

    def fetch(pk: int) -> tuple[str, int, Any]:
        path = f"/api/v1/users/{pk}/info/"
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
    for name in ("requests", "cached", "http_429", "retries", "errors"):
        setattr(stats, name, getattr(client.stats, name))
    stats.profiles = len(profiles)
    stats.quarantined = len(quarantine)
    stats.elapsed_seconds = round(time.monotonic() - started, 3)
    earlier = client.cache.earlier if client.cache is not None else dict.fromkeys(COSTS, 0)
    runs = 1 + (client.cache.earlier_runs if client.cache is not None else 0)
    all_attempts = {"runs": runs, **{name: earlier[name] + getattr(stats, name) for name in COSTS}}
    return CrawlResult(profiles=profiles, graph=graph, quarantine=quarantine, stats=stats, all_attempts=all_attempts)

