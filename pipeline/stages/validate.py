"""Stage ``validate``: does this run's data still look like the data the accepted model was trained on?

Reads ``data/features/features.parquet``, the shipped model's probabilities
(``data/predictions/predictions.parquet``, for the score's shift), the reference
``data/baseline/reference.parquet`` (``igfake baseline`` writes it) and ``params.yaml`` section ``drift``.
Writes ``reports/drift.json`` (:func:`pipeline.validation.drift.drift`): a report, never a failure.
"""

from __future__ import annotations

import logging

import pyarrow.parquet as pq

from pipeline.core import atomic, paths
from pipeline.core.errors import InputError
from pipeline.core.params import load
from pipeline.stages import run
from pipeline.validation import drift

log = logging.getLogger(__name__)


def main() -> None:
    def body() -> None:
        params = load()
        if not paths.REFERENCE.is_file():
            raise InputError(f"{paths.shown(paths.REFERENCE)}: not found; write it with `igfake baseline` "
                             "and commit it")
        current = drift.scored(pq.read_table(paths.FEATURES), pq.read_table(paths.PREDICTIONS),
                               params.featurize.feature_set, paths.shown(paths.FEATURES))
        reference = drift.read_table(paths.REFERENCE, paths.shown(paths.REFERENCE))
        report = drift.drift(reference, current, params.featurize.feature_set, params.drift)
        atomic.write_json(paths.DRIFT, {"reference": paths.shown(paths.REFERENCE), **report})
        log.info("%s", drift.summary_line(report))

    run("validate", body)


if __name__ == "__main__":
    main()
