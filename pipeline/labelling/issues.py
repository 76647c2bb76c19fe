"""The labels most likely wrong: confident learning (cleanlab) on out-of-fold probabilities.

``reports/label_issues.json`` (stage ``label-issues``) lists the labelled profiles whose label the
cross-validated model disagrees with most, worst first, and ``igfake label --review`` shows them first.

Which probabilities: ``prob_cv`` of ``data/predictions/predictions.parquet``, the shipped recipe's
out-of-fold P(authentic) (every row scored by the first repeat's fold that held it out). Out-of-fold is
what confident learning needs (a model that saw a row's label would echo it), and the shipped recipe's
is the model whose accuracy these labels cap; train computes it anyway, so this stage fits nothing.
``benchmarks/label_noise.py`` measures it against the random forest's out-of-fold probabilities.

Which rows: cleanlab's :func:`cleanlab.filter.find_label_issues` with ``filter_by`` (default
``prune_by_noise_rate``, cleanlab's own default: it estimates how many labels of each class are wrong from
the confident joint and flags that many per class, the least confident first), ranked by cleanlab's
self-confidence label quality score, P(given label) out of fold: the lower, the likelier wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core import paths, reports
from pipeline.core.errors import InputError
from pipeline.core.vocabulary import AUTHENTIC, FAKE, LABEL_NAME, LABEL_VALUE

# cleanlab's default (see the module docstring); benchmarks/label_noise.py reports it beside confident_learning.
FILTER_BY = "prune_by_noise_rate"
RANKED_BY = "self_confidence"
PROBABILITIES = "prob_cv"  # the predictions' column this stage reads
ISSUE_FIELDS = ("rank", "pk", "label", "suggested", "score")


def class_probabilities(prob_authentic: np.ndarray) -> np.ndarray:
    """[N, 2] probabilities, column k the class of label value k (0 fake, 1 authentic)."""
    p = np.asarray(prob_authentic, np.float64)
    by_value = {LABEL_VALUE[AUTHENTIC]: p, LABEL_VALUE[FAKE]: 1.0 - p}
    return np.column_stack([by_value[value] for value in sorted(by_value)])


def find(pks: np.ndarray, labels: np.ndarray, prob_authentic: np.ndarray, filter_by: str = FILTER_BY,
         where: object = PROBABILITIES) -> list[dict[str, Any]]:
    """The label issues, worst first: rank (1 = likeliest wrong), pk, given label, suggested label (the
    out-of-fold model's class) and score (cleanlab's self-confidence: P(given label), 0..1).

    ``labels`` are label values (1 authentic, 0 fake); ``prob_authentic`` out-of-fold P(authentic). A
    missing probability (NaN: no k-fold study) or a label outside the domain stops with a line naming ``where``.
    """
    from cleanlab.filter import find_label_issues  # only this stage needs it
    from cleanlab.rank import get_label_quality_scores

    labels = np.asarray(labels).astype(np.int64)
    p = np.asarray(prob_authentic, np.float64)
    if not len(labels):
        raise InputError(f"{where}: no labelled rows")
    broken = int((~((p >= 0) & (p <= 1))).sum())  # NaN compares false: counted too
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


def rank(pks: np.ndarray, labels: np.ndarray, prob_authentic: np.ndarray,
         truth_wrong: Mapping[int, bool] | None = None, where: object = PROBABILITIES) -> dict[str, Any]:
    """``reports/label_issues.json`` from the predictions' columns: :func:`find`'s issues in :func:`report`,
    or, without a k-fold study (every probability NaN), an empty report that says why."""
    if len(prob_authentic) and np.isnan(np.asarray(prob_authentic, np.float64)).all():
        return report([], len(labels), truth_wrong, note=NO_STUDY)
    return report(find(pks, labels, prob_authentic, where=where), len(labels), truth_wrong)


def report(issues: list[dict[str, Any]], rows: int, truth_wrong: Mapping[int, bool] | None = None,
           filter_by: str = FILTER_BY, note: str | None = None) -> dict[str, Any]:
    """``reports/label_issues.json``: how the issues were found, how many, and the issues worst first.

    ``truth_wrong`` (pk -> label differs from the truth, where the truth is known: the simulator) adds how
    many of the flags are real annotator mistakes and how many of those mistakes are flagged; ``note`` says
    why nothing was ranked.
    """
    out: dict[str, Any] = {
        "probabilities": PROBABILITIES, "filter_by": filter_by, "ranked_by": RANKED_BY,
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
