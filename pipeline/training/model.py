"""The model, whole: the article's ``Dense(H, relu) -> Dense(1, sigmoid)``, trained for many seeds at once.

A seed study would cost one fit per seed. Instead the S members are stacked along a leading axis and
trained in one TensorFlow graph: member s has its own initialisation and its own shuffling, its loss
depends only on its own weights, and Adam updates every weight from that weight's gradient alone, so
the members are mathematically independent fits that happen to share a loop.

Inputs are preprocessed inside the model, so the shipped model takes raw features: heavy-tailed
counts through ``log1p`` and every column standardised with the training rows' mean and variance. Raw
counts in the tens of millions make a float32 network ill-conditioned (Keras itself then differs from a
float64 evaluation by ~1e-5, and TFLite from Keras by as much) and make training depend on the seed.
Optionally each standardised column is then encoded piecewise-linearly on the training rows' quantile
bins (:class:`PiecewiseLinear`; Gorishniy et al. 2022, "On Embeddings for Numerical Features in Tabular
Deep Learning"): the first layer can then bend each feature's effect where its data bends, which a
single ``relu`` layer of 16 units on 16 standardised columns does poorly (the random forest beat it).

What ships is a plain Keras model of ordinary layers (so it converts to TFLite as is): the
preprocessing, the members side by side in one wide hidden layer, a block-diagonal output layer, and
their mean; with a calibration (:mod:`pipeline.training.calibration`), the members' logits go to a last layer that
averages and calibrates them instead.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from pipeline.core import atomic
from pipeline.training.calibration import Calibration


@dataclass(frozen=True)
class FitConfig:
    hidden_units: int
    epochs: int  # the most epochs; early stopping may end a member sooner
    batch_size: int
    learning_rate: float
    # Early stopping on validation loss: stop a member after this many epochs without improvement and
    # restore its best weights, as keras.callbacks.EarlyStopping(restore_best_weights=True). 0: off.
    patience: int
    # "balanced" weighs each class's loss by n / (2 n_class), as Keras' class_weight would; "none" doesn't.
    class_weight: str
    # L2 penalty on each member's kernels, added to its training loss (never to the validation loss that
    # early stopping reads). 0: none, as the article.
    weight_decay: float = 0.0


@dataclass(frozen=True)
class FitHistory:
    """How each member's fit went: its loss curves and the epoch whose weights it kept."""

    best_epoch: np.ndarray  # int [S], 1-based
    best_val_loss: np.ndarray  # float [S]; NaN without a validation slice
    loss: np.ndarray  # float [epochs run, S]: mean training loss over each epoch's batches
    val_loss: np.ndarray  # float [epochs run, S]: validation loss after each epoch; NaN without validation


