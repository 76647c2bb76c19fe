"""What evaluate reports: the shipped model and the baselines, with intervals, beside the seed distribution.

Everything is computed once, here, from the tables train and label-import wrote; the stage only writes it
out (``reports/metrics.json``, ``reports/slices.json``, the confusion printout, DVC's plot data, PNGs and
the offline report). Rules that keep it honest:

- every model's threshold comes from ``evaluate.threshold_rule`` applied to its own **validation** rows
  (never test rows); the sweep over test rows is shown, not used;
- every 95% interval is a percentile bootstrap over the hold-out's test rows, with the same resamples for
  every model, so the shipped model's and the baselines' intervals are comparable;
- baselines are compared with the MLP in the same protocol twice: on the same hold-out test rows (paired
  bootstrap) and over the same repeated k-fold splits (the Nadeau-Bengio corrected paired difference at
  ``1 - compare.alpha``, :mod:`pipeline.evaluation.intervals`: the interval and verdict ``igfake compare``
  and the gate give for the same splits).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline import features
from pipeline.core.errors import InputError, ParamsError
from pipeline.core.params import EvaluateParams
from pipeline.core.vocabulary import AUTHENTIC, FAKE, HOLDOUT, LABEL_VALUE, SHIPPED
from pipeline.evaluation import compare, intervals, metrics
from pipeline.evaluation import splits as split_results
from pipeline.evaluation import variance as variance_lib
from pipeline.evaluation.metric_registry import CALIBRATION_METRICS, METRICS, select
from pipeline.serving import decision as decision_lib
from pipeline.training import calibration as calibration_lib
from pipeline.training import predictions

# Candidate thresholds of every rule and of the sweep: a fixed grid, so sweeps of two revisions line up.
THRESHOLD_GRID = np.round(np.arange(0.05, 0.9501, 0.01), 2)
# Fixed bins of the per-seed accuracy histogram (anything lower lands in the first), so revisions line up.
HISTOGRAM_EDGES = np.round(np.arange(0.70, 1.0001, 0.01), 2)
# A slice smaller than this gets an interval but is never flagged: its bootstrap says too little.
MIN_FLAGGED_SLICE = 10


@dataclass(frozen=True)
class Evaluation:
    report: dict[str, Any]  # reports/metrics.json
    slices: list[dict[str, Any]]  # reports/slices.json
    seed_accuracy: dict[int, float]  # test accuracy of each member, by member seed
    confusion: np.ndarray  # 2x2, rows actual (authentic, fake), columns predicted
    roc: list[dict[str, float]]
    pr: dict[str, list[dict[str, float]]]  # the fake class's precision-recall curve, by model
    reliability: dict[str, list[dict[str, float]]]  # by model
    sweep: pd.DataFrame  # the shipped model's metrics per threshold, on validation and test rows
    kfold: pd.DataFrame  # every model's accuracy per k-fold split and member seed
    actual: np.ndarray  # class name of every test row
    predicted: np.ndarray  # the shipped model's class for every test row
    splits: pd.DataFrame  # the split results at each model's threshold (data/predictions/splits.parquet)
    variance: dict[str, Any]  # reports/variance.json (empty without split results)
    decision: dict[str, Any]  # models/decision.json: the shipped threshold and the error rates at it


# -- thresholds --------------------------------------------------------------------------------------------

# reports/metrics.json leads with these, in this order, and `dvc exp show` shows its keys in file order:
# what experiments are compared by comes first; the rest of the evaluation is in reports/evaluation.json.
HEADLINE = ("accuracy", "roc_auc", "seeds", "kfold", "gate")
HEADLINE_REST = select("balanced_accuracy", "precision_authentic", "precision_fake", "recall_authentic", "recall_fake",
                       "log_loss", "ece")
# What the threshold sweep shows at every candidate threshold (and the rules choose by).
SWEEP_METRICS = select("accuracy", "balanced_accuracy", "precision_fake", "recall_fake")


def headline(report: dict[str, Any], variance: dict[str, Any], gate: dict[str, int]) -> dict[str, Any]:
    """The shipped model's headline numbers (reports/metrics.json) from the full evaluation report: its
    accuracy and ROC AUC, the seed members' accuracy summary, the repeated k-fold mean and its interval,
    the quality gate's verdict (``gate``: ``blessed`` and ``judged``, 1 or 0, from
    :func:`pipeline.evaluation.gate.headline`, so the verdict is a column of ``dvc exp show`` and a metric in
    MLflow); last, under ``baselines``, each baseline's hold-out accuracy and ROC AUC and its k-fold mean, so
    ``dvc exp show`` has them beside the MLP's (after the headline, so they never push it aside)."""
    out: dict[str, Any] = {"accuracy": report["accuracy"], "roc_auc": report["roc_auc"],
                           "seeds": {k: report["seeds"][k] for k in ("mean", "std", "min", "max", "n")}}
    if "kfold" in variance:
        low, high = variance["kfold"]["ci"]
        out["kfold"] = {"mean": variance["kfold"]["mean"], "ci_low": low, "ci_high": high}
    out["gate"] = dict(gate)
    out |= {k: report[k] for k in HEADLINE_REST if k in report}
    out |= {"test_rows": report["test_rows"], "threshold": report["threshold"]["value"]}
    baselines = {}
    for model, m in report.get("models", {}).items():
        if model == SHIPPED:
            continue
        baselines[model] = {"accuracy": m["accuracy"]["value"], "roc_auc": m["roc_auc"]["value"]}
        kfold = variance.get("baselines", {}).get(model, {}).get("kfold")
        if kfold:
            baselines[model]["kfold_mean"] = kfold["mean"]
    return out | ({"baselines": baselines} if baselines else {})


