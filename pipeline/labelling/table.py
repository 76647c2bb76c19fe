"""Labels joined to crawled profiles: the labelled table every later stage learns from.

The ``label`` column is :data:`~pipeline.core.vocabulary.LABEL_VALUE` of the profile's class: 1 authentic,
0 fake. In the simulated world the labels are the simulator's annotator's decisions; otherwise they come
from the annotators' label files (:mod:`pipeline.labelling.sources`).

``truth`` is what the profile really is, in the same coding, where someone knows it: the simulator does,
so evaluate can show what label noise costs; for label files it is null. ``account_type`` is Instagram's
(1 personal, 2 business, 3 creator; null when the record lacks it), kept for evaluate's slices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from typing import Any

import pyarrow as pa

from pipeline.core.errors import InputError
from pipeline.core.vocabulary import AUTHENTIC, FAKE, LABEL_VALUE
from pipeline.instagram.records import REQUIRED_FIELDS, USER_SCHEMA

SCHEMA = pa.schema(
    [
        *USER_SCHEMA,
        pa.field("relationship", pa.string(), nullable=False),
        pa.field("label", pa.int8(), nullable=False),
        pa.field("label_source", pa.string(), nullable=False),
        pa.field("truth", pa.int8(), nullable=True),
        pa.field("account_type", pa.int8(), nullable=True),
    ]
)


def join(users: Sequence[Mapping[str, Any]], labels: Mapping[int, str], relationships: Mapping[int, str],
         source: str, unsure: Set[int] = frozenset(),
         row_sources: Mapping[int, str] | None = None,
         truths: Mapping[int, str] | None = None) -> tuple[pa.Table, dict[str, Any]]:
    """The labelled table (crawl order, i.e. by pk) and a report of what matched and what did not.

    ``labels`` maps pk to a class (:data:`~pipeline.core.vocabulary.CLASSES`). ``unsure`` are the pks the
    annotator could not decide and labelled authentic, as the article did. ``row_sources`` gives a row's
    ``label_source`` by pk (default: ``source`` for every row). ``truths`` maps pk to the class the
    profile really is, where that is known (the simulator); without it ``truth`` is null.
    """
    rows = []
    for user in users:
        label = labels.get(user["pk"])
        if label is None:
            continue
        row = {name: user[name] for name in REQUIRED_FIELDS}
        row["reel_auto_archive"] = user["reel_auto_archive"]
        row["relationship"] = relationships.get(user["pk"], "unknown")
        row["label"] = LABEL_VALUE[label]
        row["label_source"] = source if row_sources is None else row_sources[user["pk"]]
        row["truth"] = None if truths is None else LABEL_VALUE[truths[user["pk"]]]
        account_type = user.get("account_type")
        row["account_type"] = account_type if isinstance(account_type, int) and 0 <= account_type < 128 else None
        rows.append(row)
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    crawled = {u["pk"] for u in users}
    n_authentic = sum(r["label"] == LABEL_VALUE[AUTHENTIC] for r in rows)
    report = {
        "source": source,
        "labelled": len(rows),
        AUTHENTIC: n_authentic,
        FAKE: len(rows) - n_authentic,
        "unsure_labelled_authentic": len(crawled & set(unsure) & set(labels)),
        "crawled_unlabelled": len(crawled - set(labels)),
        "labels_not_in_crawl": len(set(labels) - crawled),
    }
    return table, report


def check_classes(report: Mapping[str, Any], where: object) -> None:
    """Stop unless the labelled table holds both classes: no split, model or metric means anything otherwise.

    How many of each class a run needs depends on the split protocol (``train.split``), which the train
    stage checks before it fits anything; here only what no protocol can work with stops the import.
    """
    missing = [name for name in (AUTHENTIC, FAKE) if not report[name]]
    if missing:
        raise InputError(f"{where}: {report['labelled']} labelled profiles, none of them {' or '.join(missing)}: "
                         f"training needs labelled profiles of both classes ({report[AUTHENTIC]} {AUTHENTIC}, "
                         f"{report[FAKE]} {FAKE}); label more profiles or check label_import.files")