@keras.saving.register_keras_serializable(package="igfake")
class Log1pColumns(keras.layers.Layer):
    """``log(1 + max(x, 0))`` on the given columns, identity on the rest (TFLite builtins only)."""

    def __init__(self, columns: Sequence[int], n_features: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.columns = [int(c) for c in columns]
        self.n_features = int(n_features)
        mask = np.zeros(self.n_features, np.float32)
        mask[self.columns] = 1.0
        self._mask = mask

    def call(self, x):
        mask = keras.ops.convert_to_tensor(self._mask)
        logged = keras.ops.log(1.0 + keras.ops.maximum(x, 0.0))
        return x * (1.0 - mask) + logged * mask

    def get_config(self) -> dict:
        return super().get_config() | {"columns": self.columns, "n_features": self.n_features}


@keras.saving.register_keras_serializable(package="igfake")
class PiecewiseLinear(keras.layers.Layer):
    """Piecewise-linear encoding of every column on fixed bins: [N, F] -> [N, F * T] (+ the F inputs).

    Column ``f`` has bins ``[left[f, t], left[f, t] + width[f, t])``; component ``t`` is the position of
    ``x`` in bin ``t``, ``(x - left) / width``, clipped to ``[lower[f, t], upper[f, t]]``: ``[0, 1]`` for a
    middle bin (1 above it, 0 below), unbounded below for the first bin and above for the last, so values
    beyond the training range extrapolate linearly instead of saturating. A column with fewer distinct
    bin edges than ``T + 1`` (a flag has two values) pads with components clipped to ``[0, 0]``: always 0.
    ``keep_inputs`` appends the column itself, so the encoding only adds to what the network sees.
    Only subtract, multiply, maximum, minimum, reshape and concatenate: TFLite builtins.
    """

    def __init__(self, left, width, lower, upper, keep_inputs: bool, **kwargs) -> None:
        super().__init__(**kwargs)
        self.left, self.width, self.lower, self.upper = (np.asarray(a, np.float32) for a in (left, width, lower, upper))
        self.keep_inputs = bool(keep_inputs)

    def call(self, x):
        f, t = self.left.shape
        r = (x[:, :, None] - keras.ops.convert_to_tensor(self.left)) * keras.ops.convert_to_tensor(1.0 / self.width)
        r = keras.ops.minimum(keras.ops.maximum(r, keras.ops.convert_to_tensor(self.lower)),
                              keras.ops.convert_to_tensor(self.upper))
        encoded = keras.ops.reshape(r, (-1, f * t))
        return keras.ops.concatenate([encoded, x], axis=-1) if self.keep_inputs else encoded

    def get_config(self) -> dict:
        return super().get_config() | {"left": self.left.tolist(), "width": self.width.tolist(),
                                       "lower": self.lower.tolist(), "upper": self.upper.tolist(),
                                       "keep_inputs": self.keep_inputs}


# A bound far beyond any standardised value (|z| of a float32 count is below 1e5): "unclipped" without an
# infinity, which TFLite's converter would have to fold.
_UNBOUNDED = 1e9


@dataclass(frozen=True)
class Bins:
    """Each column's piecewise-linear bins, from the training rows' quantiles (:func:`fit_bins`)."""

    left: np.ndarray  # float32 [F, T]
    width: np.ndarray  # float32 [F, T], > 0
    lower: np.ndarray  # float32 [F, T]: the clip below (0, or -_UNBOUNDED for the first bin)
    upper: np.ndarray  # float32 [F, T]: the clip above (1, _UNBOUNDED for the last bin, 0 for padding)
    keep_inputs: bool

    def layer(self) -> PiecewiseLinear:
        return PiecewiseLinear(self.left, self.width, self.lower, self.upper, self.keep_inputs, name="piecewise_linear")


def fit_bins(z_train: np.ndarray, bins: int, keep_inputs: bool) -> Bins:
    """``bins`` quantile bins per column of ``z_train`` (already log-scaled and standardised).

    Edges are the column's quantiles at 0, 1/T, ..., 1 with repeats removed, so a column of few distinct
    values gets fewer, real bins and zero padding rather than bins of width 0.
    """
    n_features = z_train.shape[1]
    shape = (n_features, bins)
    left, width = np.zeros(shape), np.ones(shape)
    lower, upper = np.zeros(shape), np.zeros(shape)
    for f in range(n_features):
        edges = np.unique(np.quantile(z_train[:, f].astype(np.float64), np.linspace(0.0, 1.0, bins + 1)))
        used = len(edges) - 1
        if used == 0:  # a constant column: one bin of width 1 at its value, so its inputs still pass
            edges, used = np.array([edges[0], edges[0] + 1.0]), 1
        left[f, :used], width[f, :used] = edges[:-1], np.diff(edges)
        upper[f, :used] = 1.0
        lower[f, 0], upper[f, used - 1] = -_UNBOUNDED, _UNBOUNDED
    as32 = (np.asarray(a, np.float32) for a in (left, width, lower, upper))
    return Bins(*as32, keep_inputs)


@dataclass(frozen=True)
class Preprocessing:
    """What happens to raw features inside the model, fitted on the training rows only."""

    n_features: int
    log_columns: tuple[int, ...] = ()
    mean: np.ndarray | None = None  # None: no standardisation
    variance: np.ndarray | None = None
    bins: Bins | None = None  # None: no piecewise-linear encoding

    def layers(self, encode: bool = True) -> list[keras.layers.Layer]:
        layers: list[keras.layers.Layer] = []
        if self.log_columns:
            layers.append(Log1pColumns(self.log_columns, self.n_features, name="log_counts"))
        if self.mean is not None:
            layers.append(keras.layers.Normalization(mean=self.mean, variance=self.variance, name="standardise"))
        if encode and self.bins is not None:
            layers.append(self.bins.layer())
        return layers

    def apply(self, x: np.ndarray, encode: bool = True) -> np.ndarray:
        """The same transformation the shipped model applies, computed by the same layers.

        ``encode=False`` stops before the piecewise-linear encoding: the columns as the log and
        standardisation leave them (what the logistic-regression baseline reads).
        """
        out = tf.constant(np.asarray(x, np.float32))
        for layer in self.layers(encode):
            out = layer(out)
        return np.asarray(out)

    @property
    def width(self) -> int:
        """How many columns the first dense layer reads."""
        if self.bins is None:
            return self.n_features
        return self.bins.left.size + (self.n_features if self.bins.keep_inputs else 0)


def fit_preprocessing(x_train: np.ndarray, log_columns: Sequence[int], standardise: bool,
                      bins: int = 0, keep_inputs: bool = True) -> Preprocessing:
    """Log-scale ``log_columns``; then, if asked, standardise with the (log-scaled) training rows' moments;
    then, with ``bins`` > 0, encode every column piecewise-linearly on the training rows' quantile bins."""
    logged = Preprocessing(x_train.shape[1], tuple(log_columns))
    if standardise:
        z = logged.apply(x_train).astype(np.float64)
        logged = Preprocessing(x_train.shape[1], tuple(log_columns), z.mean(axis=0), z.var(axis=0))
    if bins == 0:
        return logged
    return dataclasses.replace(logged, bins=fit_bins(logged.apply(x_train), bins, keep_inputs))


@dataclass(frozen=True)
class Members:
    """S trained (or initial) members, weights stacked on axis 0."""

    w1: np.ndarray  # [S, F, H]
    b1: np.ndarray  # [S, H]
    w2: np.ndarray  # [S, H]
    b2: np.ndarray  # [S]
    seeds: tuple[int, ...]

    def select(self, indices: Sequence[int] | slice) -> Members:
        """The members at ``indices`` (positions), or a ``slice`` of them."""
        if isinstance(indices, slice):
            return Members(self.w1[indices], self.b1[indices], self.w2[indices], self.b2[indices],
                           self.seeds[indices])
        idx = list(indices)
        return Members(self.w1[idx], self.b1[idx], self.w2[idx], self.b2[idx],
                       tuple(self.seeds[i] for i in idx))


def _rng(seed: int, stream: int) -> np.random.Generator:
    # One independent stream per purpose, so changing the batch size never changes the initialisation.
    return np.random.default_rng([seed, stream])


def initial_members(n_features: int, hidden_units: int, seeds: Sequence[int]) -> Members:
    """Keras' defaults (Glorot-uniform kernels, zero biases), drawn from each member's own seed."""

    def glorot(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(np.float32)

    w1, w2 = [], []
    for seed in seeds:
        rng = _rng(seed, 0)
        w1.append(glorot(rng, n_features, hidden_units))
        w2.append(glorot(rng, hidden_units, 1)[:, 0])
    s = len(seeds)
    return Members(np.stack(w1), np.zeros((s, hidden_units), np.float32), np.stack(w2),
                   np.zeros(s, np.float32), tuple(seeds))


def batch_orders(n_rows: int, epochs: int, seeds: Sequence[int]) -> np.ndarray:
    """Each member's row order for every epoch: int32 [epochs, S, n_rows]."""
    rngs = [_rng(seed, 1) for seed in seeds]
    return np.stack([np.stack([rng.permutation(n_rows) for rng in rngs]) for _ in range(epochs)]).astype(np.int32)


def _logits(x: tf.Tensor, w1: tf.Tensor, b1: tf.Tensor, w2: tf.Tensor, b2: tf.Tensor) -> tf.Tensor:
    """x [S, B, F] -> logits [S, B]."""
    hidden = tf.nn.relu(tf.einsum("sbf,sfh->sbh", x, w1) + b1[:, None, :])
    return tf.einsum("sbh,sh->sb", hidden, w2) + b2[:, None]


def sample_weights(y: np.ndarray, class_weight: str) -> np.ndarray:
    """Per-row loss weights: ones, or n / (2 n_class) so both classes weigh the same in total."""
    y = np.asarray(y)
    if class_weight == "none":
        return np.ones(len(y), np.float32)
    if class_weight != "balanced":
        raise ValueError(f"class_weight: expected 'none' or 'balanced', got {class_weight!r}")
    counts = np.bincount(y.astype(int), minlength=2)
    return (len(y) / (2.0 * counts[y.astype(int)])).astype(np.float32)


def train_members(x: np.ndarray, y: np.ndarray, seeds: Sequence[int], cfg: FitConfig,
                  orders: np.ndarray | None = None, validation: tuple[np.ndarray, np.ndarray] | None = None,
                  history: list[FitHistory] | None = None) -> Members:
    """Fit one member per seed, jointly.

    ``orders`` overrides the shuffling (tests use it). With ``validation`` rows and ``cfg.patience``,
    each member stops on its own validation loss and keeps its best epoch's weights; the loop ends when
    every member has stopped. ``history``, if given, receives a :class:`FitHistory`.
    """
    x = np.asarray(x, np.float32)
    y = np.asarray(y, np.float32)
    init = initial_members(x.shape[1], cfg.hidden_units, seeds)
    if orders is None:
        orders = batch_orders(len(x), cfg.epochs, seeds)
    weights = [keras.Variable(w) for w in (init.w1, init.b1, init.w2, init.b2)]
    optimizer = keras.optimizers.Adam(learning_rate=cfg.learning_rate)
    optimizer.build(weights)
    x_t, y_t = tf.constant(x), tf.constant(y)
    w_t = tf.constant(sample_weights(y, cfg.class_weight))
    # Each member's summed training loss over the epoch, kept on the device: reading it back after every
    # batch would stall the loop.
    epoch_loss = tf.Variable(tf.zeros(len(seeds)))

    @tf.function(reduce_retracing=True)
    def step(rows: tf.Tensor) -> None:
        xb, yb, wb = tf.gather(x_t, rows), tf.gather(y_t, rows), tf.gather(w_t, rows)
        with tf.GradientTape() as tape:
            logits = _logits(xb, *(w.value for w in weights))
            losses = tf.nn.sigmoid_cross_entropy_with_logits(labels=yb, logits=logits) * wb
            member_loss = tf.reduce_mean(losses, axis=1)
            # A sum, not a mean, over members: each member's gradient is exactly its own loss's gradient.
            loss = tf.reduce_sum(member_loss)
            if cfg.weight_decay:
                # On the kernels only (w1, w2), as keras' kernel_regularizer=L2 would; biases stay free.
                loss += cfg.weight_decay * (tf.reduce_sum(tf.square(weights[0].value))
                                            + tf.reduce_sum(tf.square(weights[2].value)))
        grads = tape.gradient(loss, [w.value for w in weights])
        optimizer.apply_gradients(zip(grads, weights, strict=True))
        epoch_loss.assign_add(member_loss * tf.cast(tf.shape(rows)[1], tf.float32))

    stopper = None
    if validation is not None and cfg.patience > 0:
        stopper = _EarlyStopping(validation, cfg.patience, len(seeds))
    curve = []
    for epoch, epoch_order in enumerate(orders, start=1):
        epoch_loss.assign(tf.zeros(len(seeds)))
        for start in range(0, len(x), cfg.batch_size):
            step(tf.constant(epoch_order[:, start : start + cfg.batch_size]))
        curve.append(epoch_loss.numpy() / len(x))
        if stopper is not None and stopper.update(epoch, [np.asarray(w.numpy()) for w in weights]):
            break
    current = [np.asarray(w.numpy()) for w in weights]
    final = stopper.best_weights(current) if stopper is not None else current
    if history is not None:
        loss = np.asarray(curve, np.float64)
        if stopper is not None:
            history.append(FitHistory(stopper.best_epoch.copy(), stopper.best_loss.copy(), loss,
                                      np.asarray(stopper.curve, np.float64)))
        else:
            history.append(FitHistory(np.full(len(seeds), len(curve)), np.full(len(seeds), np.nan), loss,
                                      np.full_like(loss, np.nan)))
    return Members(*final, tuple(seeds))


class _EarlyStopping:
    """Per-member early stopping with best-weight restore, for members trained side by side."""

    def __init__(self, validation: tuple[np.ndarray, np.ndarray], patience: int, n_members: int) -> None:
        x_val, y_val = validation
        self.x = tf.constant(np.broadcast_to(np.asarray(x_val, np.float32)[None], (n_members, *np.shape(x_val))))
        self.y = tf.constant(np.broadcast_to(np.asarray(y_val, np.float32)[None], (n_members, len(y_val))))
        self.patience = patience
        self.best_loss = np.full(n_members, np.inf)
        self.best_epoch = np.zeros(n_members, dtype=int)
        self.best: list[np.ndarray] = []
        self.stopped = np.zeros(n_members, dtype=bool)
        self.curve: list[np.ndarray] = []  # every epoch's validation loss, per member

    def update(self, epoch: int, weights: list[np.ndarray]) -> bool:
        """Record this epoch; True when every member has run out of patience."""
        logits = _logits(self.x, *(tf.constant(w) for w in weights))
        loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=self.y, logits=logits), axis=1).numpy()
        self.curve.append(loss.astype(np.float64))
        improved = (loss < self.best_loss) & ~self.stopped
        if not self.best:
            self.best = [w.copy() for w in weights]
        for best, now in zip(self.best, weights, strict=True):
            best[improved] = now[improved]
        self.best_loss[improved] = loss[improved]
        self.best_epoch[improved] = epoch
        self.stopped |= epoch - self.best_epoch >= self.patience
        return bool(self.stopped.all())

    def best_weights(self, current: list[np.ndarray]) -> list[np.ndarray]:
        return self.best or current


