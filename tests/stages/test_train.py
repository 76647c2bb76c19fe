"""Stage ``train`` checks the features it reads before it imports TensorFlow: a broken table stops it with one
line naming the file, the column and the rule, exit status 2, no traceback."""

from __future__ import annotations

import sys

import pyarrow.parquet as pq

from pipeline import features
from tests.conftest import sh
from tests.schema.conftest import ROWS, labelled_table
from tests.schema.test_features import first_row, replace

STAGE = [sys.executable, "-m", "pipeline.stages.train"]


def run_on(project, table):
    (project / "data" / "features").mkdir(parents=True)
    pq.write_table(table, project / "data" / "features" / "features.parquet")
    return sh(STAGE, cwd=project, check=False)


def test_a_renamed_feature_stops_the_stage_with_one_line(project):
    table = features.featurize(labelled_table(), "seed16")
    result = run_on(project, table.rename_columns(["followers" if n == "follower_count" else n
                                                   for n in table.column_names]))
    assert (result.returncode, result.stderr) == (
        2, "igfake train: error: data/features/features.parquet: follower_count: column missing; "
           "followers: column not in the schema\n")


def test_a_negative_count_stops_the_stage_with_one_line(project):
    result = run_on(project, replace("media_count", first_row(-1))(features.featurize(labelled_table(), "seed16")))
    assert (result.returncode, result.stderr) == (
        2, f"igfake train: error: data/features/features.parquet: media_count: 1 of {ROWS} rows fail "
           "greater_than_or_equal_to(0)\n")
