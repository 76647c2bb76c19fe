"""MLflow, set up the same way for every stage and every kind of run.

The store is ``sqlite:///<repo root>/mlflow.db`` (MLflow 3 refuses the file store) and artifacts go
to ``<repo root>/mlruns``, both absolute and both resolved from the parent repository, so runs made by
``dvc exp run --queue`` in ``.dvc/tmp/exps/...`` land beside workspace runs instead of being deleted
with the temporary workspace. ``MLFLOW_TRACKING_URI`` overrides the store.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types import ColSpec, Schema, TensorSpec

from pipeline import tracking
from pipeline.core import git, paths
from pipeline.core.params import TrainParams
from pipeline.core.vocabulary import HOLDOUT, SHIPPED
from pipeline.evaluation import gate, intervals, metrics
from pipeline.evaluation.metric_registry import CALIBRATION_METRICS, SPLIT_METRICS
from pipeline.serving import decision as decision_lib
from pipeline.serving import litert
from pipeline.tracking import registry, store

# MLflow 3's UI opens an experiment without this tag on its GenAI overview; this one is model training.
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
# Which host and process a run belongs to, so that a later run can close it as KILLED once that is gone.
OWNER_HOST, OWNER_PID = "igfake.host", "igfake.pid"
# The MLflow UI the logged link points at (`igfake mlflow ui`).
UI_ADDRESS = f"http://{tracking.UI_HOST}:{tracking.UI_PORT}"
# The runs table a link opens: the UI reads a saved view from the experiment tag
# ``mlflow.sharedViewState.<key>`` (what its own "Share" button writes; plain JSON is accepted) when the
# link says ``viewStateShareKey=<key>`` and sets no search facet of its own. Without it the table shows no
# metric column at all and sorts by start time.
VIEW_KEY = "igfake-headline"
STUDY = "study"  # igfake.kind of a pipeline run's parent run
# The parent run's metrics a pipeline run is judged by, as the table's columns.
UI_COLUMNS = ("accuracy", "roc_auc", "seed_accuracy_mean", "seed_accuracy_std", "kfold.mean", "kfold.ci_low",
              "kfold.ci_high", "gate.blessed")


def shared_view() -> dict[str, Any]:
    """The saved view of the runs table: the pipeline runs (parent runs) alone, sorted by accuracy, best
    first, the headline metrics and the verdict as columns (MLflow names a metric column ``metrics.`<key>```).
    Sorted by a metric, MLflow lists nested runs flat, so the view leaves them out: a run's page lists its
    seed runs, and the unfiltered table sorted by start time nests them under it."""
    columns = [f"metrics.`{key}`" for key in UI_COLUMNS] + ["tags.`igfake.gate`"]
    return {"searchFilter": f"tags.`igfake.kind` = '{STUDY}'", "orderByKey": "metrics.`accuracy`",
            "orderByAsc": False, "startTime": "ALL",
            "lifecycleFilter": "Active", "modelVersionFilter": "All Runs", "datasetsFilter": [],
            "selectedColumns": ["attributes.`Run Name`", *columns]}


def tracking_uri(root: Path | None = None) -> str:
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{(root or paths.tracking_root()) / 'mlflow.db'}"


def artifact_location(root: Path | None = None) -> str:
    return ((root or paths.tracking_root()) / "mlruns").resolve().as_uri()


@store.reported()
def setup(experiment: str, root: Path | None = None) -> str:
    """Point MLflow at the project's store and experiment; return the experiment id.

    The store is created, and the experiment looked up or created, under the store's lock
    (:func:`pipeline.tracking.store.prepare`): parallel queued experiments never race through MLflow's
    schema migrations or create the experiment twice.
    """
    uri = tracking_uri(root)
    mlflow.set_tracking_uri(uri)
    found: list[str] = []

    def get_or_create() -> None:
        existing = mlflow.get_experiment_by_name(experiment)
        found.append(existing.experiment_id if existing is not None
                     else mlflow.create_experiment(experiment, artifact_location=artifact_location(root)))

    store.retrying(store.prepare)(uri, get_or_create)
    experiment_id = found[-1]
    mlflow.set_experiment(experiment_id=experiment_id)
    store.retrying(mlflow.set_experiment_tag)(*EXPERIMENT_KIND)
    store.retrying(mlflow.set_experiment_tag)(f"mlflow.sharedViewState.{VIEW_KEY}", json.dumps(shared_view()))
    return experiment_id


def git_commit(cwd: Path | None = None) -> str | None:
    """The commit the run's code comes from: DVC's baseline under ``dvc exp run``, else HEAD.

    An experiment's own commit exists only once DVC has finished it; :func:`sync_experiment_commits`
    (``igfake mlflow sync``) adds it afterwards.
    """
    return os.environ.get("DVC_EXP_BASELINE_REV") or git.output(["rev-parse", "HEAD"], cwd)


def run_tags(stage: str) -> dict[str, str]:
    """Tags every run carries: where its code came from and, under ``dvc exp run``, which experiment."""
    tags = {"igfake.stage": stage,
            # The pipeline, not the temporary copy ``dvc exp run --queue`` runs it in.
            "mlflow.source.name": str(paths.tracking_root() / "dvc.yaml"), "mlflow.source.type": "PROJECT"}
    commit = git_commit()
    if commit:
        tags["mlflow.source.git.commit"] = commit
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc.exp_name"] = os.environ["DVC_EXP_NAME"]
    return tags


def owner_tags() -> dict[str, str]:
    """Which process a run belongs to, so a later run can tell a killed run from one still going."""
    return {OWNER_HOST: socket.gethostname(), OWNER_PID: str(os.getpid())}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def close_killed_runs(experiment_id: str) -> list[str]:
    """Mark KILLED every run of the experiment still RUNNING whose process on this host is gone.

    A train killed while logging (SIGKILL, OOM, a closed terminal) cannot end its runs, which MLflow would
    show as running forever. Runs of processes still alive, of other hosts (a shared store) or without the
    owner tags are left alone. Returns the ids it closed.
    """
    client = mlflow.tracking.MlflowClient()
    host = socket.gethostname()
    closed = []
    for run in client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=10_000):
        tags = run.data.tags
        pid = tags.get(OWNER_PID, "")
        if tags.get(OWNER_HOST) != host or not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        store.retrying(client.set_terminated)(run.info.run_id, status="KILLED")
        closed.append(run.info.run_id)
    return closed


def flat_params(params: TrainParams) -> dict[str, object]:
    """The params that shaped this run, flat: the active recipe, not the presets that were not used."""
    out: dict[str, object] = {k: getattr(params, k) for k in
                              ("seed", "seeds", "epochs", "batch_size", "learning_rate", "hidden_units", "preset",
                               "ship")}
    out |= {f"recipe.{k}": v for k, v in dataclasses.asdict(params.recipe).items()}
    out |= {f"split.{k}": v for k, v in dataclasses.asdict(params.split).items()}
    return out


def flat_metrics(prefix: str, tree: dict) -> dict[str, float]:
    """Nested numbers as MLflow metrics: {"a": {"b": 1}} -> {"prefix.a.b": 1.0}; lists get _0, _1 ..."""
    out: dict[str, float] = {}
    for key, value in tree.items():
        name = f"{prefix}.{key}"
        if isinstance(value, dict):
            out |= flat_metrics(name, value)
        elif isinstance(value, list):
            out |= {f"{name}_{i}": float(v) for i, v in enumerate(value)}
        else:
            out[name] = float(value)
    return out


# What each member and each baseline is logged with: the metrics of the split results.
SEED_METRICS = SPLIT_METRICS


class TFLiteModel(PythonModel):
    """The shipped TFLite model as an MLflow pyfunc: named feature columns in, P(authentic) out, by LiteRT,
    and ``authentic``, the decision at the threshold it ships with (its ``decision`` artifact, the
    ``models/decision.json`` evaluate wrote), so an app that loads ``models:/igfake@champion`` decides as
    ``igfake predict`` does."""

    def load_context(self, context) -> None:
        self.flatbuffer = Path(context.artifacts[registry.TFLITE_ARTIFACT]).read_bytes()
        self.threshold = decision_lib.read(Path(context.artifacts[registry.DECISION_ARTIFACT])).threshold

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        p = litert.run(self.flatbuffer, np.asarray(model_input, dtype=np.float32))
        return pd.DataFrame({"p_authentic": p, "authentic": p >= self.threshold})


@dataclass(frozen=True)
class PipelineRun:
    """One pipeline run as its outputs record it: what the track stage logs to MLflow."""

    params: TrainParams
    threshold: float
    metrics: dict[str, Any]  # reports/metrics.json
    evaluation: dict[str, Any]  # reports/evaluation.json
    variance: dict[str, Any]  # reports/variance.json
    splits: pd.DataFrame  # data/predictions/splits.parquet
    history: pd.DataFrame  # data/predictions/history.parquet
    timing: dict[str, dict[str, float]]  # reports/train_timing.json
    features: pd.DataFrame  # data/features/features.parquet: pk, label, then the features
    feature_names: list[str]
    features_md5: str
    keras_model: Path
    tflite_model: Path
    decision: Path  # models/decision.json: the threshold the TFLite model ships with
    gate: dict[str, Any]  # reports/gate.json: the quality gate's verdict (checked by gate.read)
    registered_model: str  # mlflow.registered_model: the TFLite model becomes a version of it
    artifacts: dict[str, list[Path]]  # artifact folder -> files
    drift: dict[str, Any] | None = None  # reports/drift.json (stage validate); None: not measured


def _ms(unix_seconds: float) -> int:
    return round(unix_seconds * 1000)


def _split_times(run: PipelineRun, split: str) -> tuple[int | None, int | None]:
    t = run.timing.get(split)
    return (None, None) if t is None else (_ms(t["started"]), _ms(t["started"] + t["seconds"]))


def _nested(client: MlflowClient, experiment_id: str, parent_id: str, name: str, tags: dict[str, str],
            params: dict[str, object], metrics: list[Metric], times: tuple[int | None, int | None]) -> str:
    """A finished child run of ``parent_id`` whose start and end are the fit's own, not the logging's."""
    start, end = times
    child = store.retrying(client.create_run)(experiment_id, start_time=start, run_name=name,
                                              tags=tags | {"mlflow.parentRunId": parent_id})
    run_id = child.info.run_id
    # One batch carries the params and the first 1,000 metrics (MLflow's limit a batch), the rest follow.
    for i in range(0, max(len(metrics), 1), 1000):
        store.retrying(client.log_batch)(run_id, metrics=metrics[i : i + 1000],
                                         params=[Param(k, str(v)) for k, v in params.items()] if i == 0 else [])
    store.retrying(client.set_terminated)(run_id, "FINISHED", end_time=end)
    return run_id


def _seed_metrics(row: pd.Series, curves: pd.DataFrame, timestamp: int) -> list[Metric]:
    """A member's test metrics on the hold-out, where it stopped, and its loss curves epoch by epoch."""
    out = [Metric(name, float(row[name]), timestamp, 0) for name in SEED_METRICS]
    if len(curves):
        best = int(curves["best_epoch"].iloc[0])
        out.append(Metric("best_epoch", float(best), timestamp, 0))
        kept = curves[curves["epoch"] == best]
        if len(kept) and np.isfinite(kept["val_loss"].iloc[0]):
            out.append(Metric("best_val_loss", float(kept["val_loss"].iloc[0]), timestamp, 0))
        for epoch, loss, val_loss in curves[["epoch", "loss", "val_loss"]].itertuples(index=False):
            out.append(Metric("loss", float(loss), timestamp, int(epoch)))
            if np.isfinite(val_loss):
                out.append(Metric("val_loss", float(val_loss), timestamp, int(epoch)))
    return out


