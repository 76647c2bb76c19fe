"""Calibration (``train.calibration``): fitted on validation rows only, built into the shipped model so that
Keras and LiteRT output calibrated probabilities, and reported against the uncalibrated model on test rows."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pyarrow as pa
import pytest
from scipy.special import expit

from pipeline.core.errors import InputError, ParamsError
from pipeline.evaluation import evaluate, intervals, metrics
from pipeline.reporting import report
from pipeline.serving import export, litert
from pipeline.training import calibration, study
from pipeline.training import model as M
from tests.conftest import repo_params
from tests.e2e.test_bad_input import workspace  # noqa: F401  (the fixture: a fresh project, paths pointed at it)


def overconfident(n: int, scale: float, shift: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from sigmoid(t), and a model's logit z = scale * t + shift: the calibration that undoes it
    is sigmoid((z - shift) / scale)."""
    rng = np.random.default_rng(seed)
    t = rng.normal(0, 2, n)
    y = (rng.random(n) < expit(t)).astype(int)
    return y, scale * t + shift


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def test_temperature_and_platt_undo_a_known_miscalibration():
    y, z = overconfident(20_000, scale=3.0)
    t = calibration.fit("temperature", y, z)
    assert t.shift == 0.0 and t.temperature == pytest.approx(3.0, rel=0.05)
    assert metrics.expected_calibration_error(y, t.apply(z), 10) < 0.02 < metrics.expected_calibration_error(
        y, expit(z), 10)

    y, z = overconfident(20_000, scale=2.0, shift=1.0, seed=1)
    p = calibration.fit("platt", y, z)
    assert p.scale == pytest.approx(0.5, rel=0.05) and p.shift == pytest.approx(-0.5, abs=0.06)
    assert calibration.fit("none", y, z) == calibration.IDENTITY


def test_the_fit_is_the_log_loss_minimum_on_the_rows_it_was_given():
    y, z = overconfident(150, scale=1.7, shift=0.4, seed=2)
    for method in ("temperature", "platt"):
        c = calibration.fit(method, y, z)
        best = log_loss(y, c.apply(z))
        steps = [(d, 0.0) for d in (-1e-3, 1e-3)] + ([(0.0, d) for d in (-1e-3, 1e-3)] if method == "platt" else [])
        for da, db in steps:
            nudged = dataclasses.replace(c, scale=c.scale + da, shift=c.shift + db)
            assert log_loss(y, nudged.apply(z)) >= best - 1e-12, (method, da, db)


@pytest.mark.parametrize("method", ["temperature", "platt"])
def test_the_fit_is_the_maximum_likelihood_scipy_finds_on_its_own(method):
    """An oracle that shares no code with the fit (which is scikit-learn's logistic regression): SciPy's
    BFGS on the Bernoulli log-likelihood of sigmoid(scale * z + shift), with its exact gradient."""
    from scipy.optimize import minimize

    y, z = overconfident(300, scale=2.2, shift=0.7, seed=12)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        scale, shift = theta[0], theta[1] if method == "platt" else 0.0
        eta = scale * z + shift
        value = float(np.sum(np.logaddexp(0, eta) - y * eta))
        residual = expit(eta) - y
        gradient = np.array([np.sum(residual * z), np.sum(residual)])
        return value, gradient if method == "platt" else gradient[:1]

    start = np.array([1.0, 0.0]) if method == "platt" else np.array([1.0])
    oracle = minimize(loss, start, jac=True, method="BFGS", options={"gtol": 1e-10})
    assert np.max(np.abs(oracle.jac)) < 1e-6  # at the optimum (BFGS may stop at precision loss there)
    fitted = calibration.fit(method, y, z)
    assert fitted.scale == pytest.approx(oracle.x[0], rel=1e-5)
    assert fitted.shift == (pytest.approx(oracle.x[1], abs=1e-5) if method == "platt" else 0.0)
    # And the truth it was drawn from (sigmoid(t), z = 2.2 t + 0.7) is near, at 300 rows.
    assert fitted.scale == pytest.approx(1 / 2.2, rel=0.3)


