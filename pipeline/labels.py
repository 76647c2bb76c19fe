"""Labels joined to crawled profiles: the table every later stage learns from.

Label 1 means authentic, 0 fake or spam. In the simulated world the labels are the simulator's
annotator's decisions (ground truth through a person-like labeller); otherwise they come from the
annotators' label files (:func:`match_label_files`, formats and policy in :mod:`pipeline.labelling`).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping, Sequence, Set
from pathlib import Path
from typing import Any

import pyarrow as pa

from pipeline.errors import InputError
from pipeline.instagram.records import REQUIRED_FIELDS

AUTHENTIC, NOT_AUTHENTIC = "authentic", "not_authentic"

_ARROW = {int: pa.int64(), str: pa.string(), bool: pa.bool_()}

SCHEMA = pa.schema(
    [pa.field(name, _ARROW[tp], nullable=False) for name, tp in REQUIRED_FIELDS.items()]
    + [
        pa.field("reel_auto_archive", pa.string(), nullable=False),
        pa.field("relationship", pa.string(), nullable=False),
        pa.field("label", pa.int8(), nullable=False),
        pa.field("label_source", pa.string(), nullable=False),
    ]
)


def join(users: Sequence[Mapping[str, Any]], labels: Mapping[int, str], relationships: Mapping[int, str],
         source: str, unsure: Set[int] = frozenset(),
         row_sources: Mapping[int, str] | None = None) -> tuple[pa.Table, dict[str, Any]]:
    """The labelled table (crawl order, i.e. by pk) and a report of what matched and what did not.

    ``unsure`` are the pks the annotator could not decide and labelled authentic, as the article did.
    ``row_sources`` gives a row's ``label_source`` by pk (default: ``source`` for every row).
    """
    rows = []
    for user in users:
        label = labels.get(user["pk"])
        if label is None:
            continue
        row = {name: user[name] for name in REQUIRED_FIELDS}
        row["reel_auto_archive"] = user["reel_auto_archive"]
        row["relationship"] = relationships.get(user["pk"], "unknown")
        row["label"] = 1 if label == AUTHENTIC else 0
        row["label_source"] = source if row_sources is None else row_sources[user["pk"]]
        rows.append(row)
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    crawled = {u["pk"] for u in users}
    n_auth = sum(r["label"] for r in rows)
    report = {
        "source": source,
        "labelled": len(rows),
        "authentic": n_auth,
        "not_authentic": len(rows) - n_auth,
        "unsure_labelled_authentic": len(crawled & set(unsure) & set(labels)),
        "crawled_unlabelled": len(crawled - set(labels)),
        "labels_not_in_crawl": len(set(labels) - crawled),
    }
    return table, report


def match_label_files(patterns: Sequence[str], root: Path, labels_dir: Path) -> list[Path]:
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
