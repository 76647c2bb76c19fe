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

from pipeline.core import atomic, paths
from pipeline.core.errors import CrawlError
from pipeline.core.params import load
from pipeline.core.progress import ProgressReporter
from pipeline.instagram import sources
from pipeline.stages import run

log = logging.getLogger(__name__)


def main() -> None:
    def body() -> None:
        params = load()
        progress = ProgressReporter("crawl", "profiles", log)
        try:
            result = sources.fetch(params.crawl, params.simulator, paths.ROOT, paths.CRAWL_CACHE, progress)
        except CrawlError as exc:
            raise CrawlError(f"{exc}{_previous_crawl_hint()}") from None
        finally:
            progress.close()
        if not result.profiles:
            # Nothing downstream can use an empty crawl: stop, and leave the previous crawl's outputs alone.
            first = (f" (first: {result.quarantine[0]['where']}: {result.quarantine[0]['field']}: "
                     f"{result.quarantine[0]['reason']})" if result.quarantine else "")
            raise CrawlError(f"{paths.RAW_PROFILES}: the crawl kept no profile: {result.stats.quarantined} records "
                             f"failed validation{first}; check crawl.seed_accounts or crawl.files")
        # The four outputs describe one crawl: they are replaced together or not at all.
        with atomic.together(paths.commit_journal("crawl")):
            atomic.write_jsonl(paths.RAW_PROFILES, result.profiles)
            atomic.write_jsonl(paths.RAW_GRAPH, result.graph)
            atomic.write_jsonl(paths.RAW_QUARANTINE, result.quarantine)
            atomic.write_json(paths.CRAWL_REPORT, sources.report(params.crawl, result))
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


def _previous_crawl_hint() -> str:
    """How to get the last good crawl back: ``dvc repro`` removes a stage's outputs before running it."""
    if paths.RAW_PROFILES.exists():
        return ""
    return ("; the previous crawl's outputs are in DVC's cache: `dvc checkout crawl` restores them, and the next "
            "`dvc repro crawl` resumes this one where it stopped")


if __name__ == "__main__":
    main()
