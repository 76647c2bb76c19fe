"""Instagram's private API v1, as the crawl and the audit speak it: one client, its endpoints, the paging of
follower/following lists and the check of every pk an answer carries.

The same code talks to the simulated Instagram (:mod:`pipeline.instagram.server`) and to the real private
API; only the base URL and the session headers differ.

Surviving the API:

- **Retries.** 429, 5xx, timeouts, connection resets and malformed JSON bodies are retried with
  urllib3's :class:`~urllib3.util.retry.Retry` (its exponential backoff with jitter, its ``Retry-After``
  handling, its history of what went wrong). We drive the attempts ourselves instead of mounting the
  ``Retry`` on the adapter because urllib3 cannot see a truncated JSON body, and because every attempt,
  retries included, has to pass the client-side rate limit.
- **Refusals.** ``login_required`` and ``checkpoint_required`` cannot be retried away: they abort the
  crawl with what to do (:class:`AccountBlocked`). Nor can a refused connection or a host that cannot be
  reached: nothing answers at that URL, so the error says so at once instead of advising a lower rate.
- **Runaways.** A list cursor that repeats or goes back would page forever (the resume journal even answers
  the repeated request from disk): it is an error naming the list and the page. A :class:`Budget` of pages
  and requests (the audit's) stops whatever else runs away.
- **Resuming.** Every successful response is appended to a :class:`ResponseCache` journal before it is
  used. A crawl killed at any point (even SIGKILL) replays the journal when run again and only fetches
  what it never got; the crawl is a deterministic function of the responses, so the result is the same.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

from pipeline.core import atomic
from pipeline.core.errors import AccountBlocked, CrawlError, FieldError, RequestFailed
from pipeline.instagram.records import MAX_INT64

# The endpoints, as paths below the base URL (the simulator serves the same ones).
USERNAME_INFO = "/api/v1/users/{username}/usernameinfo/"  # -> {"user": {"pk": ...}, "status": "ok"}
USER_INFO = "/api/v1/users/{pk}/info/"  # -> {"user": {...the user-info record...}, "status": "ok"}
FRIENDSHIPS = "/api/v1/friendships/{pk}/{which}/"  # -> {"users": [...], "next_max_id": "...", ...}
FOLLOWERS, FOLLOWING = "followers", "following"  # the two lists FRIENDSHIPS pages through
MAX_PAGE = 200  # the most entries a list page holds (``count``)

# Transport failures worth another attempt; anything else from requests is a bug or a bad URL.
_TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
              requests.exceptions.ContentDecodingError)
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# What the API answers for the follower or following list of a private account the session does not follow.
NOT_AUTHORIZED = "Not authorized to view user"
# Connecting failed with an answer no retry changes: nothing listens there, or there is no route to it.
_UNREACHABLE_ERRNOS = frozenset({errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN})


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
class RequestStats:
    """What a client's requests took, over its lifetime."""

    requests: int = 0  # HTTP requests sent, retries included
    cached: int = 0  # responses replayed from the resume cache instead of fetched
    http_429: int = 0  # "Please wait a few minutes" answers
    retries: int = 0
    errors: int = 0  # failed attempts other than 429: 5xx, timeouts, resets, malformed bodies


@dataclass(frozen=True)
class Budget:
    """The most one run may ask of the API, so that a runaway stops (None: no ceiling).

    ``section`` is the params.yaml section that sets the two limits (``<section>.max_pages``,
    ``<section>.max_requests``): the error names the one that was hit.
    """

    section: str
    max_pages: int | None = None  # pages of one follower or following list
    max_requests: int | None = None  # HTTP requests sent, retries included (not answers replayed from the journal)


class Runaway(CrawlError):
    """The API led the client into something without end: a cursor that repeats or goes back, a spent budget."""


class RequestBudgetSpent(Runaway):
    """Every request of the client's ``budget.max_requests`` is sent and more are needed."""


