"""Stage validate, as DVC runs it: reports/drift.json from the run's features and predictions against the
committed reference."""

from __future__ import annotations

import json
import sys

import pyarrow.parquet as pq

from pipeline.core import paths
from pipeline.validation import drift
from tests.cli.test_drift import project, write_run  # noqa: F401  (project: the fixture)
from tests.conftest import REPO, sh
from tests.validation.conftest import world_table


def _validate(root):
    (root / "dvc.yaml").write_text((REPO / "dvc.yaml").read_text())  # what makes it the project root
    return sh([sys.executable, "-m", "pipeline.stages.validate"], cwd=root, check=False, PYTHONPATH=str(REPO))


def test_validate_writes_the_drift_of_the_run_against_the_reference(project):  # noqa: F811
    reference = write_run(project)  # the accepted run ...
    pq.write_table(drift.reference_table(reference, pq.read_table(paths.PREDICTIONS), "seed16", 5000, 0),
                   paths.REFERENCE)
    write_run(project, world_table(seed=7, authentic_share=0.7))  # ... and a re-crawl of another world
    result = _validate(project)
    assert result.returncode == 0, result.stderr
    report = json.loads(paths.DRIFT.read_text())
    assert report["reference"] == "data/baseline/reference.parquet"
    assert report["verdict"] == drift.PRIOR_SHIFT and report["drifted_features"] == []
    assert report["tests"] == 34  # 16 features and the score, within each label
    assert report["score"]["test"] == "ks"


def test_validate_without_a_reference_is_one_line(project):  # noqa: F811
    write_run(project)
    result = _validate(project)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "igfake validate: error: data/baseline/reference.parquet: not found; write it with `igfake baseline` "
        "and commit it"]
    assert not paths.DRIFT.exists()
