"""Stage ``featurize``: the labelled profiles as the model's feature matrix.

Reads ``data/interim/labelled.parquet`` and ``params.yaml`` section ``featurize``. Writes
``data/features/features.parquet`` (``pk``, ``label``, then the feature set's columns in order, with
an explicit Arrow schema) and ``data/features/feature_spec.json`` (names, order, dtypes). Both tables are
checked against their schemas (:mod:`pipeline.schema`): the one read, and the one about to be written.
"""

from __future__ import annotations

import logging

import pyarrow.parquet as pq

from pipeline import features
from pipeline.core import atomic, paths
from pipeline.core.params import load
from pipeline.schema import features as features_schema
from pipeline.schema import labelled as labelled_schema
from pipeline.stages import run

log = logging.getLogger(__name__)


def main() -> None:
    def body() -> None:
        feature_set = load().featurize.feature_set
        atomic.check_together(paths.commit_journal("label-import"))
        labelled = pq.read_table(paths.LABELLED)
        labelled_schema.check(labelled, paths.LABELLED)
        table = features.featurize(labelled, feature_set)
        features_schema.check(table, feature_set, paths.FEATURES)
        with atomic.together(paths.commit_journal("featurize")):
            with atomic.atomic_path(paths.FEATURES) as tmp:
                pq.write_table(table, tmp)
            atomic.write_json(paths.FEATURE_SPEC, features.spec(feature_set))
        log.info("%d rows x %d features", table.num_rows, table.num_columns - 2)

    run("featurize", body)


if __name__ == "__main__":
    main()
