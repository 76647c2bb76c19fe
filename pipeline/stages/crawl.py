"""Stage ``crawl``: fetch the seed accounts' followers and followings, then each profile's details.

Reads ``params.yaml`` sections ``crawl`` and ``simulator``. ``crawl.source`` picks where records come
from: ``simulator`` (the default) starts the simulated Instagram on 127.0.0.1 on a free port and crawls
it over HTTP; ``instagram`` crawls the private API at ``crawl.instagram_url`` with the session id in
``$IG_SESSIONID``; ``files`` reads the dumps listed in ``crawl.files``. Writes ``data/raw/profiles.jsonl``
(user-info records, sorted by pk), ``data/raw/graph.jsonl`` (who follows which seed; empty for files),
``data/raw/quarantine.jsonl`` (records that failed validation, with the reason) and ``reports/crawl.json``.

A crawl keeps every answer in a resume cache under ``data/cache/crawl/`` (outside DVC's outputs, git-
and dvc-ignored) until its outputs are written, so a killed crawl continues where it stopped.
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from typing import Any

from tqdm import tqdm

from pipeline import atomic, paths
from pipeline.instagram import sources
from pipeline.instagram.crawler import CrawlResult
from pipeline.instagram.sources import world_for
from pipeline.params import CrawlParams, SimulatorParams, load_section
from pipeline.stages import run

__all__ = ["CACHE", "main", "world_for"]  # world_for: label-import rebuilds the simulated annotator with it

log = logging.getLogger(__name__)

CACHE = paths.DATA / "cache" / "crawl"
LOG_EVERY_SECONDS = 10.0


class Progress:
    """A progress bar on a terminal; a plain log line every few seconds otherwise (CI, dvc repro logs)."""

    def __init__(self) -> None:
        self.bar: tqdm | None = None
        self.terminal = sys.stderr.isatty()
        self.last_log = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        if self.terminal:
            if self.bar is None:
                self.bar = tqdm(total=total, unit="profile", desc="crawl", file=sys.stderr)
            self.bar.update(done - self.bar.n)
        elif done == total or time.monotonic() - self.last_log >= LOG_EVERY_SECONDS:
            self.last_log = time.monotonic()
            log.info("profiles %d/%d", done, total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def fetch(params: CrawlParams, sim: SimulatorParams) -> CrawlResult:
    """The crawl's records from the configured source, through the one shared validation path."""
    if params.source == "files":
        return sources.from_files(params.files, paths.ROOT)
    progress = Progress()
    try:
        if params.source == "instagram":
            return sources.from_instagram(params, CACHE, progress, base_url=params.instagram_url)
        return sources.from_simulator(params, sim, CACHE, progress)
    finally:
        progress.close()


def report(params: CrawlParams, result: CrawlResult) -> dict[str, Any]:
    return {"source": params.source, **result.stats.as_dict()}


def write(result: CrawlResult, params: CrawlParams) -> None:
    atomic.write_jsonl(paths.RAW_PROFILES, result.profiles)
    atomic.write_jsonl(paths.RAW_GRAPH, result.graph)
    atomic.write_jsonl(paths.RAW_QUARANTINE, result.quarantine)
    atomic.write_json(paths.CRAWL_REPORT, report(params, result))


def main() -> None:
    def body() -> None:
        params = load_section("crawl", paths.PARAMS)
        sim = load_section("simulator", paths.PARAMS)
        result = fetch(params, sim)
        write(result, params)
        # The outputs are written: the answers they came from are no longer needed to resume.
        if result.cache is not None:
            shutil.rmtree(result.cache, ignore_errors=True)
        stats = result.stats
        log.info("%d profiles, %d quarantined, %d requests (%d from the resume cache, %d retries, %d 429s) "
                 "in %.1fs", stats.profiles, stats.quarantined, stats.requests, stats.cached, stats.retries,
                 stats.http_429, stats.elapsed_seconds)
        if stats.quarantined:
            first = result.quarantine[0]
            print(f"igfake crawl: {stats.quarantined} records quarantined, see {paths.RAW_QUARANTINE} "
                  f"(first: {first['where']}: {first['field']}: {first['reason']})", file=sys.stderr)

    run("crawl", body)


if __name__ == "__main__":
    main()
