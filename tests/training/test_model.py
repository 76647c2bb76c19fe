import dataclasses

import keras
import numpy as np
import pytest

from pipeline.training import model as M


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(203, 5)).astype(np.float32)
    y = (x[:, 0] - x[:, 1] + 0.5 * rng.normal(size=203) > 0).astype(np.float32)
    return x, y


CFG = M.FitConfig(hidden_units=8, epochs=6, batch_size=32, learning_rate=0.01, patience=0, class_weight="none")


def test_each_jointly_trained_member_equals_its_own_single_seed_fit(data):
    x, y = data
    joint = M.train_members(x, y, [3, 4, 5], CFG)
    alone = M.train_members(x, y, [4], CFG)
    p_joint = M.member_probabilities(joint, x)
    p_alone = M.member_probabilities(alone, x)
    np.testing.assert_allclose(p_joint[1], p_alone[0], atol=1e-5)
    assert np.abs(p_joint[0] - p_joint[1]).max() > 1e-3  # different seeds, different members


def test_a_member_equals_a_plain_keras_fit_with_the_same_init_and_batches(data):
    x, y = data
    seeds = [11, 12]
    joint = M.train_members(x, y, seeds, CFG)
    init = M.initial_members(x.shape[1], CFG.hidden_units, seeds).select([1])
    orders = M.batch_orders(len(x), CFG.epochs, seeds)[:, 1]

    keras.utils.set_random_seed(0)
    plain = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(CFG.hidden_units, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    plain.layers[0].set_weights([init.w1[0], init.b1[0]])
    plain.layers[1].set_weights([init.w2[0][:, None], init.b2])
    plain.compile(optimizer=keras.optimizers.Adam(CFG.learning_rate), loss="binary_crossentropy")
    for order in orders:
        plain.fit(x[order], y[order], batch_size=CFG.batch_size, epochs=1, shuffle=False, verbose=0)
    expected = plain.predict(x, verbose=0)[:, 0]
    np.testing.assert_allclose(M.member_probabilities(joint, x)[1], expected, atol=1e-5)


def test_training_is_reproducible_and_seed_dependent(data):
    x, y = data
    a = M.train_members(x, y, [1, 2], CFG)
    b = M.train_members(x, y, [1, 2], CFG)
    assert all(np.array_equal(u, v) for u, v in zip((a.w1, a.b1, a.w2, a.b2), (b.w1, b.b1, b.w2, b.b2), strict=True))
    c = M.train_members(x, y, [1, 3], CFG)
    assert np.array_equal(a.w1[0], c.w1[0]) and not np.array_equal(a.w1[1], c.w1[1])


def test_shipped_model_is_the_mean_of_the_members(data):
    x, y = data
    members = M.train_members(x, y, [0, 1, 2, 3], CFG)
    shipped = M.shipped_model(members)
    expected = M.member_probabilities(members, x).mean(axis=0)
    np.testing.assert_allclose(shipped.predict(x, verbose=0)[:, 0], expected, atol=1e-6)
    single = M.shipped_model(members.select([2]))
    np.testing.assert_allclose(single.predict(x, verbose=0)[:, 0], M.member_probabilities(members, x)[2],
                               atol=1e-6)


def test_learns_something_that_generalises(data):
    x, y = data
    train, test = np.arange(len(y)) < 150, np.arange(len(y)) >= 150
    members = M.train_members(x[train], y[train], [0], M.FitConfig(8, 30, 32, 0.01, 0, "none"))
    accuracy = ((M.member_probabilities(members, x[test])[0] >= 0.5) == y[test]).mean()
    majority = max(y[test].mean(), 1 - y[test].mean())
    # The rule is linear with 0.5 noise: a fit that learnt it scores well above guessing the majority.
    assert accuracy > 0.8 and accuracy > majority + 0.2, (accuracy, majority)


def test_preprocessing_lives_inside_the_shipped_model_and_survives_save_and_load(data, tmp_path):
    x, y = data
    raw = np.abs(x) * np.array([1, 1e6, 1, 1, 3e4], np.float32)  # raw, heavy-tailed counts
    pre = M.fit_preprocessing(raw, log_columns=[1, 4], standardise=True)
    z = pre.apply(raw)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=0), 1, atol=1e-4)
    np.testing.assert_allclose(z[:, 1], (np.log1p(raw[:, 1]) - np.log1p(raw[:, 1]).mean()) / np.log1p(raw[:, 1]).std(),
                               atol=1e-4)
    members = M.train_members(z, y, [0, 1], CFG)
    model = M.shipped_model(members, pre)
    expected = M.member_probabilities(members, z).mean(axis=0)
    np.testing.assert_allclose(model.predict(raw, verbose=0)[:, 0], expected, atol=1e-6)
    model.save(tmp_path / "m.keras")
    loaded = M.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.predict(raw, verbose=0), model.predict(raw, verbose=0))


