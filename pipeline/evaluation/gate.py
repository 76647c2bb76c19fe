"""The quality gate: what a model must show, with its noise, before export-tflite ships it.

Rules (``evaluate.gate`` in params.yaml), each judged on the repeated k-fold results, seeds averaged
within a split, at ``compare.alpha``:

- ``min_accuracy``, ``min_roc_auc``: the lower end of the metric's Nadeau-Bengio corrected interval must
  reach the bound, so a lucky split cannot carry a model through;
- ``no_regression``: no metric significantly worse than the baseline, ``data/baseline/splits.parquet``
  (:func:`pipeline.evaluation.compare.compare`, paired where the protocols allow).

The baseline is a file tracked by git and a dependency of the ``evaluate`` stage, not "whatever HEAD is":
the gate's verdict must follow from the stage's declared inputs, or ``dvc repro`` would cache a verdict
that a new commit silently changes. ``igfake baseline`` refreshes it from an accepted run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.core.errors import GateError, ParamsError
from pipeline.core.params import GateParams
from pipeline.evaluation import compare


@dataclass(frozen=True)
class Rule:
    name: str
    passed: bool
    detail: str


def _bound(metric: str, interval: compare.Interval, minimum: float) -> Rule:
    ok = interval.low >= minimum
    return Rule(f"min_{metric}", ok, f"k-fold {metric} {interval.mean:.4f}, interval [{interval.low:.4f}, "
                                    f"{interval.high:.4f}]: lower end {'>=' if ok else '<'} {minimum:g}")


def judge(params: GateParams, current: compare.RunResults, baseline: compare.RunResults | None,
          alpha: float) -> dict[str, Any]:
    """The verdict for ``reports/gate.json``: ``blessed``, every rule's result, the comparison with the baseline."""
    if not params.enabled:
        return {"enabled": False, "blessed": True, "failed": [], "rules": [], "alpha": alpha}
    if len(current.kfold) < 2:
        raise ParamsError(f"evaluate.gate: the gate judges the repeated k-fold results, and this run has "
                          f"{len(current.kfold)} k-fold split(s): set train.split.repeats >= 1, or "
                          "evaluate.gate.enabled: false")
    intervals = compare.summary(current, alpha, ("accuracy", "roc_auc"))
    rules = [_bound("accuracy", intervals["accuracy"], params.min_accuracy),
             _bound("roc_auc", intervals["roc_auc"], params.min_roc_auc)]
    comparison = None
    if params.no_regression:
        if baseline is None:
            rules.append(Rule("no_regression", False, "no baseline; write one with `igfake baseline`"))
        else:
            comparison = compare.compare(baseline, current, alpha)
            worse = [m for m in comparison.metrics if m.verdict == "worse"]
            kind = "paired" if comparison.paired else "unpaired"
            detail = ("; ".join(f"{m.metric} {m.difference:+.4f} [{m.low:+.4f}, {m.high:+.4f}] worse than the baseline"
                                for m in worse) if worse else "no metric significantly worse than the baseline")
            rules.append(Rule("no_regression", not worse, f"{detail} ({kind}, p < {alpha:g})"))
    failed = [r.name for r in rules if not r.passed]
    return {"enabled": True, "blessed": not failed, "failed": failed, "alpha": alpha,
            "rules": [r.__dict__ for r in rules],
            "intervals": {m: i.as_dict() for m, i in intervals.items()},
            "baseline": comparison.as_dict() if comparison else None}


def require_blessed(report: dict[str, Any], where: str) -> None:
    """Raise :class:`GateError` naming the first failed rule unless the gate blessed the model."""
    if report.get("blessed"):
        return
    failed = [r for r in report.get("rules", []) if not r["passed"]]
    rule = f"{failed[0]['name']}: {failed[0]['detail']}" if failed else "no rule passed"
    raise GateError(f"{where}: the gate did not bless this model ({rule}); not exported "
                    "(evaluate.gate.enabled: false turns the gate off)")
