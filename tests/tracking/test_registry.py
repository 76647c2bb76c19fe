"""The Model Registry on a real MLflow SQLite store: track's registration (the production code path, with a
small real TFLite model), promotion that refuses an unblessed version, and `igfake predict` and an app's
pyfunc load of `models:/igfake@champion` deciding at the version's own threshold."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from pipeline import cli, features
from pipeline.core.errors import GateError
from pipeline.core.params import GateParams
from pipeline.evaluation import compare, gate
from pipeline.instagram.world import World
from pipeline.serving import decision, export, litert
from pipeline.tracking import registry, runs
from pipeline.training import model as M
from tests.conftest import repo_params
from tests.evaluation.test_compare import results_table

NAME = "igfake-test"


@pytest.fixture(scope="module")
def users():
    world = World(seed=5, seed_usernames=("owner.one",), accounts_per_seed=40, mistake_rate=0.0)
    return [p.user for p in world.profiles.values()]


@pytest.fixture(scope="module")
def store(tmp_path_factory, users):
    """A store holding two registered versions of one model: 1 blessed (threshold 0.7), 2 not (threshold 0.3)."""
    root = tmp_path_factory.mktemp("registry")
    x = features.to_matrix(features.compute(users))
    y = np.array([u["follower_count"] > u["following_count"] for u in users], np.float32)
    pre = M.fit_preprocessing(x, features.heavy_tailed_columns("seed16"), True)
    members = M.train_members(pre.apply(x), y, [0, 1], M.FitConfig(8, 5, 16, 0.01, 0, "none"))
    shipped = M.shipped_model(members, pre)
    M.save_model(shipped, root / "model.keras")
    (root / "model.tflite").write_bytes(export.to_tflite(shipped))
    current = compare.run_results(results_table(), "w")
    verdicts = {"1": gate.judge(GateParams(True, 0.5, 0.5, False, False), current, None, 0.05),
                "2": gate.judge(GateParams(True, 0.99, 0.5, False, False), current, None, 0.05)}
    thresholds = {"1": 0.7, "2": 0.3}
    uri = f"sqlite:///{root / 'mlflow.db'}"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        experiment_id = runs.setup("registry-test", root)
        logged = {}
        for version in ("1", "2"):
            folder = root / version
            folder.mkdir()
            chosen = decision.Decision(thresholds[version], "fixed", "params.yaml", dict.fromkeys(decision.COUNTS, 5),
                                       "test")
            (folder / "decision.json").write_text(json.dumps(decision.write_dict(chosen, {})))
            run = runs.PipelineRun(
                params=repo_params().train, threshold=thresholds[version], metrics={}, evaluation={}, variance={},
                splits=pd.DataFrame(), history=pd.DataFrame(), timing={},
                features=pd.DataFrame(x, columns=features.feature_names("seed16")),
                feature_names=features.feature_names("seed16"), features_md5="0" * 32,
                keras_model=root / "model.keras", tflite_model=root / "model.tflite", decision=folder / "decision.json",
                gate=verdicts[version], registered_model=NAME, artifacts={})
            with mlflow.start_run(experiment_id=experiment_id, run_name=f"run-{version}") as active:
                logged[version] = runs._log_models(run, f"run-{version}") | {"run_id": active.info.run_id}
        yield {"uri": uri, "root": root, "logged": logged, "verdicts": verdicts, "x": x}
    finally:
        mlflow.set_tracking_uri(previous)


def test_every_run_is_a_version_tagged_with_its_verdict(store):
    client = MlflowClient(store["uri"])
    for version, logged in store["logged"].items():
        assert logged == {"name": NAME, "version": version, "uri": f"models:/{NAME}/{version}",
                          "run_id": logged["run_id"]}
        found = client.get_model_version(NAME, version)
        assert found.run_id == logged["run_id"]
        verdict = store["verdicts"][version]
        assert found.tags[registry.VERDICT] == gate.label(verdict) and found.tags[registry.WHY] == gate.why(verdict)
    assert client.get_model_version(NAME, "2").tags[registry.FAILED] == "min_accuracy"


def test_promote_moves_champion_only_to_a_blessed_version(store):
    client = MlflowClient(store["uri"])
    with pytest.raises(GateError, match=r"^run 2: igfake-test version 2 is not blessed \(min_accuracy: k-fold "
                                        r"accuracy 0\.9\d+, 95% interval .* lower end < 0\.99\); not promoted, no "
                                        r"champion yet$"):
        registry.promote(client, NAME, "2", "run 2")
    assert registry.champion(client, NAME) is None
    moved = registry.promote(client, NAME, "1", "run 1")
    assert moved == {"name": NAME, "version": "1", "previous": "", "uri": f"models:/{NAME}@champion"}
    assert registry.champion(client, NAME) == "1"
    with pytest.raises(GateError, match=r"not promoted, champion stays at version 1$"):
        registry.promote(client, NAME, "2", "run 2")
    assert registry.champion(client, NAME) == "1"


def test_an_app_and_igfake_predict_get_the_champion_deciding_at_its_own_threshold(store, users, tmp_path, capsys,
                                                                                 monkeypatch):
    client = MlflowClient(store["uri"])
    if registry.champion(client, NAME) != "1":
        registry.promote(client, NAME, "1", "run 1")
    probs = litert.run((store["root"] / "model.tflite").read_bytes(), store["x"])
    assert ((probs >= 0.3) != (probs >= 0.7)).any()  # the two thresholds disagree somewhere
    # The pyfunc an app loads: named features in, P(authentic) and the decision at version 1's 0.7 out.
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(store["uri"])
    try:
        served = mlflow.pyfunc.load_model(f"models:/{NAME}@champion").predict(
            pd.DataFrame(store["x"], columns=features.feature_names("seed16")))
    finally:
        mlflow.set_tracking_uri(previous)
    np.testing.assert_allclose(served["p_authentic"], probs, atol=1e-6)
    assert served["authentic"].tolist() == (probs >= 0.7).tolist()
    # igfake predict with a registry URI: each version decides at its own threshold.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
    records = tmp_path / "profiles.jsonl"
    records.write_text("".join(json.dumps(u) + "\n" for u in users))
    for uri, threshold in ((f"models:/{NAME}@champion", 0.7), (f"models:/{NAME}/2", 0.3)):
        assert cli.main(["predict", str(records), "--model", uri]) == 0
        out, err = capsys.readouterr()
        assert [json.loads(line)["authentic"] for line in out.splitlines()] == (probs >= threshold).tolist()
        assert f"(threshold {threshold:g})" in err
    assert err.splitlines()[0] == f"models:/{NAME}/2: {NAME} version 2 (not blessed)"
    assert cli.main(["predict", str(records), "--model", f"models:/{NAME}/9"]) == 2
    assert capsys.readouterr().err.strip().startswith(f"igfake predict: error: --model models:/{NAME}/9: not found "
                                                      "in the registry")


def test_predict_with_a_file_model_never_imports_mlflow(store, tmp_path, users):
    """Only a registry URI pays for MLflow's import; the phone's path (a file) stays light."""
    import shutil
    import subprocess
    import sys

    from tests.conftest import REPO, run_env

    shutil.copy(store["root"] / "model.tflite", tmp_path / "model.tflite")
    shutil.copy(store["root"] / "1" / "decision.json", tmp_path / "decision.json")
    records = tmp_path / "profiles.jsonl"
    records.write_text("".join(json.dumps(u) + "\n" for u in users[:5]))
    code = ("import sys; from pipeline.cli import main; "
            f"status = main(['predict', {str(records)!r}, '--model', {str(tmp_path / 'model.tflite')!r}]); "
            "print(status, any(m.split('.')[0] == 'mlflow' for m in sys.modules), file=sys.stderr)")
    probe = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=run_env(), capture_output=True, text=True)
    assert probe.stderr.strip().splitlines()[-1] == "0 False", probe.stderr
    assert len(probe.stdout.splitlines()) == 5
