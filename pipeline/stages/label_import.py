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
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import atomic, labels, paths
from pipeline.errors import InputError
from pipeline.instagram.records import read_jsonl, read_profiles, relationships
from pipeline.labelling import policy
from pipeline.labelling.files import BadRow, iter_bad, read_label_file
from pipeline.params import LabelImportParams, ParamsError, load_section
from pipeline.stages import run
from pipeline.stages.crawl import world_for

log = logging.getLogger(__name__)

LabelResult = tuple[pa.Table, dict[str, Any], list[BadRow]]


def simulator_labels() -> tuple[dict[int, str], set[int]]:
    """The simulated annotator's decisions and the pks it was unsure of, from the world crawl saw."""
    world = world_for(load_section("simulator", paths.PARAMS), load_section("crawl", paths.PARAMS))
    return world.labels(), {pk for pk, p in world.profiles.items() if p.unsure}


def from_simulator(params: LabelImportParams, users: Sequence[Mapping[str, Any]],
                   relations: Mapping[int, str]) -> LabelResult:
    if params.files:
        # Globs that would be ignored are more likely a forgotten `source: files` than intended.
        raise ParamsError(f"{paths.PARAMS}: label_import.files: read only with label_import.source 'files', "
                          f"got source 'simulator' and {list(params.files)!r}")
    decided, unsure = simulator_labels()
    table, report = labels.join(users, decided, relations, source=params.source, unsure=unsure)
    return table, report, []


def from_files(params: LabelImportParams, users: Sequence[Mapping[str, Any]],
               relations: Mapping[int, str]) -> LabelResult:
    if not params.files:
        raise ParamsError(f"{paths.PARAMS}: label_import.files: expected at least one glob with source 'files'")
    found = labels.match_label_files(params.files, paths.ROOT, paths.LABELS_DIR)
    files = [read_label_file(path, os.path.relpath(path, paths.ROOT)) for path in found]
    bad = list(iter_bad(files))
    if bad and params.on_bad_row == "error":
        raise InputError(f"{bad[0].message()} ({len(bad)} bad row(s) in all; label_import.on_bad_row: "
                         f"quarantine sets them aside)")
    rules = policy.Policy(unsure=params.unsure, tie=params.tie)
    standing = policy.standing_decisions(files)
    resolution = policy.resolve(standing, rules)
    table, report = labels.join(users, resolution.labels, relations, source=params.source,
                                unsure=resolution.unsure_authentic, row_sources=resolution.sources)
    if table.num_rows == 0:
        raise InputError(f"no crawled profile has a label in {', '.join(f.path for f in files)}")
    report.update(policy.report(files, standing, resolution, rules))
    report["bad_rows"] = {"count": len(bad), "on_bad_row": params.on_bad_row,
                          "quarantine": os.path.relpath(paths.LABEL_QUARANTINE, paths.ROOT)}
    return table, report, bad


def main() -> None:
    def body() -> None:
        params = load_section("label_import", paths.PARAMS)
        users = read_profiles(paths.RAW_PROFILES)
        relations = relationships(row for _, row in read_jsonl(paths.RAW_GRAPH))
        source = from_simulator if params.source == "simulator" else from_files
        table, report, bad = source(params, users, relations)
        with atomic.atomic_path(paths.LABELLED) as tmp:
            pq.write_table(table, tmp)
        atomic.write_jsonl(paths.LABEL_QUARANTINE, (b.as_dict() for b in bad))
        atomic.write_json(paths.LABELS_REPORT, report)
        log.info("%d labelled: %d authentic, %d not", report["labelled"], report["authentic"],
                 report["not_authentic"])
        if bad:
            print(f"igfake label-import: {len(bad)} bad rows quarantined, see {paths.LABEL_QUARANTINE}",
                  file=sys.stderr)

    run("label-import", body)


if __name__ == "__main__":
    main()
