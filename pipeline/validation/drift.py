"""Drift of a features table against a reference: per feature, the label prior and the model's scores.

The reference is the features table (``pk``, ``label``, the feature set's columns) of the data the accepted
model was trained on, with that model's probability ``prob`` per row: ``data/baseline/reference.parquet``,
written by ``igfake baseline`` beside the gate's baseline (:func:`reference_table`).

What is compared with what. A crawl with a different class mix is not a broken crawl: the features'
marginals move with the label prior, but P(features | label) does not. So when both tables carry labels,
each feature is compared *within each label* (reference authentic rows against current authentic rows,
then fake against fake), and the prior is tested on its own: a class-mix change flags the prior, not the
features. Without labels (an audited account's followers), the reference is first subsampled to a given
authentic share (:func:`at_prior`, the audit's own estimate), so the prevalence the audit measures is not
mistaken for drift; with no share at all the marginals are compared as they are.

Tests and distances, by sample size (the defaults Evidently uses, ``drift.large_sample`` = 1000): when the
smaller side of a group has at most ``large_sample`` rows, a two-sample test, Kolmogorov-Smirnov for a
numeric feature and chi-squared on the contingency table for a categorical one (int8 columns: the flags and
codes of :mod:`pipeline.features`); a feature drifts when a p-value, Bonferroni-corrected over every test of
the report (features and score, times groups), is below ``drift.alpha``. On larger groups every test rejects
a negligible difference, so a distance decides instead: Wasserstein divided by the reference's standard
deviation (heavy-tailed counts on log1p, as the model sees them) above ``drift.max_wasserstein``, or the
Jensen-Shannon distance (base 2, 0..1) above ``drift.max_jensen_shannon``. The population stability index
(PSI, over the reference's deciles or categories) is reported beside every feature for comparison with other
tools; it decides nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats
from scipy.spatial.distance import jensenshannon

from pipeline import features
from pipeline.core import paths, reports
from pipeline.core.errors import InputError
from pipeline.core.params import DriftParams
from pipeline.core.vocabulary import AUTHENTIC, FAKE, LABEL_VALUE
from pipeline.evaluation import splits

SCORE = "prob"  # the shipped model's P(authentic): the predictions' column, and the reference's
NO_DRIFT, PRIOR_SHIFT, DRIFT = "no drift", "prior shift only", "drift"
# An empty bin's share in the PSI: ln(0) is undefined, and this is the usual floor.
_PSI_FLOOR = 1e-4


def is_categorical(feature: features.Feature) -> bool:
    """Flags and codes (username type, story archive setting) are int8 in :mod:`pipeline.features`."""
    return feature.dtype == pa.int8()


def scored(table: pa.Table, predictions: pa.Table | None, feature_set: str,
           name: str = "features table") -> pa.Table:
    """A features table's ``pk``, ``label`` (when it has one) and features, with the shipped model's ``prob``
    joined on ``pk`` (null where it has none; no column without ``predictions``). ``name``: the table in messages."""
    columns = [c for c in ("pk", "label") if c in table.column_names] + features.feature_names(feature_set)
    missing = [c for c in features.feature_names(feature_set) if c not in table.column_names]
    if missing:
        raise InputError(f"{name}: no column {missing[0]!r} (feature set {feature_set})")
    table = table.select(columns)
    if predictions is not None and "pk" in table.column_names:
        probs = dict(zip(predictions.column("pk").to_pylist(), predictions.column(SCORE).to_pylist(), strict=True))
        table = table.append_column(SCORE, pa.array([probs.get(pk) for pk in table.column("pk").to_pylist()],
                                                    pa.float64()))
    return table


def reference_table(table: pa.Table, predictions: pa.Table | None, feature_set: str, rows: int,
                    seed: int) -> pa.Table:
    """The reference: :func:`scored`, at most ``rows`` rows (a seeded sample of them, in their order)."""
    table = scored(table, predictions, feature_set, paths.shown(paths.FEATURES))
    if table.num_rows > rows:
        keep = np.sort(np.random.default_rng(seed).choice(table.num_rows, size=rows, replace=False))
        table = table.take(pa.array(keep))
    return table


def read_table(source: Path | bytes, name: str) -> pa.Table:
    """A features table (or the reference) from a path or bytes, read at the edge by the one Parquet reader
    (:func:`pipeline.evaluation.splits.read_parquet`); ``name`` in messages."""
    return splits.read_parquet(source, name, "rewrite it (`dvc repro`, or `igfake baseline` for the reference)")


def at_prior(reference: pa.Table, authentic_share: float, seed: int) -> pa.Table:
    """The largest seeded subsample of the labelled ``reference`` whose authentic share is ``authentic_share``:
    what the reference would look like with that prevalence and nothing else changed."""
    labels = reference.column("label").to_numpy()
    authentic = np.flatnonzero(labels == LABEL_VALUE[AUTHENTIC])
    fake = np.flatnonzero(labels == LABEL_VALUE[FAKE])
    share = min(max(authentic_share, 0.0), 1.0)
    # n_a / (n_a + n_f) = share, each no larger than what the reference has.
    n_a = len(authentic) if share == 1 else min(len(authentic), int(share / (1 - share) * len(fake)))
    n_f = len(fake) if share == 0 else min(len(fake), int((1 - share) / share * n_a))
    rng = np.random.default_rng(seed)
    keep = np.concatenate([rng.choice(authentic, n_a, replace=False), rng.choice(fake, n_f, replace=False)])
    return reference.take(pa.array(np.sort(keep)))


def authentic_share(table: pa.Table) -> float:
    """The share of a labelled table's rows labelled authentic."""
    labels = table.column("label").to_numpy()
    return float(np.mean(labels == LABEL_VALUE[AUTHENTIC])) if len(labels) else 0.0