def threshold_sweep(y: np.ndarray, prob: np.ndarray, grid: np.ndarray = THRESHOLD_GRID) -> pd.DataFrame:
    """accuracy, balanced accuracy and the fake class's precision and recall at every threshold of ``grid``."""
    y = np.broadcast_to(np.asarray(y, np.float64), (len(grid), len(y)))
    p = np.broadcast_to(np.asarray(prob, np.float64), y.shape)
    m = metrics.resampled_metrics(y, p, np.asarray(grid, np.float64)[:, None], bins=10)
    return pd.DataFrame({"threshold": np.asarray(grid, np.float64),
                         **{k: m[k] for k in SWEEP_METRICS}})


def choose_threshold(params: EvaluateParams, y_valid: np.ndarray, prob_valid: np.ndarray) -> dict[str, Any]:
    """The decision threshold by ``params.threshold_rule``, from validation rows only.

    ``balanced_accuracy``: the grid threshold with the best balanced accuracy (ties: nearest 0.5).
    ``precision_fake``: the highest threshold (most fakes caught) whose fake calls reach
    ``target_precision_fake``; if none does, the most precise one, and ``target_reached`` says so.
    """
    rule = params.threshold_rule
    out: dict[str, Any] = {"rule": rule, "chosen_on": "valid", "valid_rows": len(y_valid)}
    if rule == "fixed":
        return out | {"value": params.threshold, "chosen_on": "params.yaml"}
    if len(y_valid) == 0 or len(set(np.asarray(y_valid).astype(int))) < 2:
        raise ParamsError(f"evaluate.threshold_rule: {rule!r} needs validation rows of both classes, and the "
                          f"predictions have {len(y_valid)} (a train preset with validation_size 0?)")
    sweep = threshold_sweep(y_valid, prob_valid)
    if rule == "balanced_accuracy":
        best = sweep["balanced_accuracy"].max()
        candidates = sweep[sweep["balanced_accuracy"] == best]
        value = float(candidates.loc[(candidates["threshold"] - 0.5).abs().idxmin(), "threshold"])
        return out | {"value": value, "valid_balanced_accuracy": float(best)}
    reached = sweep[sweep["precision_fake"] >= params.target_precision_fake]
    if len(reached):
        value = float(reached["threshold"].max())
    else:
        value = float(sweep.loc[sweep["precision_fake"].idxmax(), "threshold"])
    row = sweep[sweep["threshold"] == value].iloc[0]
    return out | {"value": value, "target_precision_fake": params.target_precision_fake,
                  "target_reached": bool(len(reached)), "valid_precision_fake": float(row["precision_fake"]),
                  "valid_recall_fake": float(row["recall_fake"])}


# -- slices ------------------------------------------------------------------------------------------------

