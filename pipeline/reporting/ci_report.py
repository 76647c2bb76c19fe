"""``reports/ci.md``: what a pull request's CI comment shows, after ``dvc repro`` on a clean clone.

1. whether the data-stage outputs are bit-identical to the committed ``dvc.lock`` (the promise: they are,
   on every machine), and which train outputs differ (expected across machines: float paths differ);
2. every key metric against the committed one, judged with the noise: the k-fold metrics through
   :func:`pipeline.evaluation.compare.compare` (interval and verdict, not raw deltas), the shipped model's
   ``reports/metrics.json`` beside the committed values and the seed noise band;
3. the quality gate (``reports/gate.json``): ``igfake ci-report`` exits non-zero when it did not bless this
   run's model, so CI is red exactly when a change would ship a model the gate refuses;
4. the plots.

A missing or broken input (a lock, a report, the verdict, the split results) does not stop the report: it
is a red line at its top naming the file and what is wrong (:func:`problems_section`), the sections that
needed it say they could not be written, and ``igfake ci-report`` fails CI. The checks here (:func:`check_lock`,
:func:`parse_report`, :func:`check_metrics`, :func:`check_variance`) each raise a one-line
:class:`~pipeline.core.errors.InputError`, which becomes such a line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from pipeline.core import reports
from pipeline.core.errors import InputError
from pipeline.evaluation import compare, sources
from pipeline.evaluation.metric_registry import METRICS, select
from pipeline.reporting import plot_registry

DATA_STAGES = ("crawl", "label-import", "featurize")
MODEL_STAGES = ("train", "evaluate", "export-tflite")
KEY_METRICS = select("accuracy", "roc_auc", "precision_authentic", "precision_fake", "recall_authentic", "recall_fake")
# The plots the comment shows (of pipeline.reporting.plot_registry, titled as the report titles them).
PLOTS = ("roc", "confusion", "seed_accuracy", "seed_accuracy_histogram", "kfold_accuracy", "calibration")


def check_lock(text: str | None, shown: str, missing: str) -> str:
    """``text`` of the dvc.lock ``shown``, checked to be one: YAML with a mapping of ``stages`` (``missing`` says
    what to do when there is no file). Unchecked, a broken lock reads as one without outputs: "NOT
    bit-identical" for a file that says nothing."""
    if text is None:
        raise InputError(f"{shown}: {missing}")
    try:
        lock = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise InputError(f"{shown}: not YAML ({getattr(exc, 'problem', None) or exc}{at}); "
                         "`dvc repro` rewrites it") from None
    if not isinstance(lock, dict) or not isinstance(lock.get("stages"), dict):
        raise InputError(f"{shown}: not a dvc.lock (no mapping of stages); `dvc repro` rewrites it")
    return text


def parse_report(text: str | None, shown: str) -> dict[str, Any] | None:
    """The JSON object in ``text`` (a report ``shown`` by its name), None when there is no file."""
    if text is None:
        return None
    return reports.json_object(text, shown, "a JSON report", "`dvc repro` rewrites it")


def check_metrics(metrics: Mapping[str, Any] | None, shown: str, required: bool) -> Mapping[str, Any] | None:
    """``metrics`` (a ``reports/metrics.json``) with every key metric the report shows a number in the
    metric's range; a ``required`` one (this run's) must have each, a committed one may lack some (it
    was written before they were)."""
    if metrics is None:
        if required:
            raise InputError(f"{shown}: not found; run `dvc repro` first")
        return None
    for key in KEY_METRICS:
        if key not in metrics:
            if not required:
                continue
            raise InputError(f"{shown}: {key}: missing; `dvc repro evaluate` rewrites it")
        value, metric = metrics[key], METRICS[key]
        if (isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
                or not metric.low <= value <= metric.high):
            raise InputError(f"{shown}: {key}: expected a number from {metric.low:g} to {metric.high:g}, "
                             f"got {value!r}; `dvc repro evaluate` rewrites it")
    return metrics


