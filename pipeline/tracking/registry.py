"""The MLflow Model Registry: every run's model is a version, and only a blessed one becomes the champion.

The ``track`` stage registers each pipeline run's TFLite pyfunc model (the phone's model, run by LiteRT,
with the decision threshold it ships with) as a new version of one registered model
(``mlflow.registered_model``, default ``igfake``), tagged with the quality gate's verdict
(:data:`VERDICT`: blessed, not blessed or not judged, and why), the git commit, the DVC experiment and
the MLflow run. Registering is not shipping: ``igfake promote`` (:func:`promote`) moves the alias
``champion`` to a version, and refuses one the gate did not bless, in one line naming the failed rule.
There is no ``--force``: a model that should ship must earn its verdict (change the rules in
``params.yaml`` and re-run ``dvc repro`` if they are wrong for your data).

An app fetches the champion as ``models:/<name>@champion`` (``mlflow.pyfunc.load_model``, or
``igfake predict --model models:/igfake@champion``), so promoting a new version changes what it gets
without a release. :func:`download` fetches a version's TFLite file and decision for ``igfake predict``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from pipeline.core.errors import GateError, InputError
from pipeline.tracking import store

CHAMPION = "champion"
# The model version's tags: the verdict, why, and where the version comes from.
VERDICT, WHY, FAILED = "igfake.gate", "igfake.gate.why", "igfake.gate.failed"
COMMIT, EXPERIMENT, RUN_NAME, DATA_MD5, THRESHOLD = ("git_commit", "dvc.exp_name", "igfake.run_name",
                                                     "igfake.data_md5", "igfake.threshold")
BLESSED = "blessed"
# What the registered pyfunc model holds beside its code: the TFLite file and the decision it ships with.
TFLITE_ARTIFACT, DECISION_ARTIFACT = "tflite", "decision"


def verdict_tags(verdict: dict[str, Any]) -> dict[str, str]:
    """The gate's verdict (``reports/gate.json``, read back by :func:`pipeline.evaluation.gate.read`) as tags:
    :data:`VERDICT`, :data:`WHY` and, when rules failed, :data:`FAILED`; a run and its model version carry them."""
    from pipeline.evaluation import gate as gate_lib  # here: `igfake predict --model models:/...` needs none of it

    tags = {VERDICT: gate_lib.label(verdict), WHY: gate_lib.why(verdict)[:4000]}
    if verdict.get("failed"):
        tags[FAILED] = ", ".join(verdict["failed"])
    return tags


def version_tags(verdict: dict[str, Any], commit: str | None, run_name: str, data_md5: str,
                 threshold: float) -> dict[str, str]:
    """The tags of a run's model version: its verdict (:func:`verdict_tags`), where it comes from, and the
    threshold it ships with (``models/decision.json``'s, never ``evaluate.threshold``)."""
    tags = verdict_tags(verdict) | {RUN_NAME: run_name, DATA_MD5: data_md5, THRESHOLD: f"{threshold:g}"}
    if commit:
        tags[COMMIT] = commit
    if os.environ.get("DVC_EXP_NAME"):
        tags[EXPERIMENT] = os.environ["DVC_EXP_NAME"]
    return tags


def register(model_uri: str, name: str, tags: dict[str, str]) -> str:
    """Register the logged model ``model_uri`` as a new version of ``name``, tagged; return the version.

    Concurrent registrations (``dvc queue start -j 2``) each get their own version: MLflow retries a
    version number another writer took.
    """
    version = mlflow.register_model(model_uri, name, tags=tags)
    return str(version.version)


def tag_commit(client: MlflowClient, run_ids: set[str], commit: str) -> int:
    """Give the model versions of ``run_ids`` their experiment's own commit (``igfake mlflow sync``)."""
    tagged = 0
    for run_id in run_ids:
        for version in client.search_model_versions(f"run_id = '{run_id}'"):
            store.retrying(client.set_model_version_tag)(version.name, version.version, COMMIT, commit)
            tagged += 1
    return tagged


def champion(client: MlflowClient, name: str) -> str | None:
    """The version the alias ``champion`` points at, if any."""
    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


def promote(client: MlflowClient, name: str, version: str, what: str) -> dict[str, str]:
    """Move ``champion`` to ``name`` version ``version`` if the gate blessed it; else raise
    :class:`GateError` in one line naming the failed rule (``what`` names the run for the message)."""
    try:
        found = client.get_model_version(name, version)
    except MlflowException:
        raise InputError(f"{what}: model version {name}/{version} is not in the registry at "
                         f"{mlflow.get_registry_uri()} (another store? see MLFLOW_TRACKING_URI)") from None
    tags = found.tags or {}
    before = champion(client, name)
    stays = f"champion stays at version {before}" if before else "no champion yet"
    if tags.get(VERDICT) != BLESSED:
        raise GateError(f"{what}: {name} version {version} is {tags.get(VERDICT, 'without a verdict')} "
                        f"({tags.get(WHY, 'no verdict recorded')}); not promoted, {stays}")
    store.retrying(client.set_registered_model_alias)(name, CHAMPION, version)
    return {"name": name, "version": version, "previous": before or "", "uri": f"models:/{name}@{CHAMPION}"}


def describe(client: MlflowClient, uri: str) -> str:
    """Which version ``models:/name@alias`` or ``models:/name/version`` is, and its verdict, in a few words."""
    name, _, rest = uri.removeprefix("models:/").partition("/")
    try:
        if "@" in name:
            name, alias = name.split("@", 1)
            found = client.get_model_version_by_alias(name, alias)
        else:
            found = client.get_model_version(name, rest)
    except MlflowException:
        return uri
    return f"{uri}: {found.name} version {found.version} ({(found.tags or {}).get(VERDICT, 'no verdict')})"


def download(uri: str, into: Path) -> tuple[Path, Path]:
    """(the TFLite file, the decision file) of the registered model ``uri`` (``models:/name@alias``,
    ``models:/name/version``), downloaded into ``into``."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # a one-line tool's stderr stays short
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(into)))
    except MlflowException as exc:
        raise InputError(f"--model {uri}: not found in the registry at {mlflow.get_registry_uri()} "
                         f"({str(exc).splitlines()[0]})") from None
    from mlflow.models import Model

    artifacts = Model.load(str(local)).flavors.get("python_function", {}).get("artifacts", {})
    try:
        return local / artifacts[TFLITE_ARTIFACT]["path"], local / artifacts[DECISION_ARTIFACT]["path"]
    except (KeyError, TypeError):
        raise InputError(f"--model {uri}: not an igfake model (no {TFLITE_ARTIFACT!r} and {DECISION_ARTIFACT!r} "
                         "artifacts)") from None
