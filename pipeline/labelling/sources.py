"""Where label-import's labels come from: the simulated annotator, or the annotators' label files.

Both end in the same labelled table (:func:`pipeline.labelling.table.join`) and a report; label files go
through the formats' checks (:mod:`.formats`) and the voting policy (:mod:`.policy`) first.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from pipeline.core.errors import InputError, ParamsError
from pipeline.core.params import LabelImportParams
from pipeline.instagram.world import World
from pipeline.labelling import policy, table
from pipeline.labelling.formats import BadRow, iter_bad, read_label_file

LabelResult = tuple[pa.Table, dict[str, Any], list[BadRow]]


def find_label_files(patterns: Sequence[str], root: Path, labels_dir: Path) -> list[Path]:
    """The files the globs match (relative to ``root``), sorted, each once.

    A glob that matches nothing is an error (a typo must not silently import nothing), and so is a
    file outside ``labels_dir``: dvc.yaml tracks that directory, so a label file elsewhere could change
    without DVC re-running the stage.
    """
    found: set[Path] = set()
    for pattern in patterns:
        matched = [root / rel for rel in glob.glob(pattern, root_dir=root, recursive=True)]
        matched = [p for p in matched if p.is_file()]
        if not matched:
            raise InputError(f"label_import.files: {pattern!r} matches no file under {root}")
        for path in matched:
            if not path.resolve().is_relative_to(labels_dir.resolve()):
                raise InputError(f"label_import.files: {os.path.relpath(path, root)}: outside "
                                 f"{os.path.relpath(labels_dir, root)}/, the directory dvc.yaml tracks for "
                                 f"label-import; move it there")
            found.add(path)
    return sorted(found)


def from_simulator(params: LabelImportParams, world: World, users: Sequence[Mapping[str, Any]],
                   relations: Mapping[int, str]) -> LabelResult:
    """The simulated annotator's decisions on the crawled profiles of ``world``."""
    if params.files:
        # Globs that would be ignored are more likely a forgotten `source: files` than intended.
        raise ParamsError(f"label_import.files: read only with label_import.source 'files', "
                          f"got source 'simulator' and {list(params.files)!r}")
    unsure = {pk for pk, p in world.profiles.items() if p.unsure}
    truths = {pk: p.truth for pk, p in world.profiles.items()}
    labelled, report = table.join(users, world.labels(), relations, source=params.source, unsure=unsure,
                                  truths=truths)
    return labelled, report, []


def from_files(params: LabelImportParams, root: Path, labels_dir: Path, users: Sequence[Mapping[str, Any]],
               relations: Mapping[int, str], quarantine: Path) -> LabelResult:
    """The label files matched by ``label_import.files``, resolved by its ``unsure`` and ``tie`` rules.

    Bad rows stop the import or, with ``on_bad_row: quarantine``, come back to be written to
    ``quarantine`` (named in the report).
    """
    if not params.files:
        raise ParamsError("label_import.files: expected at least one glob with source 'files'")
    found = find_label_files(params.files, root, labels_dir)
    files = [read_label_file(path, os.path.relpath(path, root)) for path in found]
    bad = list(iter_bad(files))
    if bad and params.on_bad_row == "error":
        raise InputError(f"{bad[0].message()} ({len(bad)} bad row(s) in all; label_import.on_bad_row: "
                         f"quarantine sets them aside)")
    rules = policy.Policy(unsure=params.unsure, tie=params.tie)
    standing = policy.standing_decisions(files)
    resolution = policy.resolve(standing, rules)
    labelled, report = table.join(users, resolution.labels, relations, source=params.source,
                                  unsure=resolution.unsure_authentic, row_sources=resolution.sources)
    if labelled.num_rows == 0:
        raise InputError(f"no crawled profile has a label in {', '.join(f.path for f in files)}")
    report.update(policy.report(files, standing, resolution, rules))
    report["bad_rows"] = {"count": len(bad), "on_bad_row": params.on_bad_row,
                          "quarantine": os.path.relpath(quarantine, root)}
    return labelled, report, bad