def _values(table: pa.Table, name: str, log: bool) -> np.ndarray:
    column = table.column(name)
    values = pc.drop_null(column).to_numpy(zero_copy_only=False).astype(np.float64)
    return np.log1p(np.maximum(values, 0.0)) if log else values


def _counts(values: np.ndarray, categories: np.ndarray) -> np.ndarray:
    return np.array([(values == v).sum() for v in categories], float)


def psi(reference: np.ndarray, current: np.ndarray, categorical: bool, bins: int) -> float:
    """Population stability index of ``current`` against ``reference`` (categories, or reference quantile bins)."""
    if categorical:
        edges = np.union1d(np.unique(reference), np.unique(current))
        ref_counts, cur_counts = _counts(reference, edges), _counts(current, edges)
    else:
        cuts = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
        ref_counts = np.bincount(np.searchsorted(cuts, reference, side="right"), minlength=len(cuts) + 1)
        cur_counts = np.bincount(np.searchsorted(cuts, current, side="right"), minlength=len(cuts) + 1)
    r = np.maximum(ref_counts / max(ref_counts.sum(), 1), _PSI_FLOOR)
    c = np.maximum(cur_counts / max(cur_counts.sum(), 1), _PSI_FLOOR)
    return float(np.sum((c - r) * np.log(c / r)))


def _compare(reference: np.ndarray, current: np.ndarray, categorical: bool, params: DriftParams) -> dict[str, Any]:
    """One group of one feature: the test or distance its size calls for (see the module's docstring)."""
    out: dict[str, Any] = {"rows": {"reference": len(reference), "current": len(current)}}
    if len(reference) == 0 or len(current) == 0:
        return {**out, "test": None}
    out["psi"] = round(psi(reference, current, categorical, params.psi_bins), 6)
    categories = np.union1d(np.unique(reference), np.unique(current))
    if min(len(reference), len(current)) <= params.large_sample:
        if categorical:
            counts = np.array([_counts(reference, categories), _counts(current, categories)])
            if counts.shape[1] < 2:  # one value on both sides: nothing can differ
                return {**out, "test": "chi2", "statistic": 0.0, "p_value": 1.0}
            result = stats.chi2_contingency(counts)
            return {**out, "test": "chi2", "statistic": float(result.statistic), "p_value": float(result.pvalue)}
        result = stats.ks_2samp(reference, current)
        return {**out, "test": "ks", "statistic": float(result.statistic), "p_value": float(result.pvalue)}
    if categorical:
        p = np.array([(reference == v).mean() for v in categories])
        q = np.array([(current == v).mean() for v in categories])
        distance = float(jensenshannon(p, q, base=2))
        return {**out, "test": "jensen_shannon", "distance": distance,
                "drifted": bool(distance > params.max_jensen_shannon)}
    scale = float(np.std(reference)) or 1.0
    distance = float(stats.wasserstein_distance(reference, current)) / scale
    return {**out, "test": "wasserstein", "distance": distance, "drifted": bool(distance > params.max_wasserstein)}


