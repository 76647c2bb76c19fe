"""``reports/ci.md``: what a pull request's CI comment shows, after ``dvc repro`` on a clean clone.

1. whether the data-stage outputs are bit-identical to the committed ``dvc.lock`` (the promise: they are,
   on every machine), and which train outputs differ (expected across machines: float paths differ);
2. every key metric against the committed one, judged with the noise: the k-fold metrics through
   :func:`pipeline.evaluation.compare.compare` (interval and verdict, not raw deltas), the shipped model's
   ``reports/metrics.json`` beside the committed values and the seed noise band;
3. the quality gate (``reports/gate.json``): ``igfake ci-report`` exits non-zero when it did not bless this
   run's model, so CI is red exactly when a change would ship a model the gate refuses;
4. the plots.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pipeline.evaluation import compare, sources
from pipeline.evaluation.metric_registry import select
from pipeline.reporting import plot_registry

DATA_STAGES = ("crawl", "label-import", "featurize")
MODEL_STAGES = ("train", "evaluate", "export-tflite")
KEY_METRICS = select("accuracy", "roc_auc", "precision_authentic", "precision_fake", "recall_authentic", "recall_fake")
# The plots the comment shows (of pipeline.reporting.plot_registry, titled as the report titles them).
PLOTS = ("roc", "confusion", "seed_accuracy", "seed_accuracy_histogram", "kfold_accuracy", "calibration")


def lock_outs(lock_text: str, stages: tuple[str, ...]) -> dict[str, str]:
    """md5 of the outputs of ``stages`` in a dvc.lock but the reports (uncached, they carry elapsed times)."""
    return {path: md5 for path, md5 in sources.lock_outs(lock_text, stages).items() if not path.startswith("reports/")}


def outputs_section(committed_lock: str, fresh_lock: str) -> tuple[list[str], bool]:
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


def baseline_status(committed_lock: str, baseline_md5: str | None) -> str:
    """Whether the gate's baseline is HEAD's own committed train result, or lags behind it."""
    # evaluate writes the split results (at its threshold); a lock from before that change has them under train.
    committed = lock_outs(committed_lock, ("evaluate", "train")).get("data/predictions/splits.parquet")
    if baseline_md5 is None:
        return "The gate has no baseline (`igfake baseline` writes one)."
    if baseline_md5 == committed:
        return "The gate's baseline is the committed run's own split results (same md5 as in `dvc.lock`)."
    return ("The gate's baseline is NOT the committed run's split results (md5 differs from `dvc.lock`): "
            "if the committed change was accepted, refresh it with `igfake baseline` and commit it.")


def metrics_section(comparison: compare.Comparison | None, reason: str, committed: Mapping[str, Any] | None,
                    fresh: Mapping[str, Any], variance: Mapping[str, Any] | None) -> list[str]:
    lines = ["## Metrics against the committed run", ""]
    if comparison is None:
        lines += [f"No comparison: {reason}.", ""]
    else:
        lines += [compare.to_markdown(comparison).replace("## ", "### ", 1), reason, ""]
    band = 2 * variance["holdout"]["init_std"] if variance else None
    lines += ["### The shipped model (`reports/metrics.json`, fixed hold-out)", "",
              "| metric | committed | this run | judged |", "|---|---|---|---|"]
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


def gate_label(gate: Mapping[str, Any]) -> str:
    return "not judged" if not gate["judged"] else "blessed" if gate["blessed"] else "NOT blessed"


def gate_section(gate: Mapping[str, Any]) -> list[str]:
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


def build(committed_lock: str, fresh_lock: str, comparison: compare.Comparison | None, comparison_note: str,
          committed_metrics: Mapping[str, Any] | None, fresh_metrics: Mapping[str, Any],
          variance: Mapping[str, Any] | None, gate: Mapping[str, Any], commit: str,
          baseline_md5: str | None = None, drift: Mapping[str, Any] | None = None) -> str:
    """The Markdown report; paths to plots are relative to ``reports/`` (where ci.md is written); ``drift`` is
    reports/drift.json (stage validate), None if there is none."""
    outputs, identical = outputs_section(committed_lock, fresh_lock)
    verdict = comparison.verdict if comparison else "not compared"
    gated = gate_label(gate)
    head = [f"# igfake CI: reproduction report for `{commit[:12]}`", "",
            f"- data stages: **{'bit-identical' if identical else 'NOT bit-identical'}**",
            f"- metrics against the committed run: **{verdict}**",
            f"- quality gate: **{gated}**",
            f"- data drift against the reference: **{drift['verdict']}**{drift['summary'][len(drift['verdict']):]}"
            if drift else
            "- data drift against the reference: not measured (no reports/drift.json)",
            ""]
    shown = [plot_registry.PLOTS[name] for name in PLOTS]
    plots = ["## Plots", "", *[f"![{p.title}](plots/{p.png.name})" for p in shown]]
    return "\n".join([*head, *outputs, "", *metrics_section(comparison, comparison_note, committed_metrics,
                                                              fresh_metrics, variance),
                      "", *gate_section(gate), "", baseline_status(committed_lock, baseline_md5), "",
                      *plots]) + "\n"


def loads_or_none(text: str | None) -> Any:
    return json.loads(text) if text else None
