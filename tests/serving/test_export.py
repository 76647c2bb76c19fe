import numpy as np

from pipeline.serving import export, litert
from pipeline.training import model as M


def test_tflite_agrees_with_keras_on_raw_count_features_preprocessed_in_the_model():
    rng = np.random.default_rng(1)
    # Raw counts of very different scales, as the article's features are.
    x = np.column_stack([rng.integers(0, 4, 300), rng.lognormal(6, 2, 300), rng.integers(0, 7500, 300)]).astype(
        np.float32)
    y = (x[:, 1] > x[:, 2]).astype(np.float32)
    pre = M.fit_preprocessing(x, log_columns=[1, 2], standardise=True)
    members = M.train_members(pre.apply(x), y, [0, 1, 2], M.FitConfig(16, 3, 32, 0.001, 0, "none"))
    model = M.shipped_model(members, pre)
    flatbuffer = export.to_tflite(model)
    check = export.agreement(model, flatbuffer, x, tolerance=1e-5)
    assert check["agrees"] and not check["any_nan"] and check["rows"] == 300
    lite = litert.run(flatbuffer, x[:7])
    assert lite.shape == (7,) and np.all((lite >= 0) & (lite <= 1))


def test_agreement_reports_a_model_that_differs():
    x = np.ones((4, 2), np.float32)
    members = M.initial_members(2, 4, [0])
    flatbuffer = export.to_tflite(M.shipped_model(members))
    other = M.shipped_model(M.initial_members(2, 4, [1]))
    check = export.agreement(other, flatbuffer, x, tolerance=1e-5)
    assert not check["agrees"] and check["max_abs_diff"] > 1e-5