def _groups(reference: pa.Table, current: pa.Table, by_label: bool) -> list[tuple[str, pa.Table, pa.Table]]:
    if not by_label:
        return [("all", reference, current)]
    out = []
    for name in (AUTHENTIC, FAKE):
        value = LABEL_VALUE[name]
        out.append((name, reference.filter(pc.equal(reference.column("label"), value)),
                    current.filter(pc.equal(current.column("label"), value))))
    return out


def prior_shift(reference: pa.Table, current: pa.Table, alpha: float) -> dict[str, Any]:
    """The authentic share on both sides and a chi-squared test of the 2x2 table of label counts."""
    codes = np.array([LABEL_VALUE[AUTHENTIC], LABEL_VALUE[FAKE]])
    counts = np.array([_counts(t.column("label").to_numpy(), codes) for t in (reference, current)])
    shares = counts[:, 0] / np.maximum(counts.sum(axis=1), 1)
    p_value = 1.0 if (counts.sum(axis=0) == 0).any() else float(stats.chi2_contingency(counts).pvalue)
    return {"test": "chi2", "authentic_share": {"reference": round(float(shares[0]), 6),
                                                "current": round(float(shares[1]), 6)},
            "difference": round(float(shares[1] - shares[0]), 6), "p_value": p_value, "shifted": p_value < alpha}


def drift(reference: pa.Table, current: pa.Table, feature_set: str, params: DriftParams,
          authentic_share: float | None = None) -> dict[str, Any]:
    """The drift report of ``current`` against ``reference`` (both features tables; see the module docstring).

    Both labelled: per feature within each label, and the label prior. ``current`` unlabelled: against the
    reference subsampled to ``authentic_share`` if given, else against its marginals.
    """
    names = features.feature_names(feature_set)
    for side, table in (("reference", reference), ("current", current)):
        missing = [n for n in names if n not in table.column_names]
        if missing:
            raise InputError(f"{side} table: no feature column {missing[0]!r} (feature set {feature_set}); "
                             f"its columns: {', '.join(table.column_names)}")
    labelled = "label" in current.column_names and "label" in reference.column_names
    method = "within_label" if labelled else ("at_prior" if authentic_share is not None else "marginal")
    if method == "at_prior":
        reference = at_prior(reference, authentic_share, params.seed)
    groups = _groups(reference, current, labelled)
    kinds = {f.name: f for f in features.FEATURE_SETS[feature_set]}
    columns = [(n, is_categorical(kinds[n]), kinds[n].heavy_tailed) for n in names]
    if SCORE in reference.column_names and SCORE in current.column_names:
        columns.append((SCORE, False, False))
    results: dict[str, dict[str, Any]] = {}
    for name, categorical, log in columns:
        results[name] = {"categorical": categorical,
                         "by_group": {g: _compare(_values(r, name, log), _values(c, name, log), categorical, params)
                                      for g, r, c in groups}}
    tests = sum(1 for r in results.values() for g in r["by_group"].values() if "p_value" in g)
    for r in results.values():
        for g in r["by_group"].values():
            if "p_value" in g:
                g["p_adjusted"] = min(1.0, g["p_value"] * tests)  # Bonferroni: the family is the whole report
                g["drifted"] = g["p_adjusted"] < params.alpha
        r.update(_summary(r["by_group"]))
    score = results.pop(SCORE, None)
    drifted = [n for n, r in results.items() if r["drifted"]]
    prior = prior_shift(reference, current, params.alpha) if labelled else None
    # The scores' shift is reported, not judged: the reference's scores are the accepted model's and the
    # current ones a retrained model's, so they move whenever training does (simulator.seed 7: no feature
    # drifts, the scores do). Drift is a property of the data.
    if drifted:
        verdict = DRIFT
    elif prior and prior["shifted"]:
        verdict = PRIOR_SHIFT
    else:
        verdict = NO_DRIFT
    report = {
        "feature_set": feature_set,
        "method": method,
        "rows": {"reference": reference.num_rows, "current": current.num_rows},
        "alpha": params.alpha, "correction": "bonferroni", "tests": tests, "large_sample": params.large_sample,
        "features": results, "score": score, "prior": prior,
        "drifted_features": drifted, "verdict": verdict,
    }
    # What the report, the CI report and MLflow show, so they read the JSON and import nothing of this module.
    return {**report, "summary": summary_line(report), "headline": headline(report)}


