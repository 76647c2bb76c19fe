"""The labels most likely wrong: confident learning (cleanlab) on out-of-fold probabilities.

``reports/label_issues.json`` (stage ``label-issues``) lists the labelled profiles whose label the
cross-validated models disagree with most, worst first, and ``igfake label --review`` shows them first.

Which probabilities: train's k-fold study, from ``data/predictions/scores.parquet``. Out-of-fold is what
confident learning needs (a model that saw a row's label would echo it), and train computes it anyway, so
this stage fits nothing. For each model of ``label_issues.models`` (the shipped MLP, a baseline of
``train.baselines.models``) a row's probability is its members' mean in each split that held it out,
averaged over every k-fold repeat; the models' probabilities are then averaged. Both averages lower the
noise of one fold's estimate, and two model families err on different rows: on 5% of the default data's
labels flipped, the mean of the MLP's and the forest's flags the flips more precisely than either alone
(``benchmarks/label_noise.py``, docs/labelling.md).

Which rows: cleanlab's :func:`cleanlab.filter.find_label_issues` with ``label_issues.filter_by`` (default
``prune_by_noise_rate``, cleanlab's own: it estimates from the confident joint how many labels of each
class are wrong and flags that many per class, the least confident first), ranked by cleanlab's
self-confidence label quality score, P(given label) out of fold: the lower, the likelier wrong.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core import paths, reports
from pipeline.core.errors import InputError
from pipeline.core.vocabulary import AUTHENTIC, FAKE, HOLDOUT, LABEL_NAME, LABEL_VALUE

RANKED_BY = "self_confidence"
ISSUE_FIELDS = ("rank", "pk", "label", "suggested", "score")
# The columns of data/predictions/scores.parquet this stage reads.
SCORE_COLUMNS = ("model", "split", "pk", "label", "prob")


@dataclass(frozen=True)
class OutOfFold:
    """Every labelled row once: its pk, given label value and out-of-fold P(authentic)."""

    pks: np.ndarray
    labels: np.ndarray
    prob: np.ndarray
    models: tuple[str, ...]  # whose probabilities were averaged
    left_out: tuple[str, ...]  # asked for, but not fitted
    repeats: int  # k-fold repeats averaged per model

    @property
    def described(self) -> str:
        """What the report's ``probabilities`` says they are."""
        text = f"out-of-fold P(authentic), mean over {self.repeats} k-fold repeat(s) of " + " and ".join(self.models)
        return text + (f" ({' and '.join(self.left_out)}: not fitted, left out)" if self.left_out else "")


def not_probabilities(values: Any) -> int:
    """How many of ``values`` are not a probability in 0..1 (NaN compares false: counted too)."""
    p = np.asarray(values, np.float64)
    return int((~((p >= 0) & (p <= 1))).sum())


def out_of_fold(scores: pd.DataFrame, models: Sequence[str], where: str) -> OutOfFold | None:
    """The out-of-fold P(authentic) of ``models`` from train's scores (the module docstring says how they
    are averaged), row for row in pk order; None when train ran no k-fold study (``train.split.repeats: 0``).

    A model the scores do not hold (not in ``train.baselines.models``) is left out, and ``described`` says
    so: a sweep without baselines still ranks the labels, on the MLP's. None of them, or a model that misses
    a row another one scored, stops with one line naming ``where`` (the scores' file).
    """
    kfold = scores[scores["split"] != HOLDOUT]
    if kfold.empty:
        return None
    broken = not_probabilities(kfold["prob"])  # averaging would hide a NaN: checked before it
    if broken:
        raise InputError(f"{where}: {broken} of {len(kfold)} k-fold scores are not probabilities in 0..1 "
                         "(NaN or out of range); run `dvc repro train`")
    fitted = set(kfold["model"])
    used, left_out = [m for m in models if m in fitted], [m for m in models if m not in fitted]
    if not used:
        raise InputError(f"label_issues.models: none of {list(models)} has k-fold scores in {where} (it has "
                         f"{sorted(fitted)}); add them to train.baselines.models, or name one it has")
    per_model, repeats = [], 0
    for model in used:
        rows = kfold[kfold["model"] == model]
        # The members' mean in each split, then the mean over the repeats (every repeat holds each row out once).
        by_split = rows.groupby(["split", "pk"], sort=False)["prob"].mean()
        per_model.append(by_split.groupby(level="pk").mean().rename(model))
        repeats = max(repeats, int(by_split.groupby(level="pk").size().max()))
    joined = pd.concat(per_model, axis=1, join="outer").sort_index()
    missing = joined.isna().any(axis=1)
    if missing.any():
        raise InputError(f"{where}: {int(missing.sum())} rows have k-fold scores from some of "
                         f"label_issues.models {used} only; run `dvc repro train`")
    labels = kfold.groupby("pk")["label"].agg(["min", "max"]).loc[joined.index]
    if (labels["min"] != labels["max"]).any():
        raise InputError(f"{where}: a row has two labels in the k-fold scores; run `dvc repro train`")
    return OutOfFold(joined.index.to_numpy(np.int64), labels["min"].to_numpy(np.int64),
                     joined.mean(axis=1).to_numpy(np.float64), tuple(used), tuple(left_out), repeats)


def class_probabilities(prob_authentic: np.ndarray) -> np.ndarray:
    """[N, 2] probabilities, column k the class of label value k (0 fake, 1 authentic)."""
    p = np.asarray(prob_authentic, np.float64)
    by_value = {LABEL_VALUE[AUTHENTIC]: p, LABEL_VALUE[FAKE]: 1.0 - p}
    return np.column_stack([by_value[value] for value in sorted(by_value)])


