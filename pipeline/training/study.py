"""The seed study: many seeded members on the fixed hold-out and on repeated k-fold splits.

The article reported one run (94.8%) and a shrug ("fluctuate between ~85-95%"). The study fits what it
takes to take that swing apart: ``train.seeds`` members (initialisation and shuffling) on the fixed
hold-out, and the same members on every repeated stratified k-fold split. It records probabilities only;
evaluate turns them into decisions at the threshold it chooses and decomposes the spread into seed, split
and test-set noise (:mod:`pipeline.evaluation.variance`).

Nothing is chosen on test rows: early stopping watches a validation slice carved from the training rows.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import RepeatedStratifiedKFold, train_test_split

from pipeline.core.errors import InputError
from pipeline.core.params import TrainParams
from pipeline.core.vocabulary import HOLDOUT, SHIPPED
from pipeline.training import calibration as calibration_lib
from pipeline.training import model as model_lib
from pipeline.training import predictions


@dataclass(frozen=True)
class Split:
    """Row indices of one split: training rows (minus the validation slice), validation, test."""

    name: str
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray


def fit_config(params: TrainParams) -> model_lib.FitConfig:
    """How each member is fitted, from ``train`` params and the preset in force (built here only)."""
    return model_lib.FitConfig(hidden_units=params.hidden_units, epochs=params.epochs, batch_size=params.batch_size,
                               learning_rate=params.learning_rate, patience=params.recipe.patience,
                               class_weight=params.recipe.class_weight, weight_decay=params.recipe.weight_decay)


def member_seeds(params: TrainParams) -> list[int]:
    """Member k of the study is initialised and shuffled with ``train.seed + k``."""
    return [params.seed + k for k in range(params.seeds)]


@dataclass(frozen=True)
class SplitFit:
    split: Split
    preprocessing: model_lib.Preprocessing
    members: model_lib.Members
    logits: np.ndarray  # float32 [S, N]: every member's logit for every row
    probs: np.ndarray  # float32 [S, N]: every member's P(authentic) for every row
    history: model_lib.FitHistory
    started: float  # when the fit started (Unix time) and how long it took: for tracking, never for results
    seconds: float


def _carve_validation(y: np.ndarray, rows: np.ndarray, size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if size == 0:
        return np.sort(rows), np.array([], dtype=int)
    train, valid = train_test_split(rows, test_size=size, stratify=y[rows], random_state=seed)
    return np.sort(train), np.sort(valid)


def holdout(y: np.ndarray, test_size: float, validation_size: float, seed: int) -> Split:
    """A stratified, seeded hold-out, with a stratified validation slice from the training rows."""
    rows = np.arange(len(y))
    rest, test = train_test_split(rows, test_size=test_size, stratify=y, random_state=seed)
    train, valid = _carve_validation(y, rest, validation_size, seed)
    return Split(HOLDOUT, train, valid, np.sort(test))


def repeated_kfold(y: np.ndarray, folds: int, repeats: int, validation_size: float, seed: int) -> list[Split]:
    """``repeats`` x ``folds`` stratified splits; every row is a test row once per repeat."""
    if repeats == 0:
        return []
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    splits = []
    for i, (rest, test) in enumerate(splitter.split(np.zeros(len(y)), y)):
        train, valid = _carve_validation(y, rest, validation_size, seed + i)
        splits.append(Split(f"r{i // folds}f{i % folds}", train, valid, np.sort(test)))
    return splits


def rows_needed(params: TrainParams) -> int:
    """Labelled rows of each class the split protocol needs so every split can hold both classes.

    Stratified splits give each class its share of a split, rounded down: a class needs 1/share rows to
    get one row in the smallest share (test rows, training rows, validation slice), and k-fold needs at
    least one row per fold.
    """
    split, valid = params.split, params.recipe.validation_size
    shares = [split.test_size, 1 - split.test_size]
    if valid:
        shares += [valid * (1 - split.test_size), (1 - valid) * (1 - split.test_size)]
    need = [2, *(math.ceil(1 / share - 1e-9) for share in shares)]
    if split.repeats:
        fold_rest = 1 - 1 / split.folds
        need.append(split.folds)
        if valid:
            need += [math.ceil(1 / (valid * fold_rest) - 1e-9), math.ceil(1 / ((1 - valid) * fold_rest) - 1e-9)]
    return max(need)


def check_rows(y: np.ndarray, params: TrainParams, where: object) -> None:
    """Stop before any fit unless every split of the protocol has both classes in each of its parts.

    The message says how many labelled profiles of each class ``train.split`` and the preset's
    validation slice need (:func:`rows_needed`), so a user knows what to label or which params to change.
    """
    counts = {int(c): int(n) for c, n in zip(*np.unique(y, return_counts=True), strict=True)}
    have = [counts.get(1, 0), counts.get(0, 0)]
    needed = rows_needed(params)
    split, valid = params.split, params.recipe.validation_size
    problem = None
    if min(have) < needed:
        problem = "too few"
    else:
        try:
            splits = [holdout(y, split.test_size, valid, split.seed),
                      *repeated_kfold(y, split.folds, split.repeats, valid, split.seed)]
        except ValueError as exc:  # scikit-learn refusing a split: same cause, rounding at the edge
            problem = str(exc).split("\n")[0]
        else:
            for s in splits:
                parts = {"training": s.train, "test": s.test} | ({"validation": s.valid} if valid else {})
                for part, rows in parts.items():
                    if len(np.unique(y[rows])) < 2:
                        problem = f"split {s.name} has {part} rows of one class only"
                        needed += 1
                        break
                if problem:
                    break
    if problem:
        raise InputError(
            f"{where}: {have[0]} authentic and {have[1]} fake labelled profiles ({problem}); the split protocol in "
            f"params.yaml (train.split.test_size {split.test_size:g}, {split.folds} folds x {split.repeats} repeats, "
            f"validation_size {valid:g} of preset {params.preset}) needs at least {needed} of each class: label more "
            "profiles or change train.split")


def fit_split(x: np.ndarray, y: np.ndarray, split: Split, seeds: Sequence[int], params: TrainParams,
              log_columns: Sequence[int]) -> SplitFit:
    """Fit every seed's member on one split's training rows, with the preset in force; score every row."""
    started, clock = time.time(), time.perf_counter()
    recipe = params.recipe
    pre = model_lib.fit_preprocessing(x[split.train], log_columns if recipe.log_counts else [], recipe.standardise,
                                      recipe.bins, recipe.keep_inputs)
    z = pre.apply(x)
    validation = (z[split.valid], y[split.valid]) if len(split.valid) else None
    history: list[model_lib.FitHistory] = []
    members = model_lib.train_members(z[split.train], y[split.train], seeds, fit_config(params),
                                      validation=validation, history=history)
    logits = model_lib.member_logits(members, z)
    return SplitFit(split, pre, members, logits, model_lib.sigmoid(logits), history[0], started,
                    time.perf_counter() - clock)


@dataclass(frozen=True)
class StudyResult:
    holdout: SplitFit  # the fixed split: what ships, what evaluate reports
    kfold: list[SplitFit]  # the repeated k-fold study (empty without repeats)
    shipped_logit: np.ndarray  # float64 [N]: the shipped model's logit before calibration
    calibration: calibration_lib.Calibration  # fitted on the hold-out's validation rows (identity: none)
    shipped_probs: np.ndarray  # float32 [N]: what the shipped model outputs

    @property
    def members(self) -> model_lib.Members:
        return self.holdout.members

    @property
    def kfold_splits(self) -> list[str]:
        return [f.split.name for f in self.kfold]


def run(x: np.ndarray, y: np.ndarray, params: TrainParams, log_columns: Sequence[int],
        progress: Callable[[int, int], None] | None = None) -> StudyResult:
    """The fixed hold-out for every seed, then the repeated k-fold study.

    ``progress`` is called with (splits done, splits in all) after each split's fit.
    """
    model_lib.make_deterministic(params.seed)
    seeds, split = member_seeds(params), params.split
    validation_size = params.recipe.validation_size
    folds = repeated_kfold(y, split.folds, split.repeats, validation_size, split.seed)
    total = 1 + len(folds)
    fixed = fit_split(x, y, holdout(y, split.test_size, validation_size, split.seed), seeds, params, log_columns)
    if progress is not None:
        progress(1, total)
    kfold: list[SplitFit] = []
    for fold in folds:
        kfold.append(fit_split(x, y, fold, seeds, params, log_columns))
        if progress is not None:
            progress(1 + len(kfold), total)
    shipped_logit, calibration, shipped = calibrate(y, fixed, params)
    return StudyResult(fixed, kfold, shipped_logit, calibration, shipped)


def shipped_members(members: model_lib.Members, ship: str) -> model_lib.Members:
    """The members that ship (:func:`pipeline.training.predictions.shipped_index`)."""
    return members.select(predictions.shipped_index(ship))


def calibrate(y: np.ndarray, fixed: SplitFit, params: TrainParams
              ) -> tuple[np.ndarray, calibration_lib.Calibration, np.ndarray]:
    """The shipped model's logit on every row, its calibration (``train.calibration``, fitted on the
    hold-out's validation rows only) and what it outputs: (logit [N], calibration, P(authentic) float32 [N])."""
    members = predictions.shipped_index(params.ship)
    logit = calibration_lib.ensemble_logit(fixed.logits[members])
    calibration = calibration_lib.fit(params.calibration, y[fixed.split.valid], logit[fixed.split.valid])
    if calibration.is_identity:
        # Exactly the uncalibrated model's arithmetic: the mean of the members' float32 probabilities.
        return logit, calibration, fixed.probs[members].mean(axis=0)
    return logit, calibration, calibration.apply(logit).astype(np.float32)


