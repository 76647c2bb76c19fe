"""Audit an account: the authentic share of its followers, with a 95% interval, at a fraction of the requests.

1. Resolve the account and page through its followers (up to 200 a request): every follower's list entry.
2. Score every entry with the list-only model (LiteRT, ``models/list_model.tflite``).
3. Fetch the full profile of a seeded simple random sample (``audit.sample_size``) and score it with the
   shipped model (``models/model.tflite``).
4. Estimate the share (:mod:`pipeline.audit.quantify`): the sample corrects the list model, the shipped model's
   held-out error rates at its threshold (``models/decision.json``, where evaluate recorded the threshold it
   chose) correct the shipped model.
5. Given the drift reference (``data/baseline/reference.parquet``), compare the sample's features with it at the
   estimated share (:func:`pipeline.validation.drift.drift`): a prevalence unlike the training data's is what
   the audit measures, but followers that do not look like the training data *given their label* (covariate
   drift) break the error rates the estimate leans on, and the interval is then less trustworthy than it says.

Requests go through the crawl's client (:mod:`pipeline.instagram.api`): its endpoints, paging and pk checks,
rate limit, retries and resume journal. No TensorFlow is imported.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline import features
from pipeline.audit import quantify
from pipeline.core import paths
from pipeline.core.errors import CrawlError, FieldError, InputError, RequestFailed
from pipeline.core.params import DriftParams
from pipeline.instagram import api
from pipeline.instagram.api import ApiClient
from pipeline.instagram.records import normalize_user
from pipeline.serving import decision as decision_lib
from pipeline.serving import litert
from pipeline.validation import drift as drift_lib

SHIPPED_FEATURE_SET = "seed16"


@dataclass(frozen=True)
class Models:
    """What an audit scores with: both TFLite models, their thresholds and the shipped model's error rates."""

    list_model: litert.Model
    shipped: litert.Model
    list_feature_set: str
    list_threshold: float  # the list-only model's own cut (train_list.threshold): its naive share only
    threshold: float  # the shipped model's, as evaluate chose it (models/decision.json)
    rates: quantify.Rates  # the shipped recipe's held-out decisions at ``threshold``

    @classmethod
    def load(cls, list_model: Path, shipped: Path, card: Path, decision: Path) -> Models:
        if not Path(card).is_file():
            raise InputError(f"{card}: no audit card; run `dvc repro` first")
        try:
            data = json.loads(Path(card).read_text(encoding="utf-8"))
            list_threshold, feature_set = float(data["list_threshold"]), str(data["list_feature_set"])
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{card}: not an audit card ({exc}); run `dvc repro` to rebuild it") from None
        if feature_set not in features.FEATURE_SETS:
            raise InputError(f"{card}: unknown list_feature_set {feature_set!r}")
        if not (math.isfinite(list_threshold) and 0 < list_threshold < 1):
            raise InputError(f"{card}: list_threshold: expected a number strictly between 0 and 1, "
                             f"got {list_threshold!r}")
        shipped_decision = decision_lib.read(decision)
        rates = quantify.Rates(**shipped_decision.counts)
        problem = quantify.separation_problem(rates)
        if problem:  # refused before any request: no audit can end in an estimate
            raise InputError(f"{paths.shown(Path(decision))}: shipped_rates at threshold "
                             f"{shipped_decision.threshold:g}: {problem}; retrain (`dvc repro`) for a model that "
                             "separates them")
        return cls(litert.Model.load(list_model), litert.Model.load(shipped), feature_set, list_threshold,
                   shipped_decision.threshold, rates)


@dataclass
class AuditResult:
    account: str
    estimate: quantify.Estimate
    requests: int  # HTTP requests sent, retries included (answers replayed from the resume cache excluded)
    cached: int  # answers replayed from the resume cache of an interrupted audit
    pages: int
    unavailable: int  # sampled followers whose profile could not be fetched (deleted, 404): left out
    naive_requests: int  # one profile request per follower, plus the same pages
    simulated: bool = False  # the account and its followers are the simulator's (audit.source simulator)
    drift: dict[str, Any] | None = None  # the sample against the drift reference (None: no reference given)

    def as_dict(self) -> dict[str, Any]:
        e = self.estimate
        return {"account": self.account, "simulated": self.simulated, "authentic_share": e.share,
                "ci95": [e.low, e.high], "followers": e.followers, "sampled": e.sampled,
                "unavailable": self.unavailable,
                "predicted_share_in_sample_model": e.predicted_share, "list_model_share": e.list_share,
                "requests": self.requests, "cached_answers": self.cached, "pages": self.pages,
                "requests_if_one_per_follower": self.naive_requests,
                "requests_per_follower": (self.requests + self.cached) / max(e.followers, 1),
                "drift": self.drift}

    def drift_line(self) -> str:
        """How far the sampled followers are from the training data, and what that means for the interval."""
        d = self.drift
        if d is None:
            return ("drift not checked: no drift reference (data/baseline/reference.parquet, written by "
                    "`igfake baseline`)")
        where = (f"{d['sampled']} sampled profiles against the training data at the estimated "
                 f"{d['at_share']:.1%} authentic")
        if d["drifted_features"]:
            return (f"covariate drift in {', '.join(d['drifted_features'])} ({where}): these followers do not "
                    "look like the training data, so the 95% interval is less trustworthy than it says")
        return (f"no covariate drift ({where}; the training data has {d['reference_share']:.1%}: a different "
                "prevalence is what the audit measures)")

    def line(self) -> str:
        e = self.estimate
        used = self.requests + self.cached
        who = f"{self.account} (a simulated account: audit.source is simulator)" if self.simulated else self.account
        return (f"{who}: {e.share:.1%} of {e.followers:,} followers authentic "
                f"(95% interval {e.low:.1%} to {e.high:.1%}; {e.sampled} full profiles sampled); "
                f"{used:,} requests, against {self.naive_requests:,} for one request per follower")


