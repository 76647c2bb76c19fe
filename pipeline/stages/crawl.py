"""Stage ``crawl``: fetch the seed accounts' followers and followings, then each profile's details.

Reads ``params.yaml`` sections ``crawl`` and ``simulator``. With ``crawl.source: simulator`` (the
default) it starts the simulated Instagram on 127.0.0.1 on a free port and crawls it over HTTP.
Writes ``data/raw/profiles.jsonl`` (user-info records, sorted by pk), ``data/raw/graph.jsonl`` (who
follows which seed), ``data/raw/quarantine.jsonl`` (records that failed validation, with the reason)
and ``reports/crawl.json``.
"""

from __future__ import annotations

import logging
import sys

from pipeline import atomic, paths
from pipeline.instagram.crawler import ApiClient, CrawlResult, crawl
from pipeline.instagram.server import serve
from pipeline.instagram.world import World
from pipeline.params import CrawlParams, SimulatorParams, load_section
from pipeline.stages import run

log = logging.getLogger(__name__)


def world_for(sim: SimulatorParams, crawl_params: CrawlParams) -> World:
    """The simulated world is built around the configured seed accounts."""
    return World(seed=sim.seed, seed_usernames=crawl_params.seed_accounts,
                 accounts_per_seed=sim.accounts_per_seed, mistake_rate=sim.annotator_mistake_rate)


def crawl_simulator(params: CrawlParams, sim: SimulatorParams) -> CrawlResult:
    """Crawl a freshly started simulated Instagram over loopback HTTP."""
    world = world_for(sim, params)

    def progress(done: int, total: int) -> None:
        if done % 250 == 0 or done == total:
            log.info("profiles %d/%d", done, total)

    with serve(world) as server:
        log.info("simulated Instagram on %s", server.base_url)
        client = ApiClient(server.base_url, timeout=params.timeout_seconds)
        return crawl(client, params.seed_accounts, params.max_profiles, params.page_size, params.concurrency,
                     progress=progress)


def write(result: CrawlResult) -> None:
    atomic.write_jsonl(paths.RAW_PROFILES, result.profiles)
    atomic.write_jsonl(paths.RAW_GRAPH, result.graph)
    atomic.write_jsonl(paths.RAW_QUARANTINE, result.quarantine)
    atomic.write_json(paths.CRAWL_REPORT, result.stats.as_dict())


def main() -> None:
    def body() -> None:
        params = load_section("crawl", paths.PARAMS)
        sim = load_section("simulator", paths.PARAMS)
        result = crawl_simulator(params, sim)
        write(result)
        stats = result.stats
        log.info("%d profiles, %d quarantined, %d requests in %.1fs", stats.profiles, stats.quarantined,
                 stats.requests, stats.elapsed_seconds)
        if stats.quarantined:
            print(f"igfake crawl: {stats.quarantined} records quarantined, see {paths.RAW_QUARANTINE}",
                  file=sys.stderr)

    run("crawl", body)


if __name__ == "__main__":
    main()
