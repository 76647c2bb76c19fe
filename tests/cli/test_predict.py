import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline import cli, features
from pipeline.instagram.world import World
from pipeline.serving import decision, export, litert
from pipeline.training import model as M

REPO = Path(__file__).resolve().parents[2]


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
    shipped = M.shipped_model(members, pre)
    path.write_bytes(export.to_tflite(shipped))
    write_decision(path.parent, 0.5)
    # What the model says in Keras, the runtime it was trained in: the oracle for what predict prints.
    np.save(path.parent / "keras.npy", np.asarray(shipped(x, training=False)).reshape(-1))
    return path


def write_decision(folder: Path, threshold: float) -> Path:
    """A decision.json as evaluate writes it, beside a model."""
    chosen = decision.Decision(threshold, "balanced_accuracy", "valid", dict.fromkeys(decision.COUNTS, 10), "test")
    path = folder / decision.FILE
    path.write_text(json.dumps(decision.write_dict(chosen, {"valid_rows": 40})))
    return path


def test_predict_scores_records_with_the_training_features_and_the_tflite_model(tmp_path, users, tflite, capsys):
    records = tmp_path / "profiles.jsonl"
    records.write_text("".join(json.dumps(u) + "\n" for u in users))
    assert cli.main(["predict", str(records), "--model", str(tflite)]) == 0
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["pk"] for r in rows] == [u["pk"] for u in users]
    # The oracle is the Keras model the file was exported from, not the LiteRT path predict itself takes.
    expected = np.load(tflite.parent / "keras.npy")
    assert len(expected) == len(users) and 0 < np.mean(expected >= 0.5) < 1
    np.testing.assert_allclose([r["p_authentic"] for r in rows], expected, atol=1e-5)
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


# -- input shapes ------------------------------------------------------------------------------------


