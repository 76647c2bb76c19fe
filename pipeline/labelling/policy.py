"""From annotators' decisions to one label per profile, and how far the annotators agree.

1. Within one annotator the last row for a pk wins (:func:`pipeline.labelling.formats.last_wins`);
   files are read in sorted path order, so an annotator split over two files is still well defined.
2. ``unsure`` counts as an authentic vote (the article's rule) or is dropped (an abstention; a profile
   with only unsure votes is left unlabelled).
3. The profile takes the majority of the remaining votes; a tie goes to the ``tie`` rule: ``fake``,
   ``authentic`` or ``drop`` (left unlabelled).

Agreement is Cohen's kappa for every pair of annotators over the profiles both decided, on their raw
decisions (authentic, fake, unsure): it measures the annotators, not the policy.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from sklearn.metrics import cohen_kappa_score

from pipeline.core.vocabulary import AUTHENTIC, DECISIONS, FAKE, UNSURE
from pipeline.labelling.formats import UNDO, Decision, LabelFile, last_wins


@dataclass(frozen=True)
class Policy:
    unsure: str  # "authentic" or "drop"
    tie: str  # "fake", "authentic" or "drop"


@dataclass
class Resolution:
    """The resolved labels (:data:`~pipeline.core.vocabulary.CLASSES` by pk) and how they came about."""

    labels: dict[int, str] = field(default_factory=dict)
    # pk -> the annotators whose vote the label follows, joined by '+' (the table's label_source)
    sources: dict[int, str] = field(default_factory=dict)
    # pks labelled authentic with at least one unsure vote counted as authentic
    unsure_authentic: set[int] = field(default_factory=set)
    counts: Counter[str] = field(default_factory=Counter)


def standing_decisions(files: Iterable[LabelFile]) -> dict[str, dict[int, Decision]]:
    """Each annotator's standing decision per pk, annotators sorted by name."""
    rows: dict[str, list[Decision]] = defaultdict(list)
    for f in sorted(files, key=lambda f: f.path):
        for d in f.decisions:
            rows[d.annotator].append(d)
    return {a: last_wins(rows[a]) for a in sorted(rows)}


def _vote(label: str, policy: Policy) -> str | None:
    if label == UNSURE:
        return AUTHENTIC if policy.unsure == "authentic" else None
    return label


def resolve(standing: Mapping[str, Mapping[int, Decision]], policy: Policy) -> Resolution:
    """Apply the unsure and majority/tie rules to every pk anyone decided."""
    votes: dict[int, dict[str, str]] = defaultdict(dict)
    for annotator, decided in standing.items():
        for pk, d in decided.items():
            votes[pk][annotator] = d.label
    out = Resolution()
    for pk in sorted(votes):
        counted = {a: v for a, label in votes[pk].items() if (v := _vote(label, policy)) is not None}
        if not counted:
            out.counts["unsure_dropped"] += 1
            continue
        tally = Counter(counted.values())
        if len(tally) > 1:
            out.counts["conflicts"] += 1
        if tally[AUTHENTIC] == tally[FAKE]:
            out.counts["ties"] += 1
            if policy.tie == "drop":
                out.counts["ties_dropped"] += 1
                continue
            winner = policy.tie
        else:
            winner = AUTHENTIC if tally[AUTHENTIC] > tally[FAKE] else FAKE
        out.labels[pk] = winner
        out.sources[pk] = "+".join(sorted(a for a, v in counted.items() if v == winner))
        if winner == AUTHENTIC and any(votes[pk][a] == UNSURE for a in counted):
            out.unsure_authentic.add(pk)
    return out


def agreement(standing: Mapping[str, Mapping[int, Decision]]) -> list[dict[str, Any]]:
    """Cohen's kappa for each pair of annotators that decided at least one profile in common.

    Kappa is undefined (null here) when both annotators used one and the same label throughout.
    """
    pairs = []
    for a, b in combinations(sorted(standing), 2):
        common = sorted(standing[a].keys() & standing[b].keys())
        if not common:
            continue
        x = [standing[a][pk].label for pk in common]
        y = [standing[b][pk].label for pk in common]
        kappa = float(cohen_kappa_score(x, y, labels=list(DECISIONS)))
        pairs.append({
            "annotators": [a, b],
            "profiles": len(common),
            "agreed": sum(p == q for p, q in zip(x, y, strict=True)),
            "cohen_kappa": None if math.isnan(kappa) else round(kappa, 6),
        })
    return pairs


def annotator_summary(files: Iterable[LabelFile], standing: Mapping[str, Mapping[int, Decision]]
                      ) -> dict[str, dict[str, int]]:
    """Per annotator: rows read, undo rows, rows superseded by a later row, and standing decisions by label."""
    rows: Counter[str] = Counter()
    undos: Counter[str] = Counter()
    for f in files:
        for d in f.decisions:
            rows[d.annotator] += 1
            undos[d.annotator] += d.label == UNDO
    summary = {}
    for annotator, decided in standing.items():
        by_label = Counter(d.label for d in decided.values())
        summary[annotator] = {
            "rows": rows[annotator],
            "undo_rows": undos[annotator],
            "superseded": rows[annotator] - undos[annotator] - len(decided),
            "decisions": len(decided),
            **{label: by_label[label] for label in DECISIONS},
        }
    return summary


def file_summary(files: Iterable[LabelFile]) -> dict[str, dict[str, Any]]:
    return {f.path: {"format": f.format, "decisions": len(f.decisions), "bad_rows": len(f.bad),
                     "unlabelled_records": f.unlabelled} for f in files}


def report(files: list[LabelFile], standing: Mapping[str, Mapping[int, Decision]], resolution: Resolution,
           policy: Policy) -> dict[str, Any]:
    """The label files' part of reports/labels.json (the join adds the crawl's part)."""
    unsure_decisions = sum(d.label == UNSURE for decided in standing.values() for d in decided.values())
    c = resolution.counts
    return {
        "files": file_summary(files),
        "annotators": annotator_summary(files, standing),
        "unsure": {"policy": policy.unsure, "decisions": unsure_decisions,
                   "profiles_labelled_authentic": len(resolution.unsure_authentic),
                   "profiles_dropped": c["unsure_dropped"]},
        "conflicts": {"profiles": c["conflicts"], "ties": c["ties"], "tie_rule": policy.tie,
                      "ties_dropped": c["ties_dropped"]},
        "agreement": agreement(standing),
    }