def scored(result: StudyResult, model: str = SHIPPED) -> list[predictions.Scored]:
    """Every member's P(authentic) on every split's test rows, hold-out first: for ``scores.parquet``."""
    return [predictions.Scored(model, fit.split.name, seed, len(fit.split.train) + len(fit.split.valid),
                               fit.split.test, probs)
            for fit in (result.holdout, *result.kfold)
            for seed, probs in zip(fit.members.seeds, fit.probs, strict=True)]


def history_rows(result: StudyResult, model: str = SHIPPED) -> list[dict[str, Any]]:
    """Every member's loss curves on every split, epoch by epoch: rows for the history table."""
    rows = []
    for fit in (result.holdout, *result.kfold):
        h = fit.history
        for m, seed in enumerate(fit.members.seeds):
            rows += [{"model": model, "split": fit.split.name, "member_seed": seed, "epoch": epoch + 1,
                      "loss": float(h.loss[epoch, m]), "val_loss": float(h.val_loss[epoch, m]),
                      "best_epoch": int(h.best_epoch[m])} for epoch in range(len(h.loss))]
    return rows


def timing(result: StudyResult) -> dict[str, dict[str, float]]:
    """When each split's fit started (Unix time) and how long it took, by split."""
    return {fit.split.name: {"started": round(fit.started, 3), "seconds": round(fit.seconds, 3)}
            for fit in (result.holdout, *result.kfold)}
def out_of_fold(kfold: Sequence[SplitFit], n_rows: int, ship: str = "ensemble",
                calibration: calibration_lib.Calibration = calibration_lib.IDENTITY) -> np.ndarray:
    """Each row's cross-validated P(authentic), as the shipped model would give it: what ships of the first
    repeat's fold that held the row out (``train.ship``), with the shipped model's calibration applied
    (float32 [N]; NaN without a k-fold study). Every row is a test row exactly once per repeat, so this
    scores all labelled rows with models that never saw them: what the audit's error rates come from.
    """
    members = predictions.shipped_index(ship)
    out = np.full(n_rows, np.nan, np.float32)
    for fit in kfold:
        if fit.split.name.startswith("r0"):
            rows = fit.split.test
            out[rows] = (fit.probs[members][:, rows].mean(axis=0) if calibration.is_identity
                         else calibration.apply(calibration_lib.ensemble_logit(fit.logits[members][:, rows])))
    return out