def _rows(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


@pytest.mark.parametrize("shape", ["stdin", "one", "api", "keyed", "array"])
def test_predict_accepts_every_shape_a_user_has_and_says_which(shape, tmp_path, users, tflite, capsys,
                                                               monkeypatch):
    import io

    chosen = users[:3]
    text, expect_shape = {
        "stdin": ("".join(json.dumps(u) + "\n" for u in chosen), "JSON Lines"),
        "one": (json.dumps(chosen[0], indent=2), "one user-info record"),
        "api": (json.dumps({"user": chosen[0], "status": "ok"}), "API answer"),
        "keyed": (json.dumps({str(u["pk"]): {k: v for k, v in u.items() if k != "pk"} for u in chosen}),
                  "keyed by pk"),
        "array": (json.dumps([{"user": u} for u in chosen]), "JSON array"),
    }[shape]
    if shape == "stdin":
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
        source = "-"
    else:
        source = str(tmp_path / "in.json")
        (tmp_path / "in.json").write_text(text)
    assert cli.main(["predict", source, "--model", str(tflite)]) == 0
    out, err = capsys.readouterr()
    expected = chosen if shape not in ("one", "api") else chosen[:1]
    rows = _rows(out)
    assert [r["pk"] for r in rows] == [u["pk"] for u in expected]
    probs = litert.run(tflite.read_bytes(), features.to_matrix(features.compute(expected)))
    np.testing.assert_allclose([r["p_authentic"] for r in rows], probs, atol=1e-6)
    assert expect_shape in err


def test_predict_writes_csv_and_decides_at_the_threshold_the_model_ships_with(tmp_path, users, tflite, capsys):
    """The threshold is the one evaluate chose, in decision.json beside the model (not a params.yaml value);
    --threshold overrides it."""
    import csv
    import shutil

    records = tmp_path / "profiles.jsonl"
    records.write_text("".join(json.dumps(u) + "\n" for u in users))
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    shutil.copy(tflite, shipped / "model.tflite")
    write_decision(shipped, 0.9)
    out_file = tmp_path / "out.csv"
    assert cli.main(["predict", str(records), "--model", str(shipped / "model.tflite"),
                     "--format", "csv", "-o", str(out_file)]) == 0
    out, err = capsys.readouterr()
    assert out == "" and "(threshold 0.9)" in err
    rows = list(csv.DictReader(out_file.open()))
    probs = litert.run(tflite.read_bytes(), features.to_matrix(features.compute(users)))
    assert [int(r["pk"]) for r in rows] == [u["pk"] for u in users]
    assert [r["authentic"] == "True" for r in rows] == [bool(p >= 0.9) for p in probs]
    assert any(0.5 <= p < 0.9 for p in probs)  # the threshold decided something
    assert cli.main(["predict", str(records), "--model", str(shipped / "model.tflite"), "--threshold", "0.5"]) == 0
    assert [r["authentic"] for r in _rows(capsys.readouterr().out)] == [bool(p >= 0.5) for p in probs]


def test_predict_without_a_decision_says_where_the_threshold_comes_from(tmp_path, users, tflite, capsys):
    import shutil

    records = _write(tmp_path / "p.jsonl", (json.dumps(users[0]) + "\n").encode())
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(tflite, alone / "model.tflite")
    assert cli.main(["predict", str(records), "--model", str(alone / "model.tflite")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"igfake predict: error: {alone / 'decision.json'}: not found: no decision threshold (run `dvc repro`, "
        "which writes it in evaluate, or pass --threshold)")
    (alone / "decision.json").write_text(json.dumps({"threshold": 1.5}))
    assert cli.main(["predict", str(records), "--model", str(alone / "model.tflite")]) == 2
    assert capsys.readouterr().err.strip().endswith(
        "decision.json: threshold: expected a number strictly between 0 and 1, got 1.5")
    assert cli.main(["predict", str(records), "--model", str(alone / "model.tflite"), "--threshold", "0.5"]) == 0


@pytest.mark.parametrize("argv, message", [
    (["--threshold", "7"], "--threshold: expected a number strictly between 0 and 1, got 7.0"),
    (["--threshold", "nan"], "--threshold: expected a number strictly between 0 and 1, got nan"),
])
def test_predict_rejects_a_threshold_outside_0_1(argv, message, tmp_path, users, tflite, capsys):
    records = tmp_path / "p.jsonl"
    records.write_text(json.dumps(users[0]) + "\n")
    assert cli.main(["predict", str(records), "--model", str(tflite), *argv]) == 2
    assert capsys.readouterr().err.strip() == f"igfake predict: error: {message}"


BAD_INPUTS = {
    "directory": (lambda d, u: d, "is a directory"),
    "missing": (lambda d, u: d / "someusername", "no such file"),
    "not utf-8": (lambda d, u: _write(d / "x.jsonl", b"\xff\xfe\x00garbage"), "not UTF-8 text"),
    "empty": (lambda d, u: _write(d / "x.jsonl", b"\n\n"), "no profiles"),
    "huge count": (lambda d, u: _write(d / "x.jsonl", json.dumps(dict(u, follower_count=10**30)).encode()),
                   "follower_count: expected an integer from 0 to 2**63 - 1, got a 100-bit integer"),
    "NaN": (lambda d, u: _write(d / "x.jsonl", json.dumps(u).replace(
        f'"media_count": {u["media_count"]}', '"media_count": NaN').encode()),
        "not valid JSON (NaN is not a number JSON allows)"),
    "not JSON": (lambda d, u: _write(d / "x.jsonl", b"pk,username\n1,a\n"), ":1: not valid JSON"),
}


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gets_one_line_and_exit_2(case, tmp_path, users, tflite, capsys):
    make, message = BAD_INPUTS[case]
    source = make(tmp_path, users[0])
    assert cli.main(["predict", str(source), "--model", str(tflite)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("igfake predict: error: ")
    assert message in err


TOO_DEEP = "JSON nested too deeply to parse; expected user-info records (objects a few levels deep)"
# (file name, content from a good record, the line after "igfake predict: error: <dir>/") for inputs Python's
# JSON parser gives up on (it recurses once per level) and files that are fine but nested oddly.
DEEP_INPUTS = {
    "array": ("deep.json", lambda u: "[" * 100_000, f"deep.json: {TOO_DEEP}"),
    "object": ("deep.json", lambda u: '{"user": ' * 100_000, f"deep.json: {TOO_DEEP}"),
    "pretty-printed": ("deep.json", lambda u: "[\n" * 100_000, f"deep.json: {TOO_DEEP}"),
    "JSON Lines, line 2": ("deep.jsonl", lambda u: json.dumps(u) + "\n" + "[" * 5000 + "]" * 5000 + "\n",
                           f"deep.jsonl:2: {TOO_DEEP}"),
}


@pytest.mark.parametrize("case", list(DEEP_INPUTS))
def test_deeply_nested_json_gets_one_line_and_exit_2(case, tmp_path, users, tflite, capsys):
    name, content, message = DEEP_INPUTS[case]
    source = _write(tmp_path / name, content(users[0]).encode())
    assert cli.main(["predict", str(source), "--model", str(tflite)]) == 2
    assert capsys.readouterr() == ("", f"igfake predict: error: {tmp_path}/{message}\n")


# --output: what it names (made in tmp_path), and the line after "igfake predict: error: --output <tmp_path>/".
BAD_OUTPUTS = {
    "a directory": (lambda d: d.joinpath("out").mkdir(), "out", "out: is a directory; name the file to write the "
                                                                "predictions to"),
    "under a file": (lambda d: d.joinpath("out").write_text("x"), "out/p.jsonl", "out/p.jsonl: {d}/out is a file, "
                                                                                "not a directory"),
    "deep under a file": (lambda d: d.joinpath("out").write_text("x"), "out/a/p.jsonl",
                          "out/a/p.jsonl: {d}/out is a file, not a directory"),
}


@pytest.mark.parametrize("case", list(BAD_OUTPUTS))
def test_an_output_that_cannot_be_a_file_gets_one_line_and_exit_2(case, tmp_path, users, tflite, capsys):
    make, output, message = BAD_OUTPUTS[case]
    make(tmp_path)
    records = _write(tmp_path / "p.jsonl", (json.dumps(users[0]) + "\n").encode())
    assert cli.main(["predict", str(records), "--model", str(tflite), "--output", str(tmp_path / output)]) == 2
    assert capsys.readouterr() == ("", f"igfake predict: error: --output {tmp_path}/{message.format(d=tmp_path)}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "p.jsonl"]  # nothing half-written beside it


@pytest.mark.parametrize("model", ["corrupt", "directory"])
def test_a_bad_model_gets_one_line_and_exit_2(model, tmp_path, users, capsys):
    records = _write(tmp_path / "p.jsonl", (json.dumps(users[0]) + "\n").encode())
    path = _write(tmp_path / "m.tflite", b"TFL3 not really a model") if model == "corrupt" else tmp_path
    assert cli.main(["predict", str(records), "--model", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert ("not a usable TFLite model" if model == "corrupt" else "no model (a directory)") in err


def test_predict_never_imports_tensorflow(tmp_path, users, tflite):
    records = _write(tmp_path / "p.jsonl", "".join(json.dumps(u) + "\n" for u in users[:5]).encode())
    code = ("import sys; from pipeline.cli import main; "
            f"status = main(['predict', {str(records)!r}, '--model', {str(tflite)!r}]); "
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras')); "
            "assert status == 0 and not heavy, (status, heavy[:5])")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 5


def test_bare_igfake_prints_help_and_version_is_known(capsys):
    import pipeline

    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert "predict" in out and "simulator" in out and "usage: igfake" in out
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"igfake {pipeline.__version__}"