class PrivateList(RequestFailed):
    """The list of a private account: only the accounts that follow it may see it."""


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
                 cache: ResponseCache | None = None, budget: Budget | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = dict(headers or {})
        self.timeout = timeout
        self.retry = Retry(total=retries, connect=None, read=None, redirect=0, status=None, other=None,
                           backoff_factor=backoff, backoff_jitter=backoff, backoff_max=backoff_max,
                           respect_retry_after_header=True, raise_on_status=False)
        self.limiter = RateLimiter(requests_per_minute)
        self.cache = cache
        self.budget = budget
        self.stats = RequestStats()
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
            self._spend(path)
            self.limiter.acquire()
            cost["requests"] += 1
            response = None
            try:
                response = self._session().get(url, params=params, timeout=self.timeout)
            except _TRANSIENT as exc:
                unreachable = _unreachable(exc)
                if unreachable:  # nothing answers at that URL: no retry or rate changes that
                    raise CrawlError(f"GET {path}: the API at {self.base_url} {unreachable}; check "
                                     "crawl.instagram_url (and that the API, or `igfake simulator serve`, runs "
                                     "there)") from None
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
                if isinstance(problem, requests.ConnectTimeout):
                    raise CrawlError(
                        f"GET {path}: the API at {self.base_url} is unreachable: connecting timed out "
                        f"{self.retry.total + 1} times ({self.timeout:g} s each); check crawl.instagram_url and "
                        "the network") from None
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

    def _spend(self, path: str) -> None:
        """Count one request about to be sent; past the budget, stop every thread with a :class:`Runaway`."""
        limit = self.budget.max_requests if self.budget is not None else None
        with self._lock:
            if limit is not None and self.stats.requests >= limit:
                if self._abort is None:
                    option = f"{self.budget.section}.max_requests"
                    self._abort = RequestBudgetSpent(
                        f"{option} is {limit}: all {limit} requests (retries included) are sent and more are "
                        f"needed (next: GET {path}); raise {option} in params.yaml to go on (the journal keeps "
                        "what was fetched)")
                self.stop.set()
                raise type(self._abort)(str(self._abort))
            self.stats.requests += 1

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
        if message == NOT_AUTHORIZED:
            raise PrivateList(f"GET {path}: HTTP {status}: {message!r}", status)
        raise RequestFailed(f"GET {path}: HTTP {status}: {message or body!r}", status)


def _unreachable(exc: BaseException) -> str | None:
    """What went wrong, if ``exc`` is a connection that could not even be opened for good: refused, no such
    host, no route (a timeout is not: it may be congestion, and is retried)."""
    seen: set[int] = set()
    stack: list[object] = [exc]
    while stack:  # requests wraps urllib3's MaxRetryError, which holds the NewConnectionError, which the OSError
        error = stack.pop()
        if not isinstance(error, BaseException) or id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, ConnectionRefusedError):
            return "refused the connection (nothing listens there)"
        if isinstance(error, socket.gaierror):
            return "is unreachable (its host name does not resolve)"
        if isinstance(error, OSError) and error.errno in _UNREACHABLE_ERRNOS:
            return f"is unreachable ({os.strerror(error.errno).lower()})"
        stack.extend([*error.args, getattr(error, "reason", None), error.__cause__, error.__context__])
    return None


def _describe(problem: Exception) -> str:
    text = str(problem)
    return f"{problem.__class__.__name__}: {text}" if text else problem.__class__.__name__


def positive_pk(value: Any) -> int:
    """A pk from an answer: a positive int64 (or its ASCII digits), else ValueError.

    ASCII digits only: ``str.isdigit()`` and ``int()`` also take "١٢٣" (Arabic-Indic digits) or "²", which no
    API sends as a pk. At most 19 of them (int64's): ``int()`` of thousands of digits raises its own error.
    """
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_INT64:
        raise ValueError(f"not a pk: {value!r}"[:100])
    return value


def user_pk(client: ApiClient, username: str, who: str) -> int:
    """The pk of ``username``; ``who`` ("seed account", "account") begins the one-line error if there is none."""
    try:
        body = client.get(USERNAME_INFO.format(username=username))
    except RequestFailed as exc:
        raise CrawlError(f"{who} {username!r}: {exc}") from None
    # Only the parsing is guarded: a failure inside the request (a bad header, say) is not "no pk".
    try:
        return positive_pk(body["user"]["pk"])
    except (KeyError, TypeError, ValueError):
        raise CrawlError(f"{who} {username!r}: the answer has no valid user.pk") from None


@dataclass(frozen=True)
class Page:
    """One page of a follower or following list, its entries' pks checked."""

    path: str
    max_id: str | None  # the cursor this page was asked for (None: the first page)
    users: list[Any]  # the entries as the API sent them
    pks: list[int]  # their pks, in order