def followers(client: ApiClient, pk: int, page_size: int = api.MAX_PAGE,
              progress: Callable[[int], None] | None = None,
              owner: str | None = None) -> tuple[list[dict[str, Any]], int]:
    """(every follower's checked list entry, in list order without repeats; pages read)."""
    entries: dict[int, dict[str, Any]] = {}
    pages = 0
    for page in api.list_pages(client, pk, api.FOLLOWERS, page_size, owner):
        pages += 1
        for i, raw in enumerate(page.users):
            try:
                entry = api.normalize_list_entry(raw)
            except FieldError as exc:
                raise CrawlError(f"GET {page.path} (max_id {page.max_id}): entry {i}: {exc}") from None
            entries.setdefault(entry["pk"], entry)
        if progress is not None:
            progress(len(entries))
    return list(entries.values()), pages


def fetch_profiles(client: ApiClient, pks: list[int], concurrency: int) -> dict[int, dict[str, Any] | None]:
    """Each pk's checked user-info record; None where the API has no usable profile (deleted, malformed)."""
    def one(pk: int) -> dict[str, Any] | None:
        try:
            return normalize_user(client.get(api.USER_INFO.format(pk=pk)).get("user"))
        except (RequestFailed, FieldError):
            return None

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="audit") as pool:
        try:
            return dict(zip(pks, pool.map(one, pks), strict=True))
        except BaseException:
            client.stop.set()
            raise


def audit(client: ApiClient, account: str, models: Models, sample_size: int, seed: int, concurrency: int,
          page_size: int = api.MAX_PAGE, progress: Callable[[str, int], None] | None = None,
          reference: pa.Table | None = None, drift_params: DriftParams | None = None) -> AuditResult:
    """Audit ``account``'s followers (see the module docstring); with a ``reference`` (and ``drift_params``),
    the sample's drift from it too.

    A request past the client's budget (:class:`~pipeline.instagram.api.Budget`) is an error naming the account.
    """
    try:
        result, sample = _audit(client, account, models, sample_size, seed, concurrency, page_size, progress)
    except api.RequestBudgetSpent as exc:  # raised by the client, which knows no account
        raise api.RequestBudgetSpent(f"account {account!r}: {exc}") from None
    if reference is None or drift_params is None:
        return result
    share = min(max(result.estimate.share, 0.0), 1.0)
    report = drift_lib.drift(reference, sample, SHIPPED_FEATURE_SET, drift_params, authentic_share=share)
    return dataclasses.replace(result, drift={
            "verdict": report["verdict"], "drifted_features": report["drifted_features"],
        "sampled": sample.num_rows, "at_share": share, "reference_share": drift_lib.authentic_share(reference),
        "features": {n: {k: f[k] for k in ("test", "p_adjusted", "distance", "psi", "drifted") if k in f}
                     for n, f in report["features"].items()}})


def _audit(client: ApiClient, account: str, models: Models, sample_size: int, seed: int, concurrency: int,
           page_size: int, progress: Callable[[str, int], None] | None) -> tuple[AuditResult, pa.Table]:
    """The audit, and the sampled profiles' features (what the drift check compares)."""
    pk = api.user_pk(client, account, "account")
    entries, pages = followers(client, pk, page_size,
                               (lambda n: progress("followers", n)) if progress is not None else None,
                               owner=f"account {account!r}")
    if not entries:
        raise CrawlError(f"account {account!r} has no followers to audit (or they are hidden: a private account "
                         "shows them only to its followers)")
    fs = models.list_feature_set
    list_scores = models.list_model.run(features.to_matrix(features.compute(entries, fs), fs))
    chosen = quantify.sample_indices(len(entries), sample_size, seed)
    profiles = fetch_profiles(client, [entries[i]["pk"] for i in chosen], concurrency)
    kept = np.array([i for i in chosen if profiles[entries[i]["pk"]] is not None], dtype=int)
    if len(kept) < 3:
        raise CrawlError(f"account {account!r}: fewer than 3 sampled profiles could be fetched")
    users = [profiles[entries[i]["pk"]] for i in kept]
    sample = features.compute(users, SHIPPED_FEATURE_SET)
    shipped = models.shipped.run(features.to_matrix(sample, SHIPPED_FEATURE_SET))
    estimate = quantify.estimate(list_scores, models.list_threshold, kept, shipped >= models.threshold, models.rates)
    stats = client.stats
    return AuditResult(account=account, estimate=estimate, requests=stats.requests, cached=stats.cached, pages=pages,
                       unavailable=len(chosen) - len(kept),
                       naive_requests=1 + math.ceil(len(entries) / page_size) + len(entries)), sample