def test_without_preprocessing_the_model_sees_raw_features(data):
    x, _ = data
    pre = M.fit_preprocessing(x, log_columns=[], standardise=False)
    assert pre.layers() == [] and np.array_equal(pre.apply(x), x)


def test_early_stopping_keeps_members_independent(data):
    x, y = data
    val = (x[:60], y[:60])
    cfg = M.FitConfig(hidden_units=8, epochs=60, batch_size=32, learning_rate=0.05, patience=3, class_weight="none")
    hist_joint, hist_alone = [], []
    joint = M.train_members(x[60:], y[60:], [5, 6, 7], cfg, validation=val, history=hist_joint)
    alone = M.train_members(x[60:], y[60:], [6], cfg, validation=val, history=hist_alone)
    (hj,), (ha,) = hist_joint, hist_alone
    assert hj.best_epoch[1] == ha.best_epoch[0] and hj.best_epoch.max() < 60  # it stopped, and on its own
    assert len(set(hj.best_epoch.tolist())) > 1  # members stop at different epochs
    np.testing.assert_allclose(M.member_probabilities(joint, x)[1], M.member_probabilities(alone, x)[0], atol=1e-5)
    # the kept weights are the best epoch's: validation loss is the recorded minimum
    p = np.clip(M.member_probabilities(alone, val[0])[0], 1e-7, 1 - 1e-7)
    val_loss = -np.mean(val[1] * np.log(p) + (1 - val[1]) * np.log(1 - p))
    assert val_loss == pytest.approx(ha.best_val_loss[0], rel=1e-4)
    # The curves: one value per epoch run, the best epoch is the validation curve's minimum, a member's
    # curves do not depend on its neighbours, and training brought the training loss down.
    assert hj.loss.shape == hj.val_loss.shape == (len(hj.loss), 3)
    assert np.argmin(ha.val_loss[:, 0]) + 1 == ha.best_epoch[0]
    np.testing.assert_allclose(hj.val_loss[: len(ha.val_loss), 1], ha.val_loss[:, 0], rtol=1e-4)
    np.testing.assert_allclose(hj.loss[: len(ha.loss), 1], ha.loss[:, 0], rtol=1e-4)
    assert ha.loss[-1, 0] < ha.loss[0, 0]


def test_training_loss_curve_is_the_mean_loss_of_the_epoch(data):
    x, y = data
    cfg = M.FitConfig(hidden_units=4, epochs=1, batch_size=len(y), learning_rate=0.01, patience=0,
                      class_weight="none")
    history = []
    M.train_members(x, y, [0], cfg, history=history)
    # One full batch: the epoch's loss is the loss of the initial weights on every row.
    init = M.initial_members(x.shape[1], 4, [0])
    p = np.clip(M.member_probabilities(init, x)[0], 1e-7, 1 - 1e-7)
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert history[0].loss[0, 0] == pytest.approx(expected, rel=1e-5)
    assert np.isnan(history[0].val_loss).all() and history[0].best_epoch[0] == 1


def test_balanced_class_weights_give_both_classes_equal_total_weight():
    y = np.array([1, 0, 0, 0])
    w = M.sample_weights(y, "balanced")
    assert w[y == 1].sum() == pytest.approx(w[y == 0].sum()) and w.sum() == pytest.approx(len(y))
    assert np.array_equal(M.sample_weights(y, "none"), np.ones(4))


