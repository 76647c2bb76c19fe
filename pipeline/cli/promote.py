"""``igfake promote [RUN]``: make a run's registered model the champion, if the quality gate blessed it.

RUN is ``workspace`` (default: what the last ``dvc repro`` logged), a git revision or a DVC experiment;
its ``data/tracking/mlflow_run.json`` (read from the local DVC cache for a revision) names the model
version the track stage registered. The alias ``champion`` of ``mlflow.registered_model`` moves to that
version only if its verdict is *blessed*; otherwise the command refuses in one line naming the failed
rule (or why the gate judged nothing), exit status 2, and the champion stays where it was. There is no
``--force`` (see :mod:`pipeline.tracking.registry`).
"""

from __future__ import annotations

import argparse
import json

from pipeline.core import paths
from pipeline.core.errors import InputError
from pipeline.evaluation import sources

WORKSPACE = "workspace"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ref", nargs="?", default=WORKSPACE, metavar="RUN",
                        help="'workspace' (default: the last `dvc repro`), a git revision or a DVC experiment")


def logged(ref: str) -> dict:
    """What the track stage recorded for ``ref``: its run and model version."""
    if ref == WORKSPACE:
        if not paths.MLFLOW_RUN.is_file():
            raise InputError(f"{paths.shown(paths.MLFLOW_RUN)}: not found; run `dvc repro` first")
        try:
            found = json.loads(paths.MLFLOW_RUN.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise InputError(f"{paths.shown(paths.MLFLOW_RUN)}: not JSON ({exc}); run `dvc repro -f track`") from None
    else:
        from pipeline.cli import mlflow as mlflow_cli

        commit = sources.commit_of(ref, paths.ROOT)
        if commit is None:
            raise InputError(f"{ref}: {sources.NOT_A_RUN}")
        found = mlflow_cli.logged(commit)
        if found is None:
            raise InputError(f"{ref}: no {paths.shown(paths.MLFLOW_RUN)} in its commit or the local DVC cache "
                             "(its track stage never ran here)")
    version = found.get("model_version") if isinstance(found, dict) else None
    if not (isinstance(version, dict) and isinstance(version.get("name"), str)
            and isinstance(version.get("version"), str)):
        raise InputError(f"{ref}: {paths.shown(paths.MLFLOW_RUN)} names no registered model version (logged before "
                         "runs were registered? `dvc repro -f track` registers it)")
    return found


def run(args: argparse.Namespace) -> int:
    found = logged(args.ref)
    import mlflow
    from mlflow import MlflowClient  # MLflow: only now, after the arguments and the run are checked

    from pipeline.tracking import registry, runs, store

    uri = runs.tracking_uri()
    mlflow.set_tracking_uri(uri)
    version = found["model_version"]
    run_name = str(found.get("run_name", found.get("run_id", "?")))
    what = args.ref if run_name == args.ref else f"{args.ref} (run {run_name})"
    with store.reported(uri):
        moved = registry.promote(MlflowClient(), version["name"], version["version"], what)
    previous = f" (was version {moved['previous']})" if moved["previous"] else ""
    print(f"{moved['uri']} -> version {moved['version']}{previous}: {what}, blessed")
    return 0


COMMAND = (add_arguments, run)  # its help: pipeline.cli.COMMANDS
