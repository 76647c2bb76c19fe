"""Crawl benchmark: how closely the crawler uses a rate limit, and how fast it goes without one.

    python benchmarks/crawl.py [--rpm 600]

1. **Throttled.** The simulated Instagram allows R requests a minute (checked per 10-second window,
   answered 429 beyond it) and the crawler is told ``requests_per_minute = R``. A crawler that uses its
   budget well takes about ``requests / R`` minutes: the ratio elapsed ÷ (requests ÷ R) must stay ≤ 1.10.
2. **Unthrottled.** The default world (about 1,000 profiles), no limit anywhere: profiles per second.

Prints both and writes ``reports/benchmarks/crawl.json`` (atomically). Exit status 1 if the ratio is
over 1.10. Not part of pytest: it takes about half a minute by design.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time

from pipeline.core import atomic, paths
from pipeline.core.params import Params, load
from pipeline.instagram.crawler import crawl
from pipeline.instagram.server import serve
from pipeline.instagram.sources import client_for
from pipeline.instagram.world import World

MAX_RATIO = 1.10
WINDOW_SECONDS = 10.0
SEEDS = ("insights.owner", "maya.lindqvist", "jonas_becker")


def crawl_params(params: Params, **overrides):
    """The crawl's params as params.yaml sets them, with some overridden."""
    return dataclasses.replace(params.crawl, **overrides)


def throttled(params: Params, rpm: int, concurrency: int) -> dict:
    world = World(seed=2019, seed_usernames=SEEDS[:2], accounts_per_seed=100, mistake_rate=0.03)
    faults = dataclasses.replace(params.simulator.faults,
                                 rate_limit_requests=max(1, round(rpm * WINDOW_SECONDS / 60)),
                                 rate_limit_window_seconds=WINDOW_SECONDS)
    with serve(world, faults=faults) as server:
        client = client_for(crawl_params(params, requests_per_minute=rpm), server.base_url)
        started = time.monotonic()
        result = crawl(client, SEEDS[:2], max_profiles=10_000, concurrency=concurrency)
        elapsed = time.monotonic() - started
    ideal = result.stats.requests / rpm * 60
    return {"requests_per_minute": rpm, "concurrency": concurrency, "requests": result.stats.requests,
            "profiles": result.stats.profiles, "http_429": result.stats.http_429,
            "elapsed_seconds": round(elapsed, 3), "ideal_seconds": round(ideal, 3),
            "ratio": round(elapsed / ideal, 4)}


def unthrottled(params: Params, concurrency: int) -> dict:
    world = World(seed=2019, seed_usernames=SEEDS, accounts_per_seed=420, mistake_rate=0.03)
    with serve(world) as server:
        client = client_for(crawl_params(params, requests_per_minute=0), server.base_url)
        started = time.monotonic()
        result = crawl(client, SEEDS, max_profiles=10_000, concurrency=concurrency)
        elapsed = time.monotonic() - started
    return {"concurrency": concurrency, "requests": result.stats.requests, "profiles": result.stats.profiles,
            "elapsed_seconds": round(elapsed, 3), "profiles_per_second": round(result.stats.profiles / elapsed, 1),
            "requests_per_second": round(result.stats.requests / elapsed, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rpm", type=int, default=600, help="R, requests per minute (default 600: ~20 s)")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    params = load()
    limited = throttled(params, args.rpm, args.concurrency)
    print(f"throttled at {args.rpm}/min: {limited['requests']} requests in {limited['elapsed_seconds']:.1f}s, "
          f"ideal {limited['ideal_seconds']:.1f}s, ratio {limited['ratio']:.3f} (max {MAX_RATIO}), "
          f"{limited['http_429']} 429s")
    free = unthrottled(params, args.concurrency)
    print(f"unthrottled: {free['profiles']} profiles in {free['elapsed_seconds']:.2f}s = "
          f"{free['profiles_per_second']:.0f} profiles/s ({free['requests_per_second']:.0f} requests/s)")
    ok = limited["ratio"] <= MAX_RATIO
    atomic.write_json(paths.REPORTS / "benchmarks" / "crawl.json",
                      {"throttled": limited, "unthrottled": free, "max_ratio": MAX_RATIO, "ok": ok})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
