"""``igfake mlflow sync``: tag each DVC experiment's MLflow runs with the experiment's own commit.

DVC commits an experiment only after its pipeline has run, so the runs the ``track`` stage logged carry
the baseline's commit; this adds the experiment's (``mlflow.source.git.commit``, ``dvc.exp_rev``). An
experiment for which DVC reproduced nothing new (every stage unchanged: ``track`` never ran) gets a
parent run named after it, linked to the run whose results it repeats. Run it after ``dvc exp run``; it
is idempotent.
"""

from __future__ import annotations

import argparse
import json
import os

from pipeline.core import paths
from pipeline.core.params import load_section


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    sub.add_parser("sync", help="tag each DVC experiment's MLflow runs with the experiment's commit")


def run(args: argparse.Namespace) -> int:
    from pipeline.tracking import runs  # MLflow: only for this command, not for `igfake predict`

    experiments = runs.dvc_experiments(paths.ROOT)
    counts = runs.sync_experiment_commits(experiments, load_section("mlflow", paths.PARAMS).experiment,
                                          logged_run)
    print(f"{len(experiments)} DVC experiments: {counts['tagged']} MLflow runs tagged with their experiment's "
          f"commit, {counts['linked']} experiments that reproduced nothing new linked to the run they repeat")
    return 0


def logged(rev: str) -> dict | None:
    """What the track stage recorded in commit ``rev`` (``data/tracking/mlflow_run.json``, from the local DVC
    cache), or None if that commit has none."""
    import dvc.api
    from dvc.exceptions import DvcException

    try:
        text = dvc.api.read(os.path.relpath(paths.MLFLOW_RUN, paths.ROOT), repo=str(paths.ROOT), rev=rev)
    except (DvcException, FileNotFoundError):
        return None
    try:
        found = json.loads(text)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def logged_run(rev: str) -> str | None:
    """The MLflow run the track stage recorded in commit ``rev`` (None if that commit has none)."""
    return (logged(rev) or {}).get("run_id")


COMMAND = ("MLflow housekeeping: `igfake mlflow sync` after `dvc exp run`", add_arguments, run)
