"""Stage ``label-import``: join labels to the crawled profiles.

Reads ``data/raw/profiles.jsonl``, ``data/raw/graph.jsonl`` and ``params.yaml`` section ``label_import``.
With ``source: simulator`` (the default) the labels are the simulated annotator's, rebuilt from the
``simulator`` and ``crawl`` params; with ``source: files`` they are the annotators' label files matched
by ``label_import.files`` (under ``data/labels/``), resolved by the ``unsure`` and ``tie`` policy.
Writes ``data/interim/labelled.parquet``, ``data/interim/label_quarantine.jsonl`` (rows set aside,
with the reason; empty unless ``on_bad_row: quarantine`` met bad rows) and ``reports/labels.json``.
"""

from __future__ import annotations

import logging
import sys

import pyarrow.parquet as pq

from pipeline.core import atomic, paths
from pipeline.core.params import load
from pipeline.core.vocabulary import AUTHENTIC, FAKE
from pipeline.instagram.records import read_graph, read_profiles
from pipeline.instagram.sources import world_for
from pipeline.labelling import sources
from pipeline.labelling.table import check_classes
from pipeline.schema import labelled as labelled_schema
from pipeline.stages import run

log = logging.getLogger(__name__)


def main() -> None:
    def body() -> None:
        params = load()
        atomic.check_together(paths.commit_journal("crawl"))
        users = read_profiles(paths.RAW_PROFILES)
        relations = read_graph(paths.RAW_GRAPH, paths.RAW_PROFILES, users)
        if params.label_import.source == "simulator":
            world = world_for(params.simulator, params.crawl.seed_accounts)
            table, report, bad = sources.from_simulator(params.label_import, world, users, relations)
        else:
            table, report, bad = sources.from_files(params.label_import, paths.ROOT, paths.LABELS_DIR, users, relations,
                                                    paths.LABEL_QUARANTINE)
        check_classes(report, paths.LABELLED)
        labelled_schema.check(table, paths.LABELLED)
        with atomic.together(paths.commit_journal("label-import")):
            with atomic.atomic_path(paths.LABELLED) as tmp:
                pq.write_table(table, tmp)
            atomic.write_jsonl(paths.LABEL_QUARANTINE, (b.as_dict() for b in bad))
            atomic.write_json(paths.LABELS_REPORT, report)
        log.info("%d labelled: %d %s, %d %s", report["labelled"], report[AUTHENTIC], AUTHENTIC, report[FAKE], FAKE)
        if bad:
            print(f"igfake label-import: {len(bad)} bad rows quarantined, see {paths.LABEL_QUARANTINE}",
                  file=sys.stderr)

    run("label-import", body)


if __name__ == "__main__":
    main()
