"""Stage ``featurize`` checks the labelled table it reads and the features it writes: a broken table stops it
with one line on stderr and exit status 2, and nothing is written."""

from __future__ import annotations

import sys

import pyarrow.parquet as pq

from pipeline import features
from tests.conftest import sh
from tests.schema.conftest import ROWS, labelled_table
from tests.schema.test_features import first_row, replace

STAGE = [sys.executable, "-m", "pipeline.stages.featurize"]


def write_labelled(project, table) -> None:
    (project / "data" / "interim").mkdir(parents=True)
    pq.write_table(table, project / "data" / "interim" / "labelled.parquet")


def test_a_label_outside_the_domain_stops_the_stage_with_one_line(project):
    write_labelled(project, replace("label", first_row(3))(labelled_table()))
    result = sh(STAGE, cwd=project, check=False)
    assert (result.returncode, result.stderr) == (
        2, f"igfake featurize: error: data/interim/labelled.parquet: label: 1 of {ROWS} rows fail isin([0, 1])\n")
    assert not (project / "data" / "features" / "features.parquet").exists()


def test_a_valid_table_is_featurised_unchanged_by_the_check(project):
    labelled = labelled_table()
    write_labelled(project, labelled)
    sh(STAGE, cwd=project)
    written = pq.read_table(project / "data" / "features" / "features.parquet")
    assert written.equals(features.featurize(labelled, "seed16"))
    assert written.column("follower_count").to_pylist() == labelled.column("follower_count").to_pylist()
