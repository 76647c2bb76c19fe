"""Benchmark: the 30-seed study against one plain Keras fit of the same recipe, measured in one run.

The article's recipe (raw features, Dense(16, relu) -> Dense(1, sigmoid), Adam 1e-3, batch 32, 200
epochs) on the default pipeline's training rows. Sequential fits would cost ~30x one fit; the joint
trainer must stay within 3x. Prints the ratio and writes reports/benchmarks/train.json.

    python benchmarks/train.py [--seeds 30] [--repeats 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from pipeline import features
from pipeline.core import atomic
from pipeline.training import model as model_lib
from pipeline.training import study

ROOT = Path(__file__).resolve().parents[1]


def load_training_rows() -> tuple[np.ndarray, np.ndarray]:
    table = pq.read_table(ROOT / "data/features/features.parquet")
    x = features.to_matrix(table)
    y = table.column("label").to_numpy().astype(np.float32)
    train = study.holdout(y, test_size=0.2, validation_size=0.0, seed=42).train
    return x[train], y[train]


def plain_keras_fit(x: np.ndarray, y: np.ndarray, cfg: model_lib.FitConfig, seed: int) -> float:
    import keras  # after pipeline, which fixes TF_ENABLE_ONEDNN_OPTS before TensorFlow loads

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(cfg.hidden_units, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss="binary_crossentropy")
    start = time.perf_counter()
    model.fit(x, y, batch_size=cfg.batch_size, epochs=cfg.epochs, verbose=0)
    return time.perf_counter() - start


def joint_study(x: np.ndarray, y: np.ndarray, cfg: model_lib.FitConfig, seeds: int) -> float:
    start = time.perf_counter()
    model_lib.train_members(x, y, list(range(seeds)), cfg)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3, help="alternating measurements of each")
    args = parser.parse_args()
    model_lib.make_deterministic(0)
    x, y = load_training_rows()
    # The article's recipe as written (raw features, no early stopping), against plain Keras doing the same.
    cfg = model_lib.FitConfig(hidden_units=16, epochs=200, batch_size=32, learning_rate=0.001, patience=0,
                              class_weight="none")
    warm_up = dataclasses.replace(cfg, epochs=1)
    joint_study(x, y, warm_up, args.seeds)  # tracing, thread pools
    plain_keras_fit(x, y, warm_up, 0)
    singles, studies = [], []
    for i in range(args.repeats):  # alternate, so machine noise hits both alike
        singles.append(plain_keras_fit(x, y, cfg, i))
        studies.append(joint_study(x, y, cfg, args.seeds))
    single, joint = statistics.median(singles), statistics.median(studies)
    result = {
        "benchmark": "train",
        "rows": len(x),
        "recipe": {"hidden_units": 16, "epochs": 200, "batch_size": 32, "learning_rate": 0.001, "features": "raw"},
        "seeds": args.seeds,
        "single_fit_seconds": singles,
        "study_seconds": studies,
        "single_fit_median_seconds": single,
        "study_median_seconds": joint,
        "study_over_single_fit": joint / single,
        "sequential_estimate_over_single_fit": float(args.seeds),
        "limit": 3.0,
        "within_limit": joint / single <= 3.0,
        "machine": {"python": platform.python_version(), "cpu_count": __import__("os").cpu_count()},
    }
    atomic.write_json(ROOT / "reports/benchmarks/train.json", result)
    print(f"one Keras fit: {single:.2f}s; {args.seeds}-seed study: {joint:.2f}s; "
          f"study / single fit = {joint / single:.2f} (limit 3.0; sequential would be ~{args.seeds})")


if __name__ == "__main__":
    main()
