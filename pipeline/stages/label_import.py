"""Stage ``label-import``: join labels to the crawled profiles.

Reads ``data/raw/profiles.jsonl`` and ``data/raw/graph.jsonl`` and ``params.yaml`` sections
``label_import`` (plus ``simulator`` and ``crawl.seed_accounts`` to rebuild the simulated annotator).
Writes ``data/interim/labelled.parquet`` and ``reports/labels.json``.
"""

from __future__ import annotations

import logging

import pyarrow.parquet as pq

from pipeline import atomic, labels, paths
from pipeline.instagram.records import read_jsonl, read_profiles, relationships
from pipeline.params import load_section
from pipeline.stages import run
from pipeline.stages.crawl import world_for

log = logging.getLogger(__name__)


def simulator_labels() -> tuple[dict[int, str], set[int]]:
    """The simulated annotator's decisions and the pks it was unsure of, from the world crawl saw."""
    world = world_for(load_section("simulator", paths.PARAMS), load_section("crawl", paths.PARAMS))
    return world.labels(), {pk for pk, p in world.profiles.items() if p.unsure}


def main() -> None:
    def body() -> None:
        params = load_section("label_import", paths.PARAMS)
        users = read_profiles(paths.RAW_PROFILES)
        relations = relationships(row for _, row in read_jsonl(paths.RAW_GRAPH))
        decided, unsure = simulator_labels()
        table, report = labels.join(users, decided, relations, source=params.source, unsure=unsure)
        with atomic.atomic_path(paths.LABELLED) as tmp:
            pq.write_table(table, tmp)
        atomic.write_json(paths.LABELS_REPORT, report)
        log.info("%d labelled: %d authentic, %d not", report["labelled"], report["authentic"],
                 report["not_authentic"])

    run("label-import", body)


if __name__ == "__main__":
    main()