def test_ensemble_logit_is_exact_for_one_member_and_finite_for_a_confident_ensemble():
    logits = np.array([[1.0, -2.0, 0.3], [2.0, -0.5, -0.3]])
    z = calibration.ensemble_logit(logits)
    np.testing.assert_allclose(expit(z), expit(logits).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(calibration.ensemble_logit(logits[:1]), logits[0], rtol=1e-12)
    confident = np.array([[40.0, -45.0], [50.0, -60.0]])  # 1 - p underflows in float64
    z = calibration.ensemble_logit(confident)
    assert np.all(np.isfinite(z))
    # Where p is 1 to every digit, log p - log q is -log q = -log(mean(exp(-logit))).
    np.testing.assert_allclose(z[0], -np.log(np.mean(np.exp(-confident[:, 0]))), rtol=1e-12)
    np.testing.assert_allclose(z[1], np.log(np.mean(np.exp(confident[:, 1]))), rtol=1e-12)


@pytest.mark.parametrize(("y", "z", "message"), [
    (np.ones(20, int), np.linspace(-1, 1, 20), "needs validation rows of both classes"),
    (np.r_[np.zeros(10, int), np.ones(10, int)], np.linspace(-1, 1, 20), "separates the 20 validation rows"),
    (np.r_[np.ones(10, int), np.zeros(10, int)], np.linspace(-1, 1, 20) + np.r_[[0.0] * 9, 5.0, [0.0] * 10],
     "runs against the labels"),
])
def test_a_calibration_that_cannot_be_fitted_is_refused_by_name(y, z, message):
    with pytest.raises(InputError, match=r"^train\.calibration: ") as e:
        calibration.fit("platt", y, z)
    assert message in str(e.value)


def test_params_refuse_a_calibration_without_validation_rows():
    train = repo_params().train
    with pytest.raises(ParamsError, match=re.escape("train.calibration: temperature is fitted on validation rows, "
                                                    "but train.presets.article.validation_size is 0")):
        dataclasses.replace(train, preset="article", calibration="temperature")
    assert dataclasses.replace(train, preset="article", calibration="none").calibration == "none"


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(3)
    raw = np.column_stack([rng.lognormal(5, 2, 400), rng.lognormal(4, 2, 400), rng.normal(size=400)]).astype(np.float32)
    y = (np.log1p(raw[:, 0]) - np.log1p(raw[:, 1]) + rng.normal(0, 1, 400) > 0).astype(np.float32)
    pre = M.fit_preprocessing(raw, log_columns=[0, 1], standardise=True)
    # A high rate for many epochs: members whose logits reach +-20 on these rows.
    members = M.train_members(pre.apply(raw), y, [0, 1, 2], M.FitConfig(16, 60, 32, 0.05, 0, "none"))
    return raw, y, pre, members


def test_calibrated_shipped_model_outputs_the_calibrated_ensemble_in_keras_and_litert(trained, tmp_path):
    raw, y, pre, members = trained
    z = calibration.ensemble_logit(M.member_logits(members, pre.apply(raw)))
    fitted = calibration.fit("platt", y, z)
    model = M.shipped_model(members, pre, fitted)
    keras_probs = np.asarray(model(raw))[:, 0]
    np.testing.assert_allclose(keras_probs, fitted.apply(z), atol=1e-6)
    # Not the uncalibrated mean: the calibration is really inside.
    assert np.abs(keras_probs - M.shipped_model(members, pre)(raw)[:, 0]).max() > 1e-3
    M.save_model(model, tmp_path / "m.keras")
    np.testing.assert_array_equal(np.asarray(M.load_model(tmp_path / "m.keras")(raw)), np.asarray(model(raw)))


def test_a_high_temperature_keeps_keras_and_litert_exact_on_confident_rows(trained):
    raw, _, pre, members = trained
    # An overconfident ensemble's temperature: it turns P(fake) = 1e-6 into about 0.03, so the model must
    # know P(fake) to many digits. Computed as 1 - P(authentic) in float32, it is off by 1.5e-2 here and
    # Keras and LiteRT disagree by as much; averaged from the members' own sigmoids, by under 1e-6.
    hot = calibration.Calibration("temperature", 0.25, 0.0)
    rows = np.vstack([raw * np.float32(f) for f in (1, 2, 4, 8, 16)] + [raw[:, ::-1].copy()])
    z = calibration.ensemble_logit(M.member_logits(members, pre.apply(rows)))
    assert np.abs(z).max() > 15  # rows where P(authentic) or P(fake) is below float32's resolution
    model = M.shipped_model(members, pre, hot)
    np.testing.assert_allclose(np.asarray(model(rows))[:, 0], hot.apply(z), atol=2e-6)
    flatbuffer = export.to_tflite(model)
    check = export.agreement(model, flatbuffer, rows, tolerance=1e-5)
    assert check["agrees"] and not check["any_nan"], check
    np.testing.assert_allclose(litert.run(flatbuffer, rows), hot.apply(z), atol=2e-6)


def _split_fit(trained, valid: np.ndarray, test: np.ndarray) -> study.SplitFit:
    raw, y, pre, members = trained
    logits = M.member_logits(members, pre.apply(raw))
    rows = np.arange(len(y))
    split = study.Split("holdout", np.setdiff1d(rows, np.r_[valid, test]), valid, test)
    return study.SplitFit(split, pre, members, logits, M.sigmoid(logits), None, 0.0, 0.0)


def test_study_fits_the_calibration_on_validation_rows_only(trained):
    y = trained[1]
    rows = np.random.default_rng(4).permutation(len(y))
    fit = _split_fit(trained, np.sort(rows[:100]), np.sort(rows[100:200]))
    params = dataclasses.replace(repo_params().train, calibration="temperature")
    logit, fitted, shipped = study.calibrate(y, fit, params)
    # Which rows reach the fit (the fit's value is checked against SciPy above): the validation rows alone.
    assert fitted == calibration.fit("temperature", y[fit.split.valid], logit[fit.split.valid])
    np.testing.assert_allclose(shipped, fitted.apply(logit), atol=1e-7)
    flipped = y.copy()
    flipped[fit.split.test] = 1 - flipped[fit.split.test]
    assert study.calibrate(flipped, fit, params)[1] == fitted  # test labels never reach the fit
    flipped = y.copy()
    flipped[fit.split.valid[:30]] = 1 - flipped[fit.split.valid[:30]]
    assert study.calibrate(flipped, fit, params)[1] != fitted

    # none: exactly the members' float32 mean, as the uncalibrated model computes it; seed: member 0.
    _, identity, plain = study.calibrate(y, fit, dataclasses.replace(params, calibration="none"))
    assert identity.is_identity and np.array_equal(plain, fit.probs.mean(axis=0))
    seed_logit, _, seed_probs = study.calibrate(y, fit, dataclasses.replace(params, calibration="none", ship="seed"))
    np.testing.assert_allclose(seed_logit, fit.logits[0], rtol=1e-6)
    assert np.array_equal(seed_probs, fit.probs[0])


def test_evaluate_shows_whether_a_calibration_would_help_on_test_rows():
    y_valid, z_valid = overconfident(400, scale=3.0, seed=5)
    y_test, z_test = overconfident(400, scale=3.0, seed=6)
    rows = metrics.bootstrap_rows(len(y_test), 300, 0)
    out = evaluate.calibration_options(y_valid, z_valid, y_test, z_test, calibration.IDENTITY.to_dict(),
                                         expit(z_test), 10, rows)
    assert out["shipped"] == "none" and out["valid_rows"] == 400 and list(out["options"]) == list(calibration.METHODS)
    t = out["options"]["temperature"]
    assert t["temperature"] == calibration.fit("temperature", y_valid, z_valid).temperature
    assert t["log_loss_change"]["verdict"] == "better" and t["log_loss_change"]["ci95"][1] < 0
    assert t["log_loss"]["value"] == pytest.approx(log_loss(y_test, calibration.fit(
        "temperature", y_valid, z_valid).apply(z_test)), rel=1e-9)
    sentence = report.calibration_sentence(out)
    assert "not recalibrated" in sentence and "consider train.calibration: temperature" in sentence

    # A calibrated model: no calibration helps, and the report says the probabilities ship as they are.
    y_test, z_test = overconfident(400, scale=1.0, seed=7)
    y_valid, z_valid = overconfident(400, scale=1.0, seed=8)
    out = evaluate.calibration_options(y_valid, z_valid, y_test, z_test, calibration.IDENTITY.to_dict(),
                                         expit(z_test), 10, rows)
    assert {o["log_loss_change"]["verdict"] for m, o in out["options"].items() if m != "none"} == {
        intervals.NO_DIFFERENCE}
    assert "No calibration lowers it significantly" in report.calibration_sentence(out)


def test_evaluate_reports_the_shipped_calibration_from_what_the_model_outputs():
    y_valid, z_valid = overconfident(300, scale=2.5, seed=9)
    y_test, z_test = overconfident(300, scale=2.5, seed=10)
    shipped = calibration.fit("temperature", y_valid, z_valid)
    outputs = np.float32(shipped.apply(z_test))  # what the model outputs, in float32
    rows = metrics.bootstrap_rows(len(y_test), 200, 0)
    out = evaluate.calibration_options(y_valid, z_valid, y_test, z_test, shipped.to_dict(), outputs, 10, rows)
    assert out["shipped"] == "temperature"
    assert out["options"]["temperature"]["brier"]["value"] == pytest.approx(
        float(np.mean((outputs.astype(np.float64) - y_test) ** 2)), rel=1e-12)
    sentence = report.calibration_sentence(out)
    assert sentence.startswith("The shipped model is calibrated by temperature scaling (T = ")
    assert f"{shipped.temperature:.3f}" in sentence


def test_separable_validation_rows_are_reported_not_fitted():
    y = np.r_[np.zeros(20, int), np.ones(20, int)]
    z = np.linspace(-3, 3, 40)
    out = evaluate.calibration_options(y, z, y, z, calibration.IDENTITY.to_dict(), expit(z), 10,
                                         metrics.bootstrap_rows(40, 50, 0))
    assert "separates the 40 validation rows" in out["options"]["platt"]["error"]
    assert "log_loss" in out["options"]["none"]


def test_a_calibrated_pipeline_ships_calibrated_probabilities_to_litert(workspace, capsys):  # noqa: F811
    """crawl -> ... -> export-tflite with ``train.calibration: temperature``: the model, its predictions, the
    evaluation and the TFLite file all carry the calibration fitted on the validation rows."""
    import pyarrow.parquet as pq
    import yaml

    from pipeline import features
    from pipeline.core import paths
    from pipeline.training import predictions
    from tests.e2e.test_bad_input import run_stage

    params = yaml.safe_load((workspace / "params.yaml").read_text())
    params["simulator"].update(accounts_per_seed=300, annotator_mistake_rate=0.2)  # errors to calibrate on
    params["train"].update(seeds=3, calibration="temperature")
    params["train"]["split"]["repeats"] = 0
    # No k-fold splits: the gate does not judge this run, and says so; nothing stops.
    (workspace / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for stage in ("crawl", "label_import", "featurize", "train", "evaluate", "export_tflite"):
        status, lines = run_stage(stage, capsys)
        assert status == 0, (stage, lines)
    assert json.loads(paths.GATE.read_text())["judged"] is False

    table = pq.read_table(paths.PREDICTIONS)
    recorded = predictions.calibration(table.schema)
    rows = table.to_pandas()
    valid = rows[rows["split"] == "valid"]
    fitted = calibration.fit("temperature", valid["label"].to_numpy(), valid["logit"].to_numpy())
    assert recorded == fitted.to_dict() | {"fitted_on": "valid", "valid_rows": len(valid)}
    np.testing.assert_allclose(rows["prob"], fitted.apply(rows["logit"]), atol=1e-6)

    evaluation_report = json.loads(paths.EVALUATION.read_text())
    assert evaluation_report["calibration"]["shipped"] == "temperature"
    assert evaluation_report["calibration"]["options"]["temperature"]["scale"] == fitted.scale
    assert "calibrated by temperature scaling" in paths.REPORT_HTML.read_text()
    assert json.loads(paths.EXPORT_REPORT.read_text())["agrees"]

    # What the phone computes: the TFLite file on the raw features gives the calibrated probabilities.
    feature_table = pq.read_table(paths.FEATURES).to_pandas().set_index("pk").loc[rows["pk"]]
    x = features.to_matrix(pa.Table.from_pandas(feature_table.reset_index()), params["featurize"]["feature_set"])
    np.testing.assert_allclose(litert.run(paths.TFLITE_MODEL.read_bytes(), x), rows["prob"], atol=1e-5)


def test_cross_validated_probabilities_are_what_the_shipped_model_would_say(trained):
    """The audit corrects for the shipped model's errors, measured on prob_cv: so prob_cv must come from
    what ships (member 0 alone under ship: seed) with the shipped calibration applied."""
    y = trained[1]
    rows = np.arange(len(y))
    folds = [dataclasses.replace(_split_fit(trained, rows[:0], rows[k::2]),
                                 split=study.Split(f"r0f{k}", rows[1 - k::2], rows[:0], rows[k::2])) for k in (0, 1)]
    plain = study.out_of_fold(folds, len(y))
    np.testing.assert_array_equal(plain, folds[0].probs.mean(axis=0))  # fold 0 and 1 share the scoring models
    hot = calibration.Calibration("platt", 0.5, 1.0)
    calibrated = study.out_of_fold(folds, len(y), "ensemble", hot)
    np.testing.assert_allclose(calibrated, hot.apply(calibration.ensemble_logit(folds[0].logits)), atol=1e-6)
    np.testing.assert_array_equal(study.out_of_fold(folds, len(y), "seed"), folds[0].probs[0])