def check_variance(variance: Mapping[str, Any] | None, shown: str) -> Mapping[str, Any] | None:
    """``variance`` (a ``reports/variance.json``) with the seed noise the report judges accuracy by."""
    if variance is None:
        return None
    holdout = variance.get("holdout")
    std = holdout.get("init_std") if isinstance(holdout, dict) else None
    if isinstance(std, bool) or not isinstance(std, int | float) or not math.isfinite(std) or std < 0:
        raise InputError(f"{shown}: holdout.init_std: expected a standard deviation (a number, at least 0), "
                         f"got {std!r}; `dvc repro evaluate` rewrites it")
    return variance


def lock_outs(lock_text: str, stages: tuple[str, ...]) -> dict[str, str]:
    """md5 of the outputs of ``stages`` in a dvc.lock but the reports (uncached, they carry elapsed times)."""
    return {path: md5 for path, md5 in sources.lock_outs(lock_text, stages).items() if not path.startswith("reports/")}


def outputs_section(committed_lock: str | None, fresh_lock: str | None) -> tuple[list[str], bool | None]:
    if committed_lock is None or fresh_lock is None:
        whose = "the committed" if committed_lock is None else "this run's"
        return ["## Data stages", "", f"**Not compared**: {whose} `dvc.lock` is missing or broken (above)."], None
    committed, fresh = lock_outs(committed_lock, DATA_STAGES), lock_outs(fresh_lock, DATA_STAGES)
    identical = bool(committed) and committed == fresh
    lines = ["## Data stages", "",
             f"**{'Bit-identical' if identical else 'NOT bit-identical'}** to the committed `dvc.lock` "
             f"({', '.join(DATA_STAGES)}).", "", "| output | committed md5 | this run |", "|---|---|---|"]
    for path in sorted(set(committed) | set(fresh)):
        same = committed.get(path) == fresh.get(path)
        lines.append(f"| `{path}` | `{committed.get(path, '-')}` | {'same' if same else f'`{fresh.get(path)}`'} |")
    models_committed, models_fresh = lock_outs(committed_lock, MODEL_STAGES), lock_outs(fresh_lock, MODEL_STAGES)
    differing = [p for p in sorted(models_committed) if models_committed[p] != models_fresh.get(p)]
    lines += ["", "Model outputs: " + (f"{', '.join(f'`{p}`' for p in differing)} differ from the committed lock "
                                       "(expected on another machine: float paths differ; the metrics below say "
                                       "whether the difference is more than noise)." if differing
                                       else "bit-identical to the committed lock (same machine kind and float paths).")]
    return lines, identical


def baseline_status(committed_lock: str | None, baseline_md5: str | None) -> str:
    """Whether the gate's baseline is HEAD's own committed train result, or lags behind it."""
    if committed_lock is None:
        return "The gate's baseline is not checked against the committed run: its `dvc.lock` is missing or broken."
    # evaluate writes the split results (at its threshold); a lock from before that change has them under train.
    committed = lock_outs(committed_lock, ("evaluate", "train")).get("data/predictions/splits.parquet")
    if baseline_md5 is None:
        return "The gate has no baseline (`igfake baseline` writes one)."
    if baseline_md5 == committed:
        return "The gate's baseline is the committed run's own split results (same md5 as in `dvc.lock`)."
    return ("The gate's baseline is NOT the committed run's split results (md5 differs from `dvc.lock`): "
            "if the committed change was accepted, refresh it with `igfake baseline` and commit it.")


def metrics_section(comparison: compare.Comparison | None, reason: str, committed: Mapping[str, Any] | None,
                    fresh: Mapping[str, Any] | None, variance: Mapping[str, Any] | None) -> list[str]:
    lines = ["## Metrics against the committed run", ""]
    if comparison is None:
        lines += [f"No comparison: {reason}.", ""]
    else:
        lines += [compare.to_markdown(comparison).replace("## ", "### ", 1), reason, ""]
    band = 2 * variance["holdout"]["init_std"] if variance else None
    lines += ["### The shipped model (`reports/metrics.json`, fixed hold-out)", ""]
    if fresh is None:
        return [*lines, "**Not shown**: this run's `reports/metrics.json` is missing or broken (above)."]
    lines += ["| metric | committed | this run | judged |", "|---|---|---|---|"]
    for key in KEY_METRICS:
        old, new = (committed or {}).get(key), fresh.get(key)
        if old is None:
            judged = "no committed value"
        elif old == new:
            judged = "identical"
        elif key == "accuracy" and band is not None:
            judged = (f"within the seed noise (±{band:.4f}, 2 seed std)" if abs(new - old) <= band
                      else f"OUTSIDE the seed noise (±{band:.4f}, 2 seed std)")
        else:
            judged = "differs (see the k-fold comparison above for whether it is noise)"
        lines.append(f"| {key} | {'-' if old is None else f'{old:.4f}'} | {new:.4f} | {judged} |")
    return lines