@store.reported()
def log_pipeline_run(run: PipelineRun, experiment: str, model: str = SHIPPED) -> dict[str, str]:
    """Log one pipeline run: a parent run named after the experiment (params, the shipped model's metrics,
    the variance decomposition, the features as its dataset, the models, and the reports, plots, TFLite
    model, params.yaml and dvc.lock as artifacts), one nested run per seed member of the hold-out (with its
    loss curves) and one per k-fold split, each with the fit's real duration."""
    experiment_id = setup(experiment)
    close_killed_runs(experiment_id)
    client = MlflowClient()
    tags = run_tags("track") | owner_tags() | {"igfake.data_md5": run.features_md5}
    base = flat_params(run.params) | {"threshold": run.threshold}
    starts = [t["started"] for t in run.timing.values()]
    name = run_name()
    parent = store.retrying(client.create_run)(
        experiment_id, start_time=_ms(min(starts)) if starts else None, run_name=name,
        tags=tags | {"igfake.kind": STUDY, "mlflow.note.content": description(run.metrics, run.gate)}
        | registry.verdict_tags(run.gate))  # as its model version carries them
    parent_id = parent.info.run_id
    splits = run.splits[run.splits["model"] == model]
    history = run.history[run.history["model"] == model]
    holdout = splits[splits["split"] == HOLDOUT]
    kfold = splits[splits["split"] != HOLDOUT]
    _log_members(client, experiment_id, parent_id, run, holdout, kfold, history, tags, base)
    _log_baselines(client, experiment_id, parent_id, run, tags, base, model)
    with mlflow.start_run(run_id=parent_id):
        test_rows = int(holdout["test_rows"].iloc[0]) if len(holdout) else 0
        store.retrying(mlflow.log_params)(base | {"test_rows": test_rows, "kfold_splits": kfold["split"].nunique()})
        headline = {k: float(v) for k, v in run.metrics.items() if isinstance(v, int | float)}
        seeds = run.metrics.get("seeds", {})
        store.retrying(mlflow.log_metrics)(
            headline | {f"seed_accuracy_{k}": float(v) for k, v in seeds.items()}
            | flat_metrics("kfold", run.metrics.get("kfold", {}))
            | flat_metrics("variance", run.variance) | calibration_metrics(run.evaluation) | gate_metrics(run.metrics)
            | steadiness_metrics(run.evaluation)
            | flat_metrics("drift", (run.drift or {}).get("headline", {})))
        source = (paths.tracking_root() / os.path.relpath(paths.FEATURES, paths.ROOT)).as_uri()
        dataset = mlflow.data.from_pandas(run.features, source=source, targets="label", name="features",
                                          digest=run.features_md5)
        store.retrying(mlflow.log_input)(dataset, context="training")
        registered = _log_models(run, name)
        log_artifacts(run.artifacts)
    return {"experiment": experiment, "experiment_id": experiment_id, "run_id": parent_id, "run_name": name,
            "ui": ui_url(experiment_id), "model_version": registered}