def find(pks: np.ndarray, labels: np.ndarray, prob_authentic: np.ndarray, filter_by: str,
         where: object) -> list[dict[str, Any]]:
    """The label issues, worst first: rank (1 = likeliest wrong), pk, given label, suggested label (the
    out-of-fold model's class) and score (cleanlab's self-confidence: P(given label), 0..1).

    ``labels`` are label values (1 authentic, 0 fake); ``prob_authentic`` out-of-fold P(authentic);
    ``filter_by`` cleanlab's (``label_issues.filter_by``). A missing probability (NaN) or a label outside
    the domain stops with a line naming ``where``.
    """
    from cleanlab.filter import find_label_issues  # only this stage needs it
    from cleanlab.rank import get_label_quality_scores

    labels = np.asarray(labels).astype(np.int64)
    p = np.asarray(prob_authentic, np.float64)
    if not len(labels):
        raise InputError(f"{where}: no labelled rows")
    broken = not_probabilities(p)
    if broken:
        raise InputError(f"{where}: {broken} of {len(p)} rows have no out-of-fold probability in 0..1 "
                         f"(NaN or out of range); run `dvc repro train`")
    bad = sorted(set(np.unique(labels).tolist()) - set(LABEL_NAME))
    if bad:
        raise InputError(f"{where}: label {bad[0]} is not one of {sorted(LABEL_NAME)}")
    probs = class_probabilities(p)
    if len(np.unique(labels)) < len(LABEL_NAME):
        return []  # one class only: nothing to contrast a label with (train refuses such data anyway)
    flagged = find_label_issues(labels, probs, filter_by=filter_by, return_indices_ranked_by=RANKED_BY)
    scores = get_label_quality_scores(labels, probs, method=RANKED_BY)
    return [{"rank": rank, "pk": int(pks[i]), "label": LABEL_NAME[int(labels[i])],
             "suggested": LABEL_NAME[int(np.argmax(probs[i]))], "score": round(float(scores[i]), 6)}
            for rank, i in enumerate(flagged, start=1)]


# What the report says instead when train ran no k-fold study: a run without one still completes.
NO_STUDY = "no out-of-fold probabilities (train.split.repeats: 0): nothing ranked"


def rank(scores: pd.DataFrame, models: Sequence[str], filter_by: str, rows: int,
         truth_wrong: Mapping[int, bool] | None = None, where: str = "scores") -> dict[str, Any]:
    """``reports/label_issues.json`` from train's scores: :func:`find`'s issues on :func:`out_of_fold`'s
    probabilities in :func:`report`, or, without a k-fold study, an empty report that says why."""
    oof = out_of_fold(scores, models, where)
    if oof is None:
        return report([], rows, filter_by, "none", truth_wrong, note=NO_STUDY)
    found = find(oof.pks, oof.labels, oof.prob, filter_by, where=f"{where}: {' and '.join(oof.models)}")
    return report(found, len(oof.pks), filter_by, oof.described, truth_wrong)


def report(issues: list[dict[str, Any]], rows: int, filter_by: str, probabilities: str,
           truth_wrong: Mapping[int, bool] | None = None, note: str | None = None) -> dict[str, Any]:
    """``reports/label_issues.json``: how the issues were found, how many, and the issues worst first.

    ``truth_wrong`` (pk -> label differs from the truth, where the truth is known: the simulator) adds how
    many of the flags are real annotator mistakes and how many of those mistakes are flagged; ``note`` says
    why nothing was ranked.
    """
    out: dict[str, Any] = {
        "probabilities": probabilities, "filter_by": filter_by, "ranked_by": RANKED_BY,
        "rows": rows, "flagged": len(issues), "flagged_share": round(len(issues) / rows, 6) if rows else 0.0,
    }
    if note is not None:
        out["note"] = note
    if truth_wrong is not None:
        mistakes = sum(truth_wrong.values())
        hits = sum(truth_wrong.get(i["pk"], False) for i in issues)
        out["against_truth"] = {
            "mistakes": mistakes, "flagged_mistakes": hits,
            "precision": round(hits / len(issues), 6) if issues else None,
            "recall": round(hits / mistakes, 6) if mistakes else None,
        }
    out["issues"] = issues
    return out


def read_report(path: Path, shown: str | None = None) -> dict[str, Any] | None:
    """``reports/label_issues.json`` read back (evaluate, ``igfake label --review``), checked at the edge: None
    when there is none; one line naming the file (``shown``) and the field when it is not one :func:`report`
    writes."""
    shown, fix = shown or paths.shown(path), "`dvc repro label-issues` rewrites it"
    data = reports.read_json_object(path, shown, "a label issues report", fix)
    if data is None:
        return None
    issues = data.get("issues")
    if not isinstance(issues, list) or not all(
            isinstance(i, dict) and isinstance(i.get("pk"), int) and not isinstance(i.get("pk"), bool)
            and isinstance(i.get("rank"), int) for i in issues):
        raise InputError(f"{shown}: not a label issues report (issues: expected a list of {{rank, pk, ...}} with "
                         "integer rank and pk); `dvc repro label-issues` rewrites it")
    return data


def read(path: Path, name: str) -> list[int]:
    """The flagged pks of ``path`` (``reports/label_issues.json``), worst first; ``name`` in messages."""
    data = read_report(path, name)
    if data is None:
        raise InputError(f"{name}: not found; run `dvc repro label-issues` first")
    return list(dict.fromkeys(issue["pk"] for issue in sorted(data["issues"], key=lambda issue: issue["rank"])))
