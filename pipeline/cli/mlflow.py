"""``igfake mlflow ui``: the MLflow UI on the project's store, opening on the runs table;
``igfake mlflow sync``: tag each DVC experiment's MLflow runs with the experiment's own commit.

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
import sys

from pipeline import tracking
from pipeline.core import git, paths
from pipeline.core.params import load


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    sub.add_parser("sync", help="tag each DVC experiment's MLflow runs with the experiment's commit")
    ui = sub.add_parser("ui", help="serve the MLflow UI on the project's store and print the runs table's link")
    ui.add_argument("--port", type=int, default=tracking.UI_PORT,
                    help=f"port on {tracking.UI_HOST} (default: {tracking.UI_PORT}, as in the link track logs)")


def serve(port: int) -> int:
    """Replace this process by ``mlflow server`` on the project's store (one worker, no GenAI job runner:
    MLflow 3 otherwise starts seven job processes these runs never use), after printing the link."""
    from pipeline.tracking import runs, store

    # The server would start on a store it cannot read and fail at the first page: check it first.
    store.check(runs.tracking_uri())
    address = f"http://{tracking.UI_HOST}:{port}"
    experiment_id = (logged_file() or {}).get("experiment_id")
    print(f"MLflow UI: {runs.ui_url(experiment_id, address) if experiment_id else address} "
          "(Ctrl-C stops it)", flush=True)
    command = ["mlflow", "server", "--backend-store-uri", runs.tracking_uri(), "--default-artifact-root",
               runs.artifact_location(), "--host", tracking.UI_HOST, "--port", str(port), "--workers", "1"]
    os.execvpe(command[0], command, os.environ | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    return 1  # not reached


def logged_file() -> dict | None:
    """The workspace's ``data/tracking/mlflow_run.json`` (which experiment the last track stage used)."""
    try:
        found = json.loads(paths.MLFLOW_RUN.read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) and isinstance(found.get("experiment_id"), str) else None


def run(args: argparse.Namespace) -> int:
    from pipeline.tracking import runs  # MLflow: only for this command, not for `igfake predict`

    if args.action == "ui":
        if not 0 < args.port < 65536:
            print(f"igfake mlflow ui: --port {args.port} is not a TCP port (1-65535)", file=sys.stderr)
            return 2
        return serve(args.port)
    experiments = git.experiments(paths.ROOT)
    counts = runs.sync_experiment_commits(experiments, load().mlflow.experiment,
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


COMMAND = (add_arguments, run)  # its help: pipeline.cli.COMMANDS