def member_logits(members: Members, x: np.ndarray) -> np.ndarray:
    """Every member's logit for every row: float32 [S, N]."""
    x = np.asarray(x, np.float32)
    stacked = tf.broadcast_to(tf.constant(x)[None], (len(members.seeds), *x.shape))
    return _logits(stacked, *(tf.constant(w) for w in (members.w1, members.b1, members.w2, members.b2))).numpy()


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """P(authentic) from logits, as the model computes it (float32)."""
    return tf.sigmoid(tf.constant(np.asarray(logits, np.float32))).numpy()


def member_probabilities(members: Members, x: np.ndarray) -> np.ndarray:
    """Every member's P(authentic) for every row: float32 [S, N]."""
    return sigmoid(member_logits(members, x))


@keras.saving.register_keras_serializable(package="igfake")
class CalibratedMean(keras.layers.Layer):
    """Members' logits [N, S] -> ``sigmoid(scale * (log p - log q) + shift)`` [N, 1], with ``p`` and ``q``
    the members' mean P(authentic) and mean P(fake) (:func:`pipeline.training.calibration.ensemble_logit`).

    ``q`` is averaged from each member's own ``sigmoid(-logit)`` rather than taken as ``1 - p``: a confident
    ensemble's ``1 - p`` is rounding noise in float32, and the temperature would magnify it past the
    TFLite parity tolerance. An infinite logit (a member beyond float32's exp) gives 0 or 1, never NaN.
    """

    def __init__(self, scale: float, shift: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.scale = float(scale)
        self.shift = float(shift)

    def call(self, logits):
        p = keras.ops.mean(keras.ops.sigmoid(logits), axis=-1, keepdims=True)
        q = keras.ops.mean(keras.ops.sigmoid(-logits), axis=-1, keepdims=True)
        return keras.ops.sigmoid(self.scale * (keras.ops.log(p) - keras.ops.log(q)) + self.shift)

    def get_config(self) -> dict:
        return super().get_config() | {"scale": self.scale, "shift": self.shift}


def shipped_model(members: Members, preprocessing: Preprocessing | None = None,
                  calibration: Calibration | None = None) -> keras.Model:
    """A plain Keras model: raw features [N, F] -> mean P(authentic) of the members [N, 1], calibrated if
    ``calibration`` is given and not the identity."""
    s, f, h = members.w1.shape
    # The model reads the raw features; its first dense layer reads what the preprocessing makes of them
    # (more columns than features with a piecewise-linear encoding).
    inputs = keras.Input((preprocessing.n_features if preprocessing else f,), name="features")
    x = inputs
    for layer in (preprocessing.layers() if preprocessing else []):
        x = layer(x)
    hidden = keras.layers.Dense(s * h, activation="relu", name="members_hidden")(x)
    calibrated = calibration is not None and not calibration.is_identity
    if calibrated:
        logits = keras.layers.Dense(s, name="members_output")(hidden)
        out = CalibratedMean(calibration.scale, calibration.shift, name=f"calibrated_{calibration.method}")(logits)
    else:
        probs = keras.layers.Dense(s, activation="sigmoid", name="members_output")(hidden)
        out = keras.layers.Dense(1, use_bias=False, name="mean")(probs)
    model = keras.Model(inputs, out, name=f"igfake_{s}_members")
    _set_member_weights(model, members)
    if not calibrated:
        model.get_layer("mean").set_weights([np.full((s, 1), 1.0 / s, np.float32)])
    return model


def _set_member_weights(model: keras.Model, members: Members) -> None:
    s, f, h = members.w1.shape
    # Member j owns hidden units j*h .. (j+1)*h and output j; everything off its block is zero.
    out_kernel = np.zeros((s * h, s), np.float32)
    for j in range(s):
        out_kernel[j * h : (j + 1) * h, j] = members.w2[j]
    model.get_layer("members_hidden").set_weights(
        [members.w1.transpose(1, 0, 2).reshape(f, s * h), members.b1.reshape(s * h)])
    model.get_layer("members_output").set_weights([out_kernel, members.b2])


def make_deterministic(seed: int) -> None:
    """Same params + same code => same numbers: seed every RNG and ask TF for deterministic ops."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def save_model(model: keras.Model, target: Path) -> None:
    """Save a ``.keras`` archive atomically and byte-for-byte reproducibly.

    Keras stamps the save time into ``metadata.json`` and the weights entry of the zip, and names
    shared objects in ``config.json`` by their memory address; the same model would then hash
    differently on every save and DVC would see a new output each run. The archive is rewritten with
    the stamps fixed and the addresses renumbered in order; nothing Keras reads back changes.
    """
    with tempfile.TemporaryDirectory() as tmp_dir:
        raw = Path(tmp_dir) / "model.keras"
        model.save(raw)
        with atomic.atomic_path(target, suffix=".keras") as tmp, zipfile.ZipFile(raw) as src, \
                zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                data = src.read(info)
                if info.filename == "metadata.json":
                    metadata = json.loads(data)
                    metadata.pop("date_saved", None)
                    data = json.dumps(metadata, sort_keys=True).encode()
                elif info.filename == "config.json":
                    data = json.dumps(_renumber_shared_objects(json.loads(data))).encode()
                dst.writestr(zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0)), data,
                             compress_type=zipfile.ZIP_DEFLATED)


def _renumber_shared_objects(node, ids: dict | None = None):
    """Replace each ``shared_object_id`` (an ``id()``) by its order of first appearance, keeping sharing."""
    ids = {} if ids is None else ids
    if isinstance(node, dict):
        return {k: ids.setdefault(v, len(ids)) if k == "shared_object_id" else _renumber_shared_objects(v, ids)
                for k, v in node.items()}
    if isinstance(node, list):
        return [_renumber_shared_objects(v, ids) for v in node]
    return node


def load_model(path) -> keras.Model:
    """Load a shipped model; importing this module registers its custom layer with Keras."""
    return keras.saving.load_model(path)