def gate_metrics(headline: dict[str, Any]) -> dict[str, float]:
    """The gate's verdict as metrics of the parent run (``gate.blessed``, ``gate.judged``: 1 or 0), as the
    headline carries it, so runs can be sorted and filtered by it in the UI."""
    return flat_metrics("gate", headline.get("gate", {}))


def log_artifacts(folders: dict[str, list[Path]]) -> None:
    """Into the active run, every file under its folder, in one call: the files are linked into one staging
    tree (copied where a link cannot be made) and logged with ``mlflow.log_artifacts``, rather than one
    ``log_artifact`` call, and one artifact-repository lookup, per file."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(prefix="igfake-artifacts-") as staging:
        for folder, files in folders.items():
            target = Path(staging) / folder
            target.mkdir(parents=True, exist_ok=True)
            for file in files:
                if file.is_file():
                    try:
                        os.link(file, target / file.name)
                    except OSError:
                        shutil.copy2(file, target / file.name)
        mlflow.log_artifacts(staging)


def calibration_metrics(evaluation: dict[str, Any]) -> dict[str, float]:
    """Each calibration fitted on the validation rows as metrics (``calibration.<method>.<name>``): its
    parameters and its test log loss, Brier score and ECE; the shipped one's method is a param
    (``train.calibration``)."""
    out: dict[str, float] = {}
    for method, option in evaluation.get("calibration", {}).get("options", {}).items():
        if "error" in option:
            continue
        out |= {f"calibration.{method}.{k}": float(option[k]) for k in ("scale", "shift")}
        out |= {f"calibration.{method}.{k}": float(option[k]["value"]) for k in CALIBRATION_METRICS}
    return out


def steadiness_metrics(evaluation: dict[str, Any]) -> dict[str, float]:
    """How far the shipped model moves with its seeds (``seeds_shipped.*``), the hold-out ECE's noise floor
    (``ece_floor.*``) and the shipped recipe on every labelled row out of fold (``cross_validated.*``, absent
    without a k-fold study), so runs can be sorted by what ships rather than by one member."""
    cv = {k: v for k, v in evaluation.get("cross_validated", {}).items() if not isinstance(v, str)}
    return (flat_metrics("seeds_shipped", evaluation.get("seeds_shipped", {}))
            | flat_metrics("ece_floor", evaluation.get("ece_floor", {})) | flat_metrics("cross_validated", cv))


def ui_url(experiment_id: str, address: str = UI_ADDRESS) -> str:
    """The experiment's runs table in the MLflow UI at ``address``, as :func:`shared_view` sets it up. The
    UI's own default is a GenAI overview, and its choice between GenAI and model training is the browser's,
    unless the link says (``workflowType``)."""
    return f"{address}/#/experiments/{experiment_id}/runs?workflowType=machine_learning&viewStateShareKey={VIEW_KEY}"


def description(metrics: dict[str, Any], verdict: dict[str, Any]) -> str:
    """The parent run's one-paragraph description (the runs table's Description column)."""
    seeds, kfold = metrics.get("seeds", {}), metrics.get("kfold")
    parts = [f"accuracy {metrics['accuracy']:.3f} on the hold-out"]
    if seeds:
        parts.append(f"over {seeds['n']} seed members {seeds['mean']:.3f} ± {seeds['std']:.3f} (std)")
    if kfold:
        level = intervals.percent(1 - verdict["alpha"])  # the level of every k-fold interval: compare.alpha's
        parts.append(f"k-fold {kfold['mean']:.3f}, {level} interval [{kfold['ci_low']:.3f}, {kfold['ci_high']:.3f}]")
    parts.append(f"quality gate: {gate.label(verdict)}")
    return "; ".join(parts) + ". Expand the run for its seed, split and baseline runs."


def _log_members(client: MlflowClient, experiment_id: str, parent_id: str, run: PipelineRun, holdout: pd.DataFrame,
                 kfold: pd.DataFrame, history: pd.DataFrame, tags: dict[str, str], base: dict[str, object]) -> None:
    """The nested runs: one per seed member of the hold-out, one per k-fold split."""
    now = _ms(time.time())
    for _, row in holdout.iterrows():
        seed = int(row["member_seed"])
        curves = history[(history["split"] == HOLDOUT) & (history["member_seed"] == seed)].sort_values("epoch")
        _nested(client, experiment_id, parent_id, f"seed-{seed}", tags | {"igfake.kind": "seed"},
                base | {"member_seed": seed, "split_name": HOLDOUT}, _seed_metrics(row, curves, now),
                _split_times(run, HOLDOUT))
    for split_name, rows in kfold.groupby("split", sort=False):
        summary = {f"{m}_{k}": float(v) for m in SEED_METRICS for k, v in metrics.summarize(rows[m]).items()
                   if k != "n" or m == "accuracy"}
        epochs = history[history["split"] == split_name].groupby("member_seed")["best_epoch"].first()
        if len(epochs):
            summary["best_epoch_mean"] = float(epochs.mean())
        _nested(client, experiment_id, parent_id, f"split-{split_name}", tags | {"igfake.kind": "split"},
                base | {"split_name": split_name}, [Metric(k, v, now, 0) for k, v in summary.items()],
                _split_times(run, str(split_name)))


def _log_baselines(client: MlflowClient, experiment_id: str, parent_id: str, run: PipelineRun,
                   tags: dict[str, str], base: dict[str, object], shipped: str) -> None:
    """One nested run per scikit-learn baseline: its hold-out metrics and its own variance decomposition."""
    now = _ms(time.time())
    rows = run.splits[(run.splits["model"] != shipped) & (run.splits["split"] == HOLDOUT)]
    for _, row in rows.iterrows():
        name = str(row["model"])
        values = {m: float(row[m]) for m in SEED_METRICS}
        values |= flat_metrics("variance", run.variance.get("baselines", {}).get(name, {}))
        _nested(client, experiment_id, parent_id, f"baseline-{name}",
                tags | {"igfake.kind": "baseline", "igfake.model": name},
                base | {"model": name, "member_seed": int(row["member_seed"])},
                [Metric(k, v, now, 0) for k, v in values.items()], (None, None))


def _log_models(run: PipelineRun, name: str) -> dict[str, str]:
    """Into the active run: the TFLite model as a pyfunc, registered as a new version of
    ``run.registered_model`` tagged with the gate's verdict (:mod:`pipeline.tracking.registry`), and the
    Keras model it was converted from. Returns the registered version: ``{"name", "version", "uri"}``."""
    example = run.features[run.feature_names].head(3).astype(np.float32).reset_index(drop=True)
    # What the phone runs: the TFLite model through LiteRT, fed named feature columns, with its threshold.
    info = mlflow.pyfunc.log_model(
        name="model", python_model=TFLiteModel(),
        artifacts={registry.TFLITE_ARTIFACT: str(run.tflite_model), registry.DECISION_ARTIFACT: str(run.decision)},
        signature=ModelSignature(inputs=Schema([ColSpec("float", n) for n in run.feature_names]),
                                 outputs=Schema([ColSpec("float", "p_authentic"), ColSpec("boolean", "authentic")])),
        input_example=example,
        pip_requirements=[f"ai-edge-litert=={_version('ai-edge-litert')}", "pandas", "numpy"])
    tags = registry.version_tags(run.gate, git_commit(), name, run.features_md5, run.threshold)
    version = store.retrying(registry.register)(info.model_uri, run.registered_model, tags)
    # TensorFlow only here: `igfake mlflow sync` and killed-run bookkeeping import this module without it.
    from pipeline.training import model as model_lib

    # Keras' flavour takes only tensor signatures: one float32 [N, F] input.
    tensor = TensorSpec(np.dtype(np.float32), (-1, len(run.feature_names)), "features")
    mlflow.keras.log_model(
        model_lib.load_model(run.keras_model), name="keras_model",
        signature=ModelSignature(inputs=Schema([tensor]),
                                 outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, 1), "p_authentic")])),
        # Explicit requirements: inferring them imports and inspects the whole environment (~20x slower).
        pip_requirements=[f"tensorflow=={_version('tensorflow')}", f"keras=={_version('keras')}"],
    )
    return {"name": run.registered_model, "version": version, "uri": f"models:/{run.registered_model}/{version}"}


def run_name() -> str:
    """How the run reads in a list: the DVC experiment's name, else ``branch@short-commit``."""
    if os.environ.get("DVC_EXP_NAME"):
        return os.environ["DVC_EXP_NAME"]
    commit = git_commit() or "uncommitted"
    branch = git.output(["rev-parse", "--abbrev-ref", "HEAD"]) or "detached"
    return f"{branch}@{commit[:7]}"