def _summary(by_group: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A feature's line over its groups: the worst group decides."""
    judged = [g for g in by_group.values() if g.get("test")]
    out: dict[str, Any] = {"test": judged[0]["test"] if judged else None,
                           "drifted": any(g.get("drifted", False) for g in judged)}
    if judged and "p_value" in judged[0]:
        out["p_value"] = min(g["p_value"] for g in judged)
        out["p_adjusted"] = min(g["p_adjusted"] for g in judged)
    if judged and "distance" in judged[0]:
        out["distance"] = max(g["distance"] for g in judged)
    if judged:
        out["psi"] = max(g["psi"] for g in judged)
    return out


def summary_line(report: dict[str, Any]) -> str:
    """One line: the verdict, what drifted, the prior."""
    parts = [report["verdict"]]
    if report["drifted_features"]:
        parts.append("drifted: " + ", ".join(report["drifted_features"]))
    if report.get("score") and report["score"]["drifted"]:
        parts.append("the model's scores drifted")
    prior = report.get("prior")
    if prior:
        shares = prior["authentic_share"]
        parts.append(f"authentic share {shares['reference']:.3f} -> {shares['current']:.3f} (p={prior['p_value']:.3g})")
    return "; ".join(parts)


def headline(report: dict[str, Any]) -> dict[str, float]:
    """The numbers MLflow logs (as ``drift.<key>``): how many features drifted, the largest PSI, whether the
    verdict is drift, the prior's difference and whether it shifted."""
    psis = [r["psi"] for r in report["features"].values() if "psi" in r]
    out = {"features_drifted": len(report["drifted_features"]), "max_psi": max(psis) if psis else 0.0,
           "drifted": int(report["verdict"] == DRIFT)}
    if report.get("prior"):
        out["prior_difference"] = report["prior"]["difference"]
        out["prior_shifted"] = int(report["prior"]["shifted"])
    return out


def read_report(path: Path) -> dict[str, Any] | None:
    """``reports/drift.json`` read back (evaluate, track, ci-report), checked at the edge: None when there is
    none (stage validate has not run); one line naming the file and the field when it is not one
    :func:`drift` writes."""
    shown, fix = paths.shown(path), "`dvc repro validate` rewrites it"
    report = reports.read_json_object(path, shown, "a drift report", fix)
    if report is None:
        return None
    verdict, summary = report.get("verdict"), report.get("summary")
    if verdict not in (NO_DRIFT, PRIOR_SHIFT, DRIFT):
        raise InputError(f"{shown}: verdict: expected one of {NO_DRIFT!r}, {PRIOR_SHIFT!r}, {DRIFT!r}, "
                         f"got {verdict!r}; {fix}")
    if not isinstance(summary, str) or not summary.startswith(verdict):
        raise InputError(f"{shown}: summary: expected a line that starts with the verdict, got {summary!r}; {fix}")
    found, drifted = report.get("features"), report.get("drifted_features")
    if not isinstance(found, dict) or not all(isinstance(r, dict) and isinstance(r.get("drifted"), bool)
                                              for r in found.values()):
        raise InputError(f"{shown}: features: expected an object of {{drifted: true/false, ...}} per feature; {fix}")
    if not isinstance(drifted, list) or sorted(drifted) != sorted(n for n, r in found.items() if r["drifted"]):
        raise InputError(f"{shown}: drifted_features: expected exactly the features marked drifted; {fix}")
    if (verdict == DRIFT) != bool(drifted):
        raise InputError(f"{shown}: verdict: {verdict!r} contradicts what drifted ({', '.join(drifted) or 'nothing'}); "
                         f"{fix}")
    return report
