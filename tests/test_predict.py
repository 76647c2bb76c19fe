import json

import numpy as np
import pytest

from pipeline import cli, export, features, litert
from pipeline import model as M
from pipeline.instagram.world import World


@pytest.fixture(scope="module")
def users():
    world = World(seed=3, seed_usernames=("owner.one",), accounts_per_seed=40, mistake_rate=0.0)
    return [p.user for p in world.profiles.values()]


@pytest.fixture(scope="module")
def tflite(tmp_path_factory, users):
    x = features.to_matrix(features.compute(users))
    y = np.array([u["follower_count"] > u["following_count"] for u in users], np.float32)
    pre = M.fit_preprocessing(x, features.heavy_tailed_columns("seed16"), True)
    members = M.train_members(pre.apply(x), y, [0, 1], M.FitConfig(8, 5, 16, 0.01, 0, "none"))
    path = tmp_path_factory.mktemp("model") / "model.tflite"
    path.write_bytes(export.to_tflite(M.shipped_model(members, pre)))
    return path


def test_predict_scores_records_with_the_training_features_and_the_tflite_model(tmp_path, users, tflite, capsys):
    records = tmp_path / "profiles.jsonl"
    records.write_text("".join(json.dumps(u) + "\n" for u in users))
    assert cli.main(["predict", str(records), "--model", str(tflite)]) == 0
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["pk"] for r in rows] == [u["pk"] for u in users]
    expected = litert.run(tflite.read_bytes(), features.to_matrix(features.compute(users)))
    np.testing.assert_allclose([r["p_authentic"] for r in rows], expected, atol=1e-6)
    assert [r["authentic"] for r in rows] == [bool(p >= 0.5) for p in expected]
    assert f"of {len(users)} profiles predicted authentic" in err


def test_predict_names_file_line_and_field_of_a_bad_record(tmp_path, users, tflite, capsys):
    records = tmp_path / "profiles.jsonl"
    bad = dict(users[1], follower_count="many")
    records.write_text(json.dumps(users[0]) + "\n" + json.dumps(bad) + "\n")
    assert cli.main(["predict", str(records), "--model", str(tflite)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"igfake predict: error: {records}:2: record pk={bad['pk']}: follower_count: "
                   f"expected an integer, got 'many'")


def test_predict_without_a_model_says_to_run_the_pipeline(tmp_path, capsys):
    records = tmp_path / "profiles.jsonl"
    records.write_text("")
    assert cli.main(["predict", str(records), "--model", str(tmp_path / "none.tflite")]) == 2
    assert "run `dvc repro` first" in capsys.readouterr().err