@store.reported()
def sync_experiment_commits(experiments: list[git.Experiment], experiment: str,
                            logged_run: Callable[[str], str | None]) -> dict[str, int]:
    """Make every DVC experiment findable in MLflow by its name, with its own commit.

    ``experiments`` are the repository's (:func:`pipeline.core.git.experiments`). An experiment's runs get its
    commit, which DVC makes only after the pipeline has run, so no stage can know it. An experiment that
    reproduced nothing new (DVC found every stage unchanged, so ``track`` never ran) gets a parent run
    of its own that copies the params and metrics of the run its results came from, which
    ``logged_run(rev)`` names (the run id in that commit's ``data/tracking/mlflow_run.json``).
    """
    experiment_id = setup(experiment)
    client = MlflowClient()
    counts = {"tagged": 0, "linked": 0}
    for exp in experiments:
        runs = client.search_runs([experiment_id], filter_string=f"tags.`dvc.exp_name` = '{exp.name}'")
        if not runs:
            source_id = logged_run(exp.rev)
            if source_id is None:
                continue
            runs = [_link_run(client, experiment_id, exp.name, source_id)]
            counts["linked"] += 1
        for r in runs:
            for key, value in (("mlflow.source.git.commit", exp.rev), ("dvc.exp_rev", exp.rev),
                               ("dvc.exp_baseline", exp.baseline)):
                store.retrying(client.set_tag)(r.info.run_id, key, value)
            counts["tagged"] += 1
        # The runs' registered model versions get the experiment's commit too.
        registry.tag_commit(client, {r.info.run_id for r in runs}, exp.rev)
    return counts


def _link_run(client: MlflowClient, experiment_id: str, name: str, source_id: str):
    """A parent run for experiment ``name`` whose results are those of run ``source_id``."""
    source = client.get_run(source_id)
    tags = {k: v for k, v in source.data.tags.items() if k.startswith(("igfake.", "mlflow.source."))}
    run = store.retrying(client.create_run)(experiment_id, run_name=name, tags=tags | {
        "dvc.exp_name": name, "igfake.same_results_as": source_id,
        "mlflow.note.content": f"DVC reproduced nothing new for this experiment: its results are those of run "
                               f"{source.info.run_name} ({source_id}), which holds the nested runs and artifacts."})
    now = _ms(time.time())
    store.retrying(client.log_batch)(run.info.run_id, params=[Param(k, v) for k, v in source.data.params.items()],
                     metrics=[Metric(k, v, now, 0) for k, v in source.data.metrics.items()])
    store.retrying(client.set_terminated)(run.info.run_id, "FINISHED")
    return client.get_run(run.info.run_id)


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:  # tensorflow-cpu provides the tensorflow module
        return version(f"{package}-cpu")