def test_saved_model_is_byte_identical_across_saves_and_loads_back(data, tmp_path):
    import time

    x, y = data
    members = M.train_members(x, y, [0, 1], M.FitConfig(4, 2, 32, 0.01, 0, "none"))
    model = M.shipped_model(members, M.fit_preprocessing(x, [0], True))
    M.save_model(model, tmp_path / "a.keras")
    time.sleep(1.1)  # Keras stamps the time to the second
    M.save_model(model, tmp_path / "b.keras")
    assert (tmp_path / "a.keras").read_bytes() == (tmp_path / "b.keras").read_bytes()
    loaded = M.load_model(tmp_path / "a.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_saved_model_bytes_do_not_depend_on_the_process(data, tmp_path):
    """Keras names shared objects by memory address; two processes must still write the same bytes."""
    import subprocess
    import sys

    script = (
        "import numpy as np\n"
        "from pipeline.training import model as M\n"
        "x = np.arange(30, dtype=np.float32).reshape(10, 3)\n"
        "m = M.shipped_model(M.initial_members(3, 4, [0, 1]), M.fit_preprocessing(x, [1], True))\n"
        "import sys; M.save_model(m, sys.argv[1])\n"
    )
    for name in ("a.keras", "b.keras"):
        subprocess.run([sys.executable, "-c", script, str(tmp_path / name)], check=True, capture_output=True)
    assert (tmp_path / "a.keras").read_bytes() == (tmp_path / "b.keras").read_bytes()


def test_piecewise_linear_encoding_matches_a_hand_computation():
    # One column with training values 0..8 and 4 bins: quantile edges 0, 2, 4, 6, 8.
    column = np.arange(9, dtype=np.float32)[:, None]
    bins = M.fit_bins(column, 4, keep_inputs=True)
    np.testing.assert_array_equal(bins.left[0], [0, 2, 4, 6])
    np.testing.assert_array_equal(bins.width[0], [2, 2, 2, 2])
    out = np.asarray(bins.layer()(np.array([[-2.0], [3.0], [5.0], [12.0]], np.float32)))
    # By hand: below the range the first bin extrapolates (-1), a middle value fills the bins below it
    # (1) and sits partway in its own; above the range the last bin extrapolates ((12 - 6) / 2 = 3).
    np.testing.assert_allclose(out, [[-1, 0, 0, 0, -2], [1, 0.5, 0, 0, 3], [1, 1, 0.5, 0, 5], [1, 1, 1, 3, 12]])


def test_a_column_of_few_values_gets_real_bins_and_zero_padding():
    flag = np.array([[0.0], [0.0], [1.0], [1.0]], np.float32)
    bins = M.fit_bins(flag, 4, keep_inputs=False)
    out = np.asarray(bins.layer()(np.array([[0.0], [1.0], [2.0]], np.float32)))
    # Quantiles at 0, 1/4, ..., 1 of (0, 0, 1, 1) are 0, 0, 0.5, 1, 1: two distinct bins, [0, 0.5) (unbounded
    # below) and [0.5, 1) (unbounded above), and two padded components, always 0. By hand: 2 -> 1 and
    # (2 - 0.5) / 0.5 = 3.
    np.testing.assert_allclose(out, [[0, 0, 0, 0], [1, 1, 0, 0], [1, 3, 0, 0]])


def test_the_encoding_lives_inside_the_shipped_model_and_converts_to_tflite(data, tmp_path):
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    x, y = data
    raw = np.abs(x) * np.array([1, 1e6, 1, 1, 3e4], np.float32)
    pre = M.fit_preprocessing(raw, log_columns=[1, 4], standardise=True, bins=6, keep_inputs=True)
    z = pre.apply(raw)
    assert z.shape == (len(raw), 5 * 6 + 5) == (len(raw), pre.width)
    # The columns before the encoding are the standardised ones, what the logistic regression reads.
    np.testing.assert_array_equal(z[:, 30:], pre.apply(raw, encode=False))
    members = M.train_members(z, y, [0, 1], dataclasses.replace(CFG, weight_decay=1e-3))
    model = M.shipped_model(members, pre)
    expected = M.member_probabilities(members, z).mean(axis=0)
    np.testing.assert_allclose(model.predict(raw, verbose=0)[:, 0], expected, atol=1e-6)
    M.save_model(model, tmp_path / "m.keras")
    loaded = M.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.predict(raw, verbose=0), model.predict(raw, verbose=0))
    interpreter = Interpreter(model_content=tf.lite.TFLiteConverter.from_keras_model(model).convert())
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.resize_tensor_input(inp["index"], list(raw.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(inp["index"], raw)
    interpreter.invoke()
    np.testing.assert_allclose(interpreter.get_tensor(out["index"])[:, 0], expected, atol=1e-5)


def test_weight_decay_shrinks_the_kernels(data):
    x, y = data
    free = M.train_members(x, y, [0], CFG)
    decayed = M.train_members(x, y, [0], dataclasses.replace(CFG, weight_decay=0.05))
    # The same seed and batches: only the penalty differs, and it can only pull the kernels toward zero.
    assert np.sum(decayed.w1 ** 2) < 0.8 * np.sum(free.w1 ** 2)
