"""``igfake mlflow sync``: tag each DVC experiment's MLflow runs with the experiment's own commit.

DVC commits an experiment only after its pipeline has run, so the runs the ``track`` stage logged carry
the baseline's commit; this adds the experiment's (``mlflow.source.git.commit``, ``dvc.exp_rev``). Run
it after ``dvc exp run``; it is idempotent.
"""

from __future__ import annotations

import argparse

from pipeline import paths
from pipeline.params import load_section


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    sub.add_parser("sync", help="tag each DVC experiment's MLflow runs with the experiment's commit")


def run(args: argparse.Namespace) -> int:
    from pipeline import tracking  # MLflow and TensorFlow: only for this command, not for `igfake predict`

    experiments = tracking.dvc_experiments(paths.ROOT)
    tagged = tracking.sync_experiment_commits(experiments, load_section("mlflow", paths.PARAMS).experiment)
    print(f"{len(experiments)} DVC experiments, {tagged} MLflow runs tagged with their experiment's commit")
    return 0


COMMAND = ("MLflow housekeeping: `igfake mlflow sync` after `dvc exp run`", add_arguments, run)