def _bins(values: np.ndarray, edges: list[float], names: list[str]) -> np.ndarray:
    return np.array(names, dtype=object)[np.digitize(values, edges)]


FOLLOWER_BINS = ([100, 1_000, 10_000], ["<100", "100-999", "1k-9.9k", ">=10k"])
RATIO_BINS = ([0.5, 2, 10], ["<0.5", "0.5-2", "2-10", ">=10"])
# Where a slicing's groups have an order (bins), the tables keep it; other groups sort by name.
SLICE_ORDER = {"followers": FOLLOWER_BINS[1], "following_per_follower": RATIO_BINS[1]}
ACCOUNT_TYPES = {1: "personal", 2: "business", 3: "creator"}
USERNAME_TYPES = {0: "other", 1: "letters.sep.letters/digits", 2: "letters+digits", 3: "letters first"}


def slice_columns(profiles: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each slicing of the profiles (rows as given) into named groups, by slicing name."""
    followers = profiles["follower_count"].to_numpy()
    following = profiles["following_count"].to_numpy()
    ratio = following / np.maximum(followers, 1)
    account_type = profiles["account_type"] if "account_type" in profiles else pd.Series([None] * len(profiles))
    return {
        "private": np.where(profiles["is_private"].to_numpy(), "private", "public"),
        "verified": np.where(profiles["is_verified"].to_numpy(), "verified", "not verified"),
        "account_type": np.array([ACCOUNT_TYPES.get(v, "unknown") if pd.notna(v) else "unknown"
                                  for v in account_type], dtype=object),
        "followers": _bins(followers, *FOLLOWER_BINS),
        "following_per_follower": _bins(ratio, *RATIO_BINS),
        "relationship": profiles["relationship"].to_numpy().astype(object),
        "username_type": np.array([USERNAME_TYPES[features.username_type(u)] for u in profiles["username"]],
                                  dtype=object),
    }


def slice_metrics(y: np.ndarray, prob: np.ndarray, threshold: float, groups: Mapping[str, np.ndarray],
                  resamples: int, seed: int) -> list[dict[str, Any]]:
    """Accuracy with a 95% bootstrap interval per slice; ``worse`` flags a slice whose whole interval lies
    below the accuracy on all test rows (slices under :data:`MIN_FLAGGED_SLICE` rows are never flagged)."""
    correct = ((np.asarray(prob) >= threshold) == (np.asarray(y) == 1)).astype(np.float64)
    whole = float(correct.mean())
    out = []
    for slicing, names in groups.items():
        present = set(names)
        for group in [g for g in SLICE_ORDER[slicing] if g in present] if slicing in SLICE_ORDER else sorted(present):
            inside = correct[names == group]
            rows = metrics.bootstrap_rows(len(inside), resamples, seed)
            lo, hi = np.percentile(inside[rows].mean(axis=1), [2.5, 97.5])
            out.append({"slicing": slicing, "slice": str(group), "rows": int(inside.size),
                        "accuracy": float(inside.mean()), "ci95": [float(lo), float(hi)],
                        "authentic_share": float(np.mean(np.asarray(y)[names == group] == 1)),
                        "worse": bool(inside.size >= MIN_FLAGGED_SLICE and hi < whole)})
    return out


# -- comparisons -------------------------------------------------------------------------------------------

def kfold_comparison(splits: pd.DataFrame, alpha: float, reference: str = SHIPPED) -> dict[str, dict[str, Any]]:
    """Per other model: the k-fold accuracy difference ``reference`` - model over the shared k-fold splits
    (members averaged per split), its corrected (1 - alpha) interval, p-value and verdict: the comparison
    ``igfake compare --against <model>`` makes, by the same function."""
    kfold = splits[splits["split"] != HOLDOUT]
    if kfold.empty:
        return {}
    per_split = kfold.drop_duplicates("split")
    ratio = intervals.test_train_ratio(per_split["test_rows"], per_split["train_rows"])
    means = {model: intervals.split_means(rows, "accuracy") for model, rows in kfold.groupby("model", sort=False)}
    out = {}
    for model, theirs in means.items():
        if model == reference:
            continue
        shared = [s for s in means[reference].index if s in theirs.index]
        if len(shared) < 2:
            continue
        c = compare.paired_metric("accuracy", theirs.loc[shared], means[reference].loc[shared], ratio, alpha)
        out[model] = {"splits": len(shared), "mean_difference": c.difference, "ci": [c.low, c.high],
                      "level": 1 - alpha, "p_value": c.p_value, "df": c.df, "verdict": c.verdict}
    return out


def holdout_comparison(y: np.ndarray, probs: Mapping[str, np.ndarray], thresholds: Mapping[str, float],
                       rows: np.ndarray, reference: str = SHIPPED) -> dict[str, dict[str, Any]]:
    """Per other model: the accuracy difference ``reference`` - model on the hold-out test rows, with a
    paired bootstrap interval (the same resampled rows for both)."""
    y = np.asarray(y) == 1

    def correct(model: str) -> np.ndarray:
        return ((np.asarray(probs[model]) >= thresholds[model]) == y).astype(np.float64)

    ref = correct(reference)
    out = {}
    for model in probs:
        if model == reference:
            continue
        diff = ref - correct(model)
        lo, hi = np.percentile(diff[rows].mean(axis=1), [2.5, 97.5])
        out[model] = {"mean_difference": float(diff.mean()), "ci95": [float(lo), float(hi)],
                      "verdict": intervals.verdict(float(lo), float(hi))}
    return out


# -- calibration -------------------------------------------------------------------------------------------

def calibration_options(y_valid: np.ndarray, z_valid: np.ndarray, y_test: np.ndarray, z_test: np.ndarray,
                        shipped: Mapping[str, Any], shipped_test: np.ndarray, bins: int,
                        rows: np.ndarray) -> dict[str, Any]:
    """Every calibration method fitted on the validation rows' logits and measured on the test rows, so a
    reviewer can see whether the shipped model needs one: its parameters, log loss, Brier score and ECE with
    95% intervals, and its log loss minus the uncalibrated model's on the same resampled rows (paired).

    ``shipped`` is the calibration train built into the model; its row uses ``shipped_test``, what the
    model outputs, rather than a refit. A method that cannot be fitted says why instead.
    """
    y_test = np.asarray(y_test).astype(int)
    test_probs: dict[str, np.ndarray] = {}
    options: dict[str, Any] = {}
    for method in calibration_lib.METHODS:
        try:
            fitted = calibration_lib.fit(method, y_valid, z_valid)
        except InputError as e:
            options[method] = {"method": method, "error": str(e).removeprefix("train.calibration: ")}
            continue
        test_probs[method] = (np.asarray(shipped_test, np.float64) if method == shipped["method"]
                              else fitted.apply(z_test))
        m = metrics.with_intervals(y_test, test_probs[method], 0.5, bins, rows)
        options[method] = fitted.to_dict() | {name: m[name] for name in CALIBRATION_METRICS}
    reference = test_probs.get("none")
    for method, p in test_probs.items():
        if method == "none" or reference is None:
            continue
        change = metrics.row_log_loss(y_test, p) - metrics.row_log_loss(y_test, reference)
        lo, hi = np.percentile(change[rows].mean(axis=1), [2.5, 97.5])
        options[method]["log_loss_change"] = {
            "mean_difference": float(change.mean()), "ci95": [float(lo), float(hi)],
            # "better" when the whole interval lies on the better side of zero (below: lower log loss is better).
            "verdict": intervals.verdict(float(lo), float(hi), METRICS["log_loss"].higher_is_better)}
    return {"shipped": shipped["method"], "fitted_on": "valid", "valid_rows": len(y_valid), "options": options}


# -- what ships, beyond one set of seeds and one hold-out ---------------------------------------------------

def shipped_seed_spread(y: np.ndarray, member_probs: np.ndarray, threshold: float, ship: str,
                        calibration: calibration_lib.Calibration, bins: int, resamples: int,
                        seed: int) -> dict[str, Any]:
    """How far the *shipped* model's test accuracy and ECE would move if it were trained again with other
    seeds: the members that ship (``train.ship``: all of them averaged, or one) drawn again with replacement
    from the study's members, ``resamples`` times, combined as the shipped model combines them (mean
    probability, then its calibration) and decided at ``threshold``.

    ``reports/evaluation.json``'s ``seeds`` is the spread of one member alone (what a single run of the
    article's recipe would see); an ensemble of 30 averages most of it away, and this is what is left.
    Against real re-seeded ensembles (``benchmarks/ship_seeds.py``) it errs high, so it is a safe bound.
    """
    y = np.asarray(y) == 1
    members = np.asarray(member_probs, np.float64)
    k = len(np.arange(members.shape[0])[predictions.shipped_index(ship)])
    draws = np.random.default_rng(seed).integers(0, members.shape[0], size=(resamples, k))
    p = members[draws].mean(axis=1)  # [resamples, test rows]
    if not calibration.is_identity:
        clipped = np.clip(p, 1e-12, 1 - 1e-12)
        p = calibration.apply(np.log(clipped) - np.log1p(-clipped))
    accuracy = ((p >= threshold) == y).mean(axis=1)
    ece = metrics.resampled_metrics(np.broadcast_to(y, p.shape), p, threshold, bins)["ece"]
    return {"members_shipped": k, "members_drawn_from": int(members.shape[0]), "resamples": resamples,
            "accuracy_std": float(accuracy.std(ddof=1)), "accuracy_mean": float(accuracy.mean()),
            "ece_mean": float(ece.mean()), "ece_std": float(ece.std(ddof=1))}


def cross_validated(table: pd.DataFrame, threshold: float, bins: int, resamples: int,
                    seed: int) -> dict[str, Any] | None:
    """The shipped recipe on *every* labelled row, each scored by the k-fold model that held it out
    (``prob_cv``, as the shipped model would give it): its metrics with bootstrap intervals over five times
    the hold-out's rows, and the ECE floor at that many rows (:func:`metrics.ece_floor`). None without a
    k-fold study (``train.split.repeats: 0``).

    On the 200 hold-out rows a perfectly calibrated model shows an ECE of about 0.03, so the hold-out's ECE
    cannot tell 0.02 from 0.03; on 1,000 rows the floor is about 0.013 and it can.
    """
    if "prob_cv" not in table:
        return None
    cv = table["prob_cv"].to_numpy(np.float64)
    if not len(cv) or not np.isfinite(cv).all():
        return None
    y = table["label"].to_numpy().astype(int)
    rows = metrics.bootstrap_rows(len(y), resamples, seed)
    m = metrics.with_intervals(y, cv, threshold, bins, rows)
    return {"rows": len(y), "from": "k-fold models that held each row out (the first repeat)",
            **{name: m[name] for name in select("accuracy", "roc_auc", "log_loss", "brier", "ece")},
            "ece_floor": metrics.ece_floor(cv, bins, resamples, seed)}


# -- the whole evaluation ----------------------------------------------------------------------------------

def model_probabilities(table: pd.DataFrame) -> dict[str, str]:
    """The probability column of every model: the shipped MLP first, then the baselines."""
    return {SHIPPED: "prob", **predictions.baseline_columns(table.columns)}


def evaluate(table: pd.DataFrame, params: EvaluateParams, alpha: float, profiles: pd.DataFrame | None = None,
             scores: pd.DataFrame | None = None, calibration: Mapping[str, Any] | None = None,
             ship: str = "ensemble") -> Evaluation:
    """Everything evaluate reports, from train's predictions (and, when given, label-import's profiles with
    their ``truth``, train's scores on every split, the shipped model's ``calibration`` as train
    recorded it and ``ship``, ``train.ship``: what the shipped model is made of). The thresholds are
    chosen here, once, and everything that decides uses them: the hold-out metrics, the split results
    (``scores``, scored at each model's threshold), the variance decomposition, the seed redraws and the
    decision the shipped model ships with."""
    valid, test = table[table["split"] == "valid"], table[table["split"] == "test"]
    y = test["label"].to_numpy().astype(int)
    bins = params.calibration_bins
    rows = metrics.bootstrap_rows(len(test), params.bootstrap, params.bootstrap_seed)
    columns = model_probabilities(table)

    thresholds = {model: choose_threshold(params, valid["label"].to_numpy(), valid[col].to_numpy())
                  for model, col in columns.items()}
    cut = {model: float(t["value"]) for model, t in thresholds.items()}
    probs = {model: test[col].to_numpy().astype(np.float64) for model, col in columns.items()}
    models = {model: metrics.with_intervals(y, probs[model], cut[model], bins, rows) for model in columns}

    shipped, threshold = probs[SHIPPED], cut[SHIPPED]
    seed_cols = dict(sorted(predictions.seed_columns(test.columns).items()))
    member_probs = np.stack([test[col].to_numpy().astype(np.float64) for col in seed_cols.values()])
    per_seed = metrics.resampled_metrics(np.broadcast_to(y, member_probs.shape), member_probs, threshold, bins)
    seed_accuracy = {seed: float(a) for seed, a in zip(seed_cols, per_seed["accuracy"], strict=True)}

    report: dict[str, Any] = {name: m["value"] for name, m in models[SHIPPED].items()}
    report["test_rows"] = len(test)
    report["threshold"] = thresholds[SHIPPED]
    report["intervals"] = {name: m["ci95"] for name, m in models[SHIPPED].items()}
    report["seeds"] = metrics.summarize(list(seed_accuracy.values()))
    report["seed_metrics"] = {name: metrics.summarize(per_seed[name]) for name in metrics.INTERVAL_METRICS}
    # What the ECE above would be for a perfectly calibrated model on as many test rows: its noise floor.
    report["ece_floor"] = metrics.ece_floor(shipped, bins, params.bootstrap, params.bootstrap_seed)
    shipped_calibration = calibration_lib.from_dict(calibration) if calibration else calibration_lib.IDENTITY
    report["seeds_shipped"] = shipped_seed_spread(y, member_probs, threshold, ship, shipped_calibration, bins,
                                                  params.bootstrap, params.bootstrap_seed)
    out_of_fold = cross_validated(table, threshold, bins, params.bootstrap, params.bootstrap_seed)
    if out_of_fold is not None:
        report["cross_validated"] = out_of_fold
    report["models"] = {model: {"threshold": cut[model], **m} for model, m in models.items()}
    report["comparison"] = {"holdout": holdout_comparison(y, probs, cut, rows)}
    splits = split_results.results(scores, cut) if scores is not None else None
    if splits is not None:
        report["comparison"]["kfold"] = kfold_comparison(splits, alpha)
    if calibration is not None and len(valid) and "logit" in table and table["logit"].notna().all():
        report["calibration"] = calibration_options(valid["label"].to_numpy(), valid["logit"].to_numpy(), y,
                                                    test["logit"].to_numpy(), calibration, shipped, bins, rows)

    slices: list[dict[str, Any]] = []
    if profiles is not None:
        joined = test[["pk"]].merge(profiles, on="pk", how="left", validate="one_to_one")
        if joined["username"].isna().any():
            missing = int(joined["username"].isna().sum())
            raise InputError(f"{missing} test row(s) of the predictions have a pk missing from the labelled "
                             f"profiles (label-import and train out of step: run dvc repro)")
        if "truth" in joined and joined["truth"].notna().all():
            report["truth"] = label_noise(y, joined["truth"].to_numpy().astype(int), probs, cut, rows)
        slices = slice_metrics(y, shipped, threshold, slice_columns(joined), params.bootstrap, params.bootstrap_seed)

    return Evaluation(
        report=report,
        slices=slices,
        seed_accuracy=seed_accuracy,
        confusion=metrics.confusion(y, shipped, threshold),
        roc=metrics.roc_points(y, shipped),
        pr={model: metrics.precision_recall_points(y, p) for model, p in probs.items()},
        reliability={model: metrics.reliability(y, p, bins) for model, p in probs.items()},
        sweep=_both_sweeps(valid, test),
        kfold=_kfold_table(splits),
        actual=np.where(y == LABEL_VALUE[AUTHENTIC], AUTHENTIC, FAKE),
        predicted=np.where(shipped >= threshold, AUTHENTIC, FAKE),
        splits=splits if splits is not None else pd.DataFrame(columns=list(split_results.COLUMNS)),
        variance=variance_lib.report(splits, alpha, SHIPPED) if splits is not None and len(splits) else {},
        decision=shipped_decision(table, thresholds[SHIPPED]),
    )


def shipped_decision(table: pd.DataFrame, chosen: Mapping[str, Any]) -> dict[str, Any]:
    """``models/decision.json``: the shipped model's threshold as the rule chose it (``chosen``), and the
    shipped recipe's decisions against the labels at it on held-out rows, the error rates the audit
    corrects for: cross-validated (``prob_cv``: every labelled row scored by k-fold models that held it
    out, five times the hold-out's rows) when train ran the k-fold study, else the hold-out's test rows."""
    threshold = float(chosen["value"])
    cv = table["prob_cv"].to_numpy(np.float64) if "prob_cv" in table else np.array([np.nan])
    if len(cv) and np.isfinite(cv).all():
        labels, authentic, where = table["label"].to_numpy(), cv >= threshold, "cross-validated, all labelled rows"
    else:
        test = table[table["split"] == "test"]
        labels, authentic, where = test["label"].to_numpy(), test["prob"].to_numpy() >= threshold, \
            "shipped model, test rows"
    decision = decision_lib.Decision(threshold, str(chosen["rule"]), str(chosen["chosen_on"]),
                                     decision_lib.counts(labels, authentic), where)
    return decision_lib.write_dict(decision, chosen)


def label_noise(y: np.ndarray, truth: np.ndarray, probs: Mapping[str, np.ndarray], thresholds: Mapping[str, float],
                rows: np.ndarray) -> dict[str, Any]:
    """Each model's accuracy against the labels and against the truth on the test rows (with intervals),
    and how often the labels themselves are wrong there."""
    def interval(correct: np.ndarray) -> dict[str, Any]:
        lo, hi = np.percentile(correct[rows].mean(axis=1), [2.5, 97.5])
        return {"value": float(correct.mean()), "ci95": [float(lo), float(hi)]}

    out: dict[str, Any] = {"label_error_rate": interval((y != truth).astype(np.float64))}
    for model, p in probs.items():
        called = (np.asarray(p) >= thresholds[model]).astype(int)
        out[model] = {"accuracy_vs_labels": interval((called == y).astype(np.float64)),
                      "accuracy_vs_truth": interval((called == truth).astype(np.float64))}
    return out


def _both_sweeps(valid: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    on_test = threshold_sweep(test["label"].to_numpy(), test["prob"].to_numpy())
    if len(valid) and len(set(valid["label"])) == 2:
        on_valid = threshold_sweep(valid["label"].to_numpy(), valid["prob"].to_numpy())
        return on_valid.merge(on_test, on="threshold", suffixes=("_valid", "_test"))
    return on_test.add_suffix("_test").rename(columns={"threshold_test": "threshold"})


def _kfold_table(splits: pd.DataFrame | None) -> pd.DataFrame:
    if splits is None:
        return pd.DataFrame(columns=["model", "split", "member_seed", "accuracy"])
    kfold = splits[splits["split"] != HOLDOUT]
    return kfold[["model", "split", "member_seed", "accuracy"]].reset_index(drop=True)


def histogram(values: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """(counts, edges) over :data:`HISTOGRAM_EDGES`; values below the first edge count in the first bin."""
    clipped = np.clip(np.asarray(values, float), HISTOGRAM_EDGES[0], HISTOGRAM_EDGES[-1])
    return np.histogram(clipped, bins=HISTOGRAM_EDGES)[0], HISTOGRAM_EDGES


def plot_tables(ev: Evaluation) -> dict[str, pd.DataFrame]:
    """DVC's plot data, by plot name (see ``PLOT_DATA`` in the evaluate stage)."""
    counts, edges = histogram(list(ev.seed_accuracy.values()))
    reliability = pd.DataFrame(ev.reliability[SHIPPED])
    return {
        "roc": pd.DataFrame(ev.roc),
        "confusion": pd.DataFrame({"actual": ev.actual, "predicted": ev.predicted}),
        "seed_accuracy": pd.DataFrame({"seed": list(ev.seed_accuracy), "accuracy": list(ev.seed_accuracy.values())}),
        "seed_accuracy_histogram": pd.DataFrame({"bin_start": edges[:-1], "bin_end": edges[1:], "seeds": counts}),
        "kfold_accuracy": ev.kfold[ev.kfold["model"] == SHIPPED].drop(columns="model"),
        "precision_recall": pd.DataFrame(ev.pr[SHIPPED]),
        "calibration": reliability,
        "threshold_sweep": ev.sweep,
    }
