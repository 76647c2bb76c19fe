"""The quality gate: a verdict on the model, which decides what is promoted, never whether a run finishes.

As TFX's Evaluator and Pusher split it: every run of the pipeline completes (evaluate writes the
verdict, export-tflite always exports, track logs and registers the model), and the verdict decides what
is *pushed*: ``igfake promote`` moves the registry's ``champion`` alias only to a blessed model, and
``igfake ci-report`` fails CI when HEAD's model is not blessed.

Rules (``evaluate.gate`` in params.yaml), each judged on the repeated k-fold results, seeds averaged
within a split, at ``compare.alpha``:

- ``min_accuracy``, ``min_roc_auc``: the lower end of the metric's Nadeau-Bengio corrected interval must
  reach the bound, so a lucky split cannot carry a model through (the defaults are the simulator's: set
  your own for your data);
- ``no_regression``: no metric significantly worse than the baseline, ``data/baseline/splits.parquet``
  (:func:`pipeline.evaluation.compare.compare`, paired where the protocols allow). It applies only when the
  baseline saw the same data (the features' md5): against a baseline of other data a difference says
  nothing about the recipe, so the rule is skipped ("baseline not comparable: different data") and the
  absolute rules judge alone.

The verdict (``reports/gate.json``) is one of three: **blessed** (judged, every rule passed), **not
blessed** (judged, some rule failed: ``failed`` names it) or **not judged** (``reason`` says why: the gate
is off, or the run has fewer than two k-fold splits to judge). Only a blessed model can be promoted; the
headline (``reports/metrics.json``) carries it as ``gate.blessed`` and ``gate.judged``, 1 or 0.

The baseline is a file tracked by git and a dependency of the ``evaluate`` stage, not "whatever HEAD is":
the gate's verdict must follow from the stage's declared inputs, or ``dvc repro`` would cache a verdict
that a new commit silently changes. ``igfake baseline`` refreshes it from an accepted run.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pipeline.core import paths, reports
from pipeline.core.errors import InputError
from pipeline.core.params import GateParams
from pipeline.evaluation import intervals
from pipeline.evaluation.metric_registry import select

if TYPE_CHECKING:  # judging needs compare (and SciPy); reading a verdict back (track, promote) does not
    from pipeline.evaluation import compare

Status = Literal["pass", "fail", "skipped"]
STATUSES = ("pass", "fail", "skipped")
# The metrics with a lower bound: each is the rule min_<name>, bounded by evaluate.gate.min_<name>.
BOUNDED = select("accuracy", "roc_auc")


@dataclass(frozen=True)
class Rule:
    name: str
    status: Status
    detail: str


# How a min_* rule's detail ends (:func:`_bound` writes it): its outcome and the bound, which :func:`parse`
# checks against the rule's status and the interval's lower end.
BOUND_DETAIL = re.compile(r"lower end (?P<op>>=|<) (?P<bound>\S+)\Z")


def _bound(metric: str, interval: intervals.Interval, minimum: float) -> Rule:
    ok = interval.low >= minimum
    return Rule(f"min_{metric}", "pass" if ok else "fail",
                f"k-fold {metric} {interval.mean:.4f}, {intervals.percent(interval.level)} interval "
                f"[{interval.low:.4f}, {interval.high:.4f}]: "
                f"lower end {'>=' if ok else '<'} {minimum:g}")


def _no_regression(current: compare.RunResults, baseline: compare.RunResults | None,
                   alpha: float) -> tuple[Rule, compare.Comparison | None]:
    if baseline is None:
        return Rule("no_regression", "fail", "no baseline; write one with `igfake baseline`"), None
    ours, theirs = current.protocol.get("features_md5"), baseline.protocol.get("features_md5")
    if ours != theirs:
        return Rule("no_regression", "skipped",
                    f"baseline not comparable: different data (features md5 {theirs} vs {ours}); only the "
                    "absolute rules judge (`igfake baseline` makes this run's data the baseline)"), None
    if len(baseline.kfold) < 2:
        return Rule("no_regression", "skipped", f"baseline not comparable: it has {len(baseline.kfold)} k-fold "
                                                "split(s); only the absolute rules judge"), None
    from pipeline.evaluation import compare

    comparison = compare.compare(baseline, current, alpha)
    worse = [m for m in comparison.metrics if m.verdict == "worse"]
    kind = "paired" if comparison.paired else "unpaired"
    detail = ("; ".join(f"{m.metric} {m.difference:+.4f} [{m.low:+.4f}, {m.high:+.4f}] worse than the baseline"
                        for m in worse) if worse else "no metric significantly worse than the baseline")
    return Rule("no_regression", "fail" if worse else "pass", f"{detail} ({kind}, p < {alpha:g})"), comparison


def not_judged(reason: str, alpha: float, enabled: bool = True) -> dict[str, Any]:
    """A verdict that judged nothing, with the reason: never blessed, so never promoted."""
    return {"enabled": enabled, "judged": False, "blessed": False, "reason": reason, "failed": [], "skipped": [],
            "rules": [], "alpha": alpha}


def _no_drift(drift: dict[str, Any] | None) -> Rule:
    if drift is None:
        return Rule("no_drift", "skipped", "no drift report (reports/drift.json, stage validate)")
    return Rule("no_drift", "fail" if drift["verdict"] == "drift" else "pass", drift["summary"])


def judge(params: GateParams, current: compare.RunResults, baseline: compare.RunResults | None,
          alpha: float, drift: dict[str, Any] | None = None) -> dict[str, Any]:
    """The verdict for ``reports/gate.json``: judged and blessed, every rule's result, the comparison with
    the baseline; or not judged, with the reason. Never raises for a valid run: the gate is a judgement.
    ``drift`` (reports/drift.json) is read only by the rule ``no_drift``, when it is on."""
    if not params.enabled:
        return not_judged("the gate is off (evaluate.gate.enabled: false)", alpha, enabled=False)
    if len(current.kfold) < 2:
        return not_judged(f"this run has {len(current.kfold)} k-fold split(s) and the gate judges the repeated "
                          "k-fold results (train.split.repeats >= 1 gives them)", alpha)
    from pipeline.evaluation import compare

    kfold = compare.summary(current, alpha, BOUNDED)
    rules = [_bound(m, kfold[m], getattr(params, f"min_{m}")) for m in BOUNDED]
    comparison = None
    if params.no_regression:
        rule, comparison = _no_regression(current, baseline, alpha)
        rules.append(rule)
    if params.no_drift:
        rules.append(_no_drift(drift))
    failed = [r.name for r in rules if r.status == "fail"]
    return {"enabled": True, "judged": True, "blessed": not failed, "reason": None, "failed": failed,
            "skipped": [r.name for r in rules if r.status == "skipped"], "alpha": alpha,
            "rules": [asdict(r) for r in rules],
            "intervals": {m: i.as_dict() for m, i in kfold.items()},
            "baseline": comparison.as_dict() if comparison else None}


def headline(verdict: dict[str, Any]) -> dict[str, int]:
    """The verdict as ``reports/metrics.json`` carries it (``gate``): numbers, so it is a column of
    ``dvc exp show`` and a metric in MLflow. ``blessed`` is 1 only when judged and every rule passed."""
    return {"blessed": int(bool(verdict["judged"] and verdict["blessed"])), "judged": int(bool(verdict["judged"]))}


def label(verdict: dict[str, Any]) -> str:
    """One word or two: ``blessed``, ``not blessed`` or ``not judged``."""
    return "not judged" if not verdict["judged"] else "blessed" if verdict["blessed"] else "not blessed"


def why(verdict: dict[str, Any]) -> str:
    """What decided the verdict, in one line: the first failed rule and its detail, the reason it was not
    judged, or that every rule passed (naming any skipped)."""
    if not verdict["judged"]:
        return str(verdict["reason"])
    failed = [r for r in verdict["rules"] if r["status"] == "fail"]
    if failed:
        return f"{failed[0]['name']}: {failed[0]['detail']}"
    skipped = "; ".join(f"{r['name']} skipped: {r['detail']}" for r in verdict["rules"] if r["status"] == "skipped")
    return "every rule passed" + (f" ({skipped})" if skipped else "")


def read(path: Path) -> dict[str, Any]:
    """The verdict in ``path`` (``reports/gate.json``), checked by :func:`parse`."""
    shown = paths.shown(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{shown}: not found; run `dvc repro` first") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{shown}: not a gate verdict ({exc}); run `dvc repro evaluate` to rebuild it") from None
    return parse(text, shown)


def parse(text: str, path: str) -> dict[str, Any]:
    """A verdict read back (``text`` of ``path``, from the workspace or a revision), checked at the edge: one
    line naming the file and the field when it is not one :func:`judge` writes."""
    verdict = reports.json_object(text, path, "a gate verdict", "run `dvc repro evaluate` to rebuild it")
    for key in ("enabled", "judged", "blessed"):
        if not isinstance(verdict.get(key), bool):
            raise InputError(f"{path}: {key}: expected true or false, got {verdict.get(key)!r} (a verdict from "
                             "before the gate judged without stopping runs? run `dvc repro evaluate`)")
    alpha = verdict.get("alpha")
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise InputError(f"{path}: alpha: expected the level the verdict was judged at, a number strictly between "
                         f"0 and 1, got {alpha!r}; run `dvc repro evaluate` to rebuild it")
    if verdict["blessed"] and not verdict["judged"]:
        raise InputError(f"{path}: blessed: true but judged: false; a model is blessed only when judged")
    rules = verdict.get("rules")
    if not isinstance(rules, list) or not all(
            isinstance(r, dict) and isinstance(r.get("name"), str) and r.get("status") in STATUSES
            and isinstance(r.get("detail"), str) for r in rules):
        raise InputError(f"{path}: rules: expected a list of {{name, status ({', '.join(STATUSES)}), detail}}")
    failed = [r["name"] for r in rules if r["status"] == "fail"]
    if verdict["judged"] and verdict["blessed"] == bool(failed):
        raise InputError(f"{path}: blessed: {str(verdict['blessed']).lower()} contradicts its rules "
                         f"(failed: {', '.join(failed) or 'none'})")
    if not verdict["judged"] and not isinstance(verdict.get("reason"), str):
        raise InputError(f"{path}: reason: a verdict that judged nothing must say why, got {verdict.get('reason')!r}")
    for key, status in (("failed", "fail"), ("skipped", "skipped")):
        named = [r["name"] for r in rules if r["status"] == status]
        if verdict.get(key, []) != named:
            raise InputError(f"{path}: {key}: {verdict.get(key)!r} contradicts its rules (status {status}: "
                             f"{', '.join(named) or 'none'})")
    _check_rules(verdict, rules, path)
    return verdict


def _check_rules(verdict: dict[str, Any], rules: list[dict[str, Any]], path: str) -> None:
    """Each rule's status against what can be checked cheaply: a min_* rule's against its detail's outcome and
    its interval's lower end (``intervals``, when present) against the bound; no_regression's against the
    baseline comparison's verdicts."""
    found = verdict.get("intervals")
    if found is not None and not isinstance(found, dict):
        raise InputError(f"{path}: intervals: expected an object of metric -> interval, got {found!r}")
    for metric, interval in (found or {}).items():
        ends = [interval.get(k) if isinstance(interval, dict) else None for k in ("low", "mean", "high")]
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in ends)
        # NaN where the metric is undefined (judge writes what it computed), else in order.
        if not numbers or (all(map(math.isfinite, ends)) and not ends[0] <= ends[1] <= ends[2]):
            raise InputError(f"{path}: intervals: {metric}: expected numbers low <= mean <= high, got {interval!r}")
    for rule in rules:
        name, status, detail = rule["name"], rule["status"], rule["detail"]
        metric = name.removeprefix("min_")
        if metric in BOUNDED and name != metric:
            shape = BOUND_DETAIL.search(detail)
            try:
                bound = float(shape["bound"]) if shape else math.nan
            except ValueError:
                bound = math.nan
            if not math.isfinite(bound) or status not in ("pass", "fail"):
                raise InputError(f"{path}: rules: {name}: expected status pass or fail and a detail ending "
                                 f"'lower end >= BOUND' or '< BOUND', got {status} {detail!r}")
            if (shape["op"] == ">=") != (status == "pass"):
                raise InputError(f"{path}: rules: {name}: status {status} contradicts its detail {detail!r}")
            # The detail shows the bound to 6 significant digits (:g): only a lower end beyond that rounding
            # contradicts the status.
            margin = 1e-5 * abs(bound)
            low = found[metric]["low"] if found and metric in found else None
            if low is not None and (not low >= bound - margin if status == "pass" else low >= bound + margin):
                raise InputError(f"{path}: rules: {name}: status {status} contradicts intervals.{metric}: its lower "
                                 f"end {low:.6g} is {'>=' if status == 'fail' else '<'} {bound:g}")
        elif name == "no_regression" and status != "skipped" and isinstance(verdict.get("baseline"), dict):
            compared = verdict["baseline"].get("metrics")
            if not isinstance(compared, list) or not all(isinstance(m, dict) for m in compared):
                raise InputError(f"{path}: baseline: metrics: expected a list of the comparison's metrics")
            worse = [str(m.get("metric")) for m in compared if m.get("verdict") == "worse"]
            if bool(worse) != (status == "fail"):
                raise InputError(f"{path}: rules: no_regression: status {status} contradicts baseline.metrics "
                                 f"(worse: {', '.join(worse) or 'none'})")
