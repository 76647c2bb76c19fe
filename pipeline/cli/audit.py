"""``igfake audit ACCOUNT``: the authentic share of an account's followers, with a 95% interval.

Pages through the followers (up to 200 a request), scores each with the list-only model, fetches full
profiles for a seeded random sample only and corrects both models' biases (:mod:`pipeline.audit.audit`). The
source is ``audit.source``: one of the simulated accounts (``audit.simulator.accounts``; any other name is
refused, and the output says the account is simulated) or the real API as ``$IG_SESSIONID`` with the crawl's
URL, timeout, retries, backoff, concurrency and rate limit. ``audit.max_pages`` and ``audit.max_requests``
stop a runaway. An interrupted audit resumes from its journal in ``data/cache/audit/``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

from pipeline.audit import audit
from pipeline.core import paths
from pipeline.core.errors import CrawlError, ParamsError
from pipeline.core.params import AuditParams, CrawlParams, load
from pipeline.instagram.api import Budget, ResponseCache
from pipeline.instagram.sources import SESSION_ENV, cache_dir, client_for, session_headers
from pipeline.validation import drift


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("account", help="the username whose followers to audit")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument("--source", choices=("simulator", "instagram"),
                        help="where the followers come from (default: audit.source)")
    parser.add_argument("--sample-size", type=int, help="full profiles to fetch (default: audit.sample_size)")
    parser.add_argument("--seed", type=int, help="seed of the sample (default: audit.seed)")
    parser.add_argument("--followers", type=int, help="simulator: followers of the account (audit.simulator)")
    parser.add_argument("--authentic-share", type=float, metavar="SHARE",
                        help="simulator: share of followers labelled authentic (audit.simulator)")
    parser.add_argument("--params", type=Path, default=paths.PARAMS, help="params.yaml (default: the project's)")
    parser.add_argument("--model", type=Path, default=paths.TFLITE_MODEL, help="the shipped TFLite model")
    parser.add_argument("--list-model", type=Path, default=paths.LIST_TFLITE_MODEL,
                        help="the list-only TFLite model (stage train-list)")
    parser.add_argument("--card", type=Path, default=paths.AUDIT_CARD,
                        help="the list-only model's card: its features and its own threshold, train_list.threshold "
                             "(stage train-list)")
    parser.add_argument("--reference", type=Path, default=paths.REFERENCE,
                        help="the drift reference the sampled profiles are compared with (default: "
                             "data/baseline/reference.parquet; missing: drift is not checked)")
    parser.add_argument("--decision", type=Path, default=paths.DECISION,
                        help="the shipped model's threshold and its held-out error rates at it, as evaluate chose "
                             "them (default: models/decision.json)")


def params_of(args: argparse.Namespace, params: AuditParams) -> AuditParams:
    """``params`` (params.yaml's audit section) with the command line's overrides, checked."""
    sim = params.simulator
    if args.followers is not None:
        if args.followers <= 0:
            raise ParamsError(f"--followers: expected a positive integer, got {args.followers}")
        sim = dataclasses.replace(sim, followers=args.followers)
    if args.authentic_share is not None:
        if not (math.isfinite(args.authentic_share) and 0 <= args.authentic_share <= 1):
            raise ParamsError(f"--authentic-share: expected a number from 0 to 1, got {args.authentic_share!r}")
        sim = dataclasses.replace(sim, authentic_share=args.authentic_share)
    changes = {"simulator": sim}
    for name in ("source", "sample_size", "seed"):
        value = getattr(args, name)
        if value is not None:
            changes[name] = value
    if args.sample_size is not None and args.sample_size < 3:
        raise ParamsError(f"--sample-size: expected an integer of at least 3, got {args.sample_size}")
    if args.seed is not None and args.seed < 0:
        raise ParamsError(f"--seed: expected a non-negative integer, got {args.seed}")
    return dataclasses.replace(params, **changes)


@contextlib.contextmanager
def api(params: AuditParams, account: str, crawl: CrawlParams,
        mistakes: float) -> Iterator[tuple[str, dict | None, object]]:
    """(base URL, headers, identity of the answers) of the audit's source, served for the block's duration;
    ``mistakes`` is the simulated annotator's mistake rate (simulator.annotator_mistake_rate)."""
    if params.source == "instagram":
        yield crawl.instagram_url, session_headers(), {"api": crawl.instagram_url, "account": account}
        return
    from pipeline.instagram.server import serve
    from pipeline.instagram.world import audit_world

    sim = params.simulator
    if account not in sim.accounts:
        known = ", ".join(sim.accounts[:5]) + (", ..." if len(sim.accounts) > 5 else "")
        raise CrawlError(f"account {account!r} is not a simulated account (audit.source is simulator): the "
                         f"simulator has {known} (audit.simulator.accounts); for a real account use "
                         "--source instagram")
    world = audit_world(sim.seed, sim.accounts, sim.followers, sim.authentic_share, mistakes)
    with serve(world) as server:
        yield server.base_url, None, {"world": dataclasses.asdict(sim), "mistakes": mistakes, "account": account}


def run(args: argparse.Namespace) -> int:
    loaded = load(args.params)
    params, crawl = params_of(args, loaded.audit), loaded.crawl
    if params.source == "instagram" and not os.environ.get(SESSION_ENV, "").strip():
        raise CrawlError(f"the instagram source needs a session: set the environment variable {SESSION_ENV} to "
                         "the 'sessionid' cookie of a logged-in Instagram session")
    models = audit.Models.load(args.list_model, args.model, args.card, args.decision)
    reference = drift.read_table(args.reference, paths.shown(args.reference)) if args.reference.is_file() else None
    with api(params, args.account, crawl, loaded.simulator.annotator_mistake_rate) as (base_url, headers, identity):
        journal_dir = cache_dir(paths.AUDIT_CACHE, params.source, identity)
        cache = ResponseCache(journal_dir / "responses.jsonl")
        try:
            client = client_for(crawl, base_url, cache, headers, Budget("audit", params.max_pages, params.max_requests))
            result = audit.audit(client, args.account, models, params.sample_size, params.seed, crawl.concurrency,
                                 crawl.page_size, reference=reference, drift_params=loaded.drift)
        finally:
            cache.close()
    result = dataclasses.replace(result, simulated=params.source == "simulator")
    shutil.rmtree(journal_dir, ignore_errors=True)  # finished: nothing left to resume
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        print(result.line())
        print(result.drift_line())
    if result.unavailable:
        print(f"{result.unavailable} sampled profiles could not be fetched and were left out", file=sys.stderr)
    return 0


COMMAND = (add_arguments, run)  # its help: pipeline.cli.COMMANDS