def gate_label(gate: Mapping[str, Any] | None) -> str:
    if gate is None:
        return "unreadable"
    return "not judged" if not gate["judged"] else "blessed" if gate["blessed"] else "NOT blessed"


def gate_section(gate: Mapping[str, Any] | None) -> list[str]:
    if gate is None:
        return ["## Quality gate", "", "**Unreadable**: `reports/gate.json` is missing or broken (above), so "
                "nothing says the model may be promoted: this check fails."]
    if not gate["judged"]:
        return ["## Quality gate", "", f"**Not judged**: {gate['reason']}. A model the gate did not judge cannot be "
                "promoted, so this check fails."]
    lines = ["## Quality gate", "", f"**{'Blessed' if gate['blessed'] else 'NOT blessed'}** "
             f"(alpha {gate['alpha']:g})" + ("." if gate["blessed"] else ": this check fails, as `igfake promote` "
                                             "would refuse this model."),
             "", "| rule | result | detail |", "|---|---|---|"]
    lines += [f"| {r['name']} | {r['status'].upper() if r['status'] == 'fail' else r['status']} | {r['detail']} |"
              for r in gate["rules"]]
    return lines


def problems_section(problems: Sequence[str]) -> list[str]:
    """The broken inputs, one red line each (a GitHub alert: the pull request's comment shows it red)."""
    if not problems:
        return []
    return ["> [!CAUTION]", "> **Broken input: this check fails.** What is wrong, file by file:", ">",
            *[f"> - {problem}" for problem in problems], ""]


def build(committed_lock: str | None, fresh_lock: str | None, comparison: compare.Comparison | None,
          comparison_note: str, committed_metrics: Mapping[str, Any] | None, fresh_metrics: Mapping[str, Any] | None,
          variance: Mapping[str, Any] | None, gate: Mapping[str, Any] | None, commit: str,
          baseline_md5: str | None = None, problems: Sequence[str] = (),
          drift: Mapping[str, Any] | None = None) -> str:
    """The Markdown report; paths to plots are relative to ``reports/`` (where ci.md is written). An input
    that is None was missing or broken: ``problems`` says which and why, and the sections that needed it
    say they are not shown; ``drift`` is reports/drift.json (stage validate), None if there is none."""
    outputs, identical = outputs_section(committed_lock, fresh_lock)
    verdict = comparison.verdict if comparison else "not compared"
    gated = gate_label(gate)
    data = "not compared" if identical is None else "bit-identical" if identical else "NOT bit-identical"
    head = [f"# igfake CI: reproduction report for `{commit[:12]}`", "",
            f"- data stages: **{data}**",
            f"- metrics against the committed run: **{verdict}**",
            f"- quality gate: **{gated}**",
            f"- data drift against the reference: **{drift['verdict']}**{drift['summary'][len(drift['verdict']):]}"
            if drift else
            "- data drift against the reference: not measured (no reports/drift.json)",
            ""]
    shown = [plot_registry.PLOTS[name] for name in PLOTS]
    plots = ["## Plots", "", *[f"![{p.title}](plots/{p.png.name})" for p in shown]]
    return "\n".join([*head, *problems_section(problems), *outputs, "",
                      *metrics_section(comparison, comparison_note, committed_metrics, fresh_metrics, variance),
                      "", *gate_section(gate), "", baseline_status(committed_lock, baseline_md5), "",
                      *plots]) + "\n"