def list_pages(client: ApiClient, pk: int, which: str, page_size: int = MAX_PAGE,
               owner: str | None = None) -> Iterator[Page]:
    """Every page of ``pk``'s ``which`` list (:data:`FOLLOWERS` or :data:`FOLLOWING`), following the cursor.

    ``owner`` says whose list it is in errors ("account 'maya'"). A page whose ``users`` is not a list of
    records with a valid pk stops the list (:class:`CrawlError`), and so does a private account's list. A
    cursor seen before, or a numeric one lower than the last, is a :class:`Runaway` (the API would page
    forever), and so is a list longer than the client's ``budget.max_pages``.
    """
    owner = owner or f"the account with pk {pk}"
    path = FRIENDSHIPS.format(pk=pk, which=which)
    limit = client.budget.max_pages if client.budget is not None else None
    max_id: str | None = None
    asked: dict[str, int] = {}  # cursor -> the page it was asked for
    for number in itertools.count(1):
        params: dict[str, Any] = {"count": page_size} | ({"max_id": max_id} if max_id is not None else {})
        try:
            body = client.get(path, params)
        except PrivateList as exc:
            raise CrawlError(f"{owner} is private: its {which} cannot be listed without following it "
                             f"(GET {path}: HTTP {exc.status} {NOT_AUTHORIZED!r})") from None
        users = body.get("users", [])
        try:
            pks = [positive_pk(u["pk"]) for u in users]
        except (KeyError, TypeError, ValueError):
            raise CrawlError(f"GET {path}: expected 'users' to be a list of records with a pk, got "
                             f"{str(users)[:200]}") from None
        yield Page(path, max_id, list(users), pks)
        cursor = body.get("next_max_id")
        if not cursor:
            return
        cursor = str(cursor)
        where = f"{owner}: {which} page {number} (GET {path})"
        if cursor in asked:
            raise Runaway(f"{where}: the next cursor, next_max_id {cursor!r}, is the one page {asked[cursor]} was "
                          "asked with: the API is paging in a loop")
        if max_id is not None and _numeric(cursor) and _numeric(max_id) and int(cursor) < int(max_id):
            raise Runaway(f"{where}: the next cursor, next_max_id {cursor!r}, goes back from this page's "
                          f"{max_id!r}: the API is paging in a loop")
        if limit is not None and number >= limit:
            option = f"{client.budget.section}.max_pages"
            raise Runaway(f"{where}: {option} is {limit} and the list goes on (more than {limit * page_size:,} "
                          f"entries at {page_size} a page); raise {option} in params.yaml to read it all")
        asked[cursor] = number + 1
        max_id = cursor


def _numeric(cursor: str) -> bool:
    """A cursor that is a plain offset (the simulator's, and Instagram's on many lists): ASCII digits."""
    return cursor.isascii() and cursor.isdigit()


# field -> type of the short record a follower/following list page carries for each account.
LIST_ENTRY_FIELDS: dict[str, type] = {
    "pk": int,
    "username": str,
    "full_name": str,
    "is_private": bool,
    "is_verified": bool,
    "has_anonymous_profile_picture": bool,
}


def normalize_list_entry(record: Any) -> dict[str, Any]:
    """Check one entry of a list page (the short record) and return it with ``pk`` as an int.

    The pk passes :func:`positive_pk`; the other fields the type rules of
    :func:`~pipeline.instagram.records.normalize_user`.
    """
    if not isinstance(record, dict):
        raise FieldError("<record>", f"expected a JSON object, got {type(record).__name__}")
    out = {name: record.get(name) for name in LIST_ENTRY_FIELDS}
    if out["full_name"] is None:
        out["full_name"] = ""
    for name, tp in LIST_ENTRY_FIELDS.items():
        value = out[name]
        if name not in record:
            raise FieldError(name, "missing")
        if name == "pk":
            try:
                out["pk"] = positive_pk(value)
            except ValueError:
                raise FieldError("pk", f"expected a positive integer, got {value!r}") from None
        elif not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
            raise FieldError(name, f"expected {'an integer' if tp is int else tp.__name__}, got {value!r}")
    if not out["username"]:
        raise FieldError("username", "empty")
    return out
