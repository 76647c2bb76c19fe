"""The offline report (``reports/report.html``) and the model card (``reports/model_card.md``).

The HTML is one self-contained file: styles inline, every plot a ``data:image/png;base64`` URI, no script,
no font or stylesheet from anywhere, so it opens the same on a laptop with no network as in CI. Both are
built from what evaluate computed (:class:`pipeline.evaluation.evaluate.Evaluation`) and the reports train and
label-import wrote; nothing here computes a metric.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline import features
from pipeline.core.params import TrainParams
from pipeline.core.vocabulary import MODEL_DISPLAY, SHIPPED
from pipeline.evaluation import intervals
from pipeline.evaluation.metric_registry import CALIBRATION_METRICS, METRICS, select
from pipeline.reporting.plot_registry import PLOTS

METRIC_NAMES = {name: metric.label for name, metric in METRICS.items()}
# The model card's metrics table (the report's has every metric).
CARD_METRICS = select("accuracy", "balanced_accuracy", "roc_auc", "average_precision_fake", "f1_fake", "mcc", "brier",
                      "ece")


@dataclass(frozen=True)
class Card:
    """What the model card and the report say from params rather than from results: the shipped model's
    architecture, recipe and what ships (``train``), the features it reads, and the level of the k-fold
    intervals and the verdicts (``compare.alpha``)."""

    train: TrainParams
    feature_set: str  # featurize.feature_set
    alpha: float  # compare.alpha: the k-fold intervals and comparisons are (1 - alpha)


def model_name(model: str) -> str:
    return MODEL_DISPLAY.get(model, model)


def _share(fraction: float) -> str:
    return f"{100 * fraction:g}%"


def fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or value != value else f"{value:.{digits}f}"


def interval(m: Mapping[str, Any], digits: int = 3) -> str:
    """``0.950 [0.920, 0.975]``."""
    lo, hi = m["ci95"]
    return f"{fmt(m['value'], digits)} [{fmt(lo, digits)}, {fmt(hi, digits)}]"


def bounds(d: Mapping[str, Any]) -> tuple[float, float]:
    """(low, high) of an interval in evaluate's reports: a k-fold one (at ``1 - compare.alpha``) is its
    ``ci``, a hold-out bootstrap one its ``ci95``."""
    return tuple(d["ci"] if "ci" in d else d["ci95"])


def verdict(report: Mapping[str, Any], variance: Mapping[str, Any], alpha: float) -> str:
    """One plain sentence: does the shipped model match the best baseline in the same protocol? Over the
    k-fold splits the interval is at ``alpha`` (compare.alpha); on the hold-out rows it is the bootstrap's."""
    kfold = report.get("comparison", {}).get("kfold") or {}
    holdout = report.get("comparison", {}).get("holdout") or {}
    if not holdout:
        return "No baseline was trained (train.baselines.models is empty), so there is nothing to compare with."
    source, basis, at = ((kfold, "over the repeated k-fold splits", intervals.percent(1 - alpha)) if kfold else
                         (holdout, "on the hold-out test rows", intervals.percent(intervals.BOOTSTRAP_LEVEL)))
    best = max(source, key=lambda m: -source[m]["mean_difference"])  # the baseline closest to beating the MLP
    d = source[best]
    lo, hi = bounds(d)
    diff = f"{100 * d['mean_difference']:+.1f} points [{100 * lo:+.1f}, {100 * hi:+.1f}]"
    if d["verdict"] == "worse":
        return (f"The MLP does NOT match the best baseline: {model_name(best)} is more accurate {basis} (MLP minus "
                f"{model_name(best)}: {diff}). Closing the gap needs a different architecture or features, or "
                f"shipping {model_name(best)} instead (it would need its own path to the phone).")
    if d["verdict"] == "better":
        return f"The MLP beats every baseline {basis}; against the closest, {model_name(best)}: {diff}."
    return (f"The MLP matches the best baseline {basis}: against {model_name(best)} the difference is {diff}, "
            f"{intervals.NO_DIFFERENCE} at {at}.")


CALIBRATION_NAMES = {"none": "none", "temperature": "temperature scaling", "platt": "Platt scaling"}


def calibration_sentence(calibration: Mapping[str, Any]) -> str:
    """One plain sentence: is the shipped model calibrated, and would a calibration help on the test rows?"""
    options, shipped = calibration["options"], calibration["shipped"]
    fitted = f"fitted on {calibration['valid_rows']} validation rows"
    if shipped != "none":
        o = options[shipped]
        change = o.get("log_loss_change")
        effect = (f"; on the test rows it changes the log loss by {change['mean_difference']:+.4f} "
                  f"[{change['ci95'][0]:+.4f}, {change['ci95'][1]:+.4f}] ({change['verdict']})" if change else "")
        return (f"The shipped model is calibrated by {CALIBRATION_NAMES[shipped]} ({_calibration_parameters(o)}), "
                f"{fitted}{effect}.")
    others = {m: o for m, o in options.items() if m != "none" and "log_loss_change" in o}
    if not others:
        return "The shipped model is not recalibrated, and no calibration could be fitted on its validation rows."
    helps = [m for m, o in others.items() if o["log_loss_change"]["verdict"] == "better"]
    effects = "; ".join(f"{CALIBRATION_NAMES[m]} ({_calibration_parameters(o)}) "
                        f"{o['log_loss_change']['mean_difference']:+.4f} "
                        f"[{o['log_loss_change']['ci95'][0]:+.4f}, {o['log_loss_change']['ci95'][1]:+.4f}]"
                        for m, o in others.items())
    advice = (f"{' and '.join(CALIBRATION_NAMES[m] for m in helps)} would lower it significantly: consider "
              f"train.calibration: {helps[0]}." if helps else
              "No calibration lowers it significantly, so the probabilities are shipped as the members give them.")
    return (f"The shipped model is not recalibrated (train.calibration: none). Calibrations {fitted} change the "
            f"test log loss by: {effects}. {advice}")


def steadiness_sentence(report: Mapping[str, Any]) -> str:
    """One plain sentence: how much the shipped model moves with its seeds, and its ECE where there are rows
    enough to measure one (each beside the noise a perfectly calibrated model would show on as many rows)."""
    parts = []
    spread = report.get("seeds_shipped")
    if spread:
        alone = (f"; one member alone moves by {report['seeds']['std']:.3f}" if spread["members_shipped"] > 1
                 else "")
        parts.append(f"Trained again with other seeds, the shipped model's test accuracy would move by "
                     f"{spread['accuracy_std']:.3f} (std over {spread['resamples']} redraws of its "
                     f"{spread['members_shipped']} member(s) from the {spread['members_drawn_from']} trained{alone})")
    floor = report.get("ece_floor")
    if floor:
        parts.append(f"on the {report['test_rows']} test rows its ECE is {report['ece']:.3f}, and a perfectly "
                     f"calibrated model would show {floor['mean']:.3f} there")
    cv = report.get("cross_validated")
    if cv:
        lo, hi = cv["ece"]["ci95"]
        parts.append(f"over all {cv['rows']} labelled rows, each scored by a k-fold model that held it out, its "
                     f"ECE is {cv['ece']['value']:.3f} [{lo:.3f}, {hi:.3f}] against a floor of "
                     f"{cv['ece_floor']['mean']:.3f} (accuracy {interval(cv['accuracy'])})")
    return ("; ".join(parts) + ".") if parts else ""


def _calibration_parameters(option: Mapping[str, Any]) -> str:
    if option["method"] == "temperature":
        return f"T = {option['temperature']:.3f}"
    if option["method"] == "platt":
        return f"a = {option['scale']:.3f}, b = {option['shift']:+.3f}"
    return "identity"


def gate_sentence(gate: Mapping[str, Any] | None) -> str:
    """The quality gate's verdict in one sentence, naming the failed rules, the skipped ones, or why it
    judged nothing; and what the verdict means (only a blessed model can be promoted)."""
    if gate is None or not gate.get("judged"):
        reason = gate.get("reason") if gate else None
        return (f"The quality gate did not judge this model ({reason or 'no verdict'}), so it cannot be promoted "
                "to the registry's champion.")
    skipped = [f"{r['name']} skipped: {r['detail']}" for r in gate["rules"] if r["status"] == "skipped"]
    if gate["blessed"]:
        return ("The quality gate blessed this model: every rule passed"
                + (f" ({'; '.join(skipped)})" if skipped else "") + "; `igfake promote` can make it the champion.")
    failed = [f"{r['name']} ({r['detail']})" for r in gate["rules"] if r["status"] == "fail"]
    return ("The quality gate did NOT bless this model: " + "; ".join(failed)
            + (f" ({'; '.join(skipped)})" if skipped else "") + ". It cannot be promoted.")


def _png_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def model_sentence(card: Card, members: int, threshold: Mapping[str, Any]) -> str:
    """The card's model paragraph, from params: the architecture (``train.hidden_units``), what happens to the
    features inside it, how members learn (the ``train.preset`` recipe), what ships (``train.ship``, with
    ``train.calibration``) of the ``members`` seeded members evaluated, and the decision threshold in force."""
    train, recipe = card.train, card.train.recipe
    encoding = (f"a piecewise-linear encoding on {recipe.bins} quantile bins per column"
                + (" beside the column itself" if recipe.keep_inputs else ""))
    inside = [step for on, step in ((recipe.log_counts, "log1p of the heavy-tailed counts"),
                                    (recipe.standardise, "standardisation with the training rows' moments"),
                                    (recipe.bins > 0, encoding)) if on]
    reads = (f"on {len(features.feature_names(card.feature_set))} profile features (`{card.feature_set}`), "
             + (f"inside the model: {', then '.join(inside)}" if inside else "raw (no preprocessing)"))
    if recipe.validation_size and recipe.patience:
        stopping = (f"stopping early on the {_share(recipe.validation_size)} of the training rows held out "
                    f"(patience {recipe.patience}) within {train.epochs} epochs")
    elif recipe.validation_size:
        stopping = f"all {train.epochs} epochs, {_share(recipe.validation_size)} of the training rows held out"
    else:
        stopping = f"all {train.epochs} epochs, no validation slice"
    weights = "balanced class weights" if recipe.class_weight == "balanced" else "no class weights"
    if recipe.weight_decay:
        weights += f", L2 weight decay {recipe.weight_decay:g} on the kernels"
    calibrated = "" if train.calibration == "none" else f", then {CALIBRATION_NAMES[train.calibration]}"
    if train.ship == "ensemble" and members > 1:
        mean = "mean logit" + calibrated if calibrated else "mean probability"
        ships = f"an ensemble of the {members} seeded members ({mean})"
    else:
        of = f" of the {members} seeded members" if members > 1 else ""
        ships = f"member 0 alone (seed {train.seed}){of}{calibrated}"
    return (f"`Dense({train.hidden_units}, relu) -> Dense(1, sigmoid)` {reads}. Recipe `{train.preset}`: Adam "
            f"(learning rate {train.learning_rate:g}, batch {train.batch_size}), {stopping}, {weights}. "
            f"Shipped as TFLite: {ships}. Output: P(authentic). "
            f"Decision threshold {fmt(threshold['value'], 2)} (rule: {threshold['rule']}).")


def model_card(report: Mapping[str, Any], labels: Mapping[str, Any], variance: Mapping[str, Any], card: Card,
               gate: Mapping[str, Any] | None = None) -> str:
    """The model card as Markdown: intended use, the model (from params: :class:`Card`), data, metrics with
    intervals, the quality gate's verdict, limitations."""
    models = report["models"]
    mlp = models[SHIPPED]
    kappas = [p["cohen_kappa"] for p in labels.get("agreement", []) if p.get("cohen_kappa") is not None]
    kappa = (f"Cohen's kappa between annotators: {', '.join(f'{k:.3f}' for k in kappas)}." if kappas else
             "Cohen's kappa: not measured (one annotator" +
             (", the simulator's" if labels.get("source") == "simulator" else "") + ").")
    truth = report.get("truth")
    noise = (f"On the test rows {100 * truth['label_error_rate']['value']:.1f}% of the labels are wrong "
             f"(the simulator knows the truth); the shipped model's accuracy is "
             f"{interval(truth[SHIPPED]['accuracy_vs_labels'])} against the labels and "
             f"{interval(truth[SHIPPED]['accuracy_vs_truth'])} against the truth." if truth else
             "The truth behind the labels is unknown for this data, so the cost of label noise is not measured.")
    kfold = variance.get("kfold")
    lines = [
        "# Model card: igfake profile authenticity", "",
        "## Intended use",
        "- Estimate the **share of authentic profiles among a user's followers** (an aggregate over many profiles).",
        "- **Triage** single profiles for a person to review: a score, not a verdict.",
        "- Not for: acting on a single profile automatically (blocking, reporting, banning), judging people, "
        "or any population unlike the training data (other platforms, languages, years).", "",
        "## Model",
        model_sentence(card, report["seeds"]["n"], report["threshold"]),
        *([calibration_sentence(report["calibration"])] if "calibration" in report else []),
        *([steadiness_sentence(report)] if steadiness_sentence(report) else []), "",
        "## Data",
        f"- Source: {labels.get('source', 'unknown')} labels; {labels.get('labelled', '?')} labelled profiles "
        f"({labels.get('authentic', '?')} authentic, {labels.get('fake', '?')} fake); "
        f"{labels.get('unsure_labelled_authentic', 0)} 'unsure' decisions counted as authentic.",
        f"- Evaluation: a stratified hold-out of {report['test_rows']} test rows; repeated k-fold for the spread.",
        f"- {kappa}", "",
        f"## Metrics (hold-out test rows, {intervals.percent(intervals.BOOTSTRAP_LEVEL)} bootstrap intervals)", "",
        "| metric | " + " | ".join(model_name(m) for m in models) + " |",
        "|---|" + "---|" * len(models),
    ]
    for name in CARD_METRICS:
        lines.append(f"| {METRIC_NAMES[name]} | " + " | ".join(interval(models[m][name]) for m in models) + " |")
    lines += [""]
    if kfold:
        lo, hi, at = *bounds(kfold), intervals.percent(1 - card.alpha)
        lines.append(f"Repeated k-fold ({kfold['splits']} splits x {kfold['n_seeds']} seeds): MLP accuracy "
                     f"{kfold['mean']:.3f} [{lo:.3f}, {hi:.3f}] ({at}, Nadeau-Bengio corrected).")
    lines += ["", verdict(report, variance, card.alpha), "", gate_sentence(gate), "", noise, "",
              "## Limitations",
              "- The default data is **simulated** from per-class statistics of 969 hand-labelled real profiles; "
              "numbers on it show the pipeline works, not how the model does on today's Instagram.",
              "- **Label noise**: labels come from one person's swipes; mistakes and 'unsure' profiles counted as "
              "authentic are in both training and test labels.",
              "- **Drift**: fake accounts change their look; retrain and re-evaluate on fresh labels regularly.",
              f"- Accuracy ({fmt(mlp['accuracy']['value'])}) is on {report['test_rows']} rows: its interval, not its "
              "point value, is what is known. Slices with few rows say little (see the report).",
              "- Must not be used to decide about one person or account without a human looking at it.", ""]
    return "\n".join(lines)


STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.92em}
th,td{border:1px solid #ccc;padding:.25em .55em;text-align:left}
th{background:#f3f3f3} tr.worse td, td.worse{background:#fde2e2}
.verdict{padding:.8em 1em;border-left:4px solid #555;background:#f7f7f7}
figure{display:inline-block;margin:.5em 1em .5em 0;vertical-align:top} figcaption{font-size:.85em;color:#555}
img{max-width:520px;border:1px solid #eee}
"""


def drift_section(drift: Mapping[str, Any] | None) -> list[str]:
    """reports/drift.json as HTML: the verdict, then each feature's test, number, PSI and flag."""
    parts = ["<h2 id=\"drift\">Data drift against the reference</h2>"]
    if drift is None:
        return [*parts, "<p>Not measured: no reports/drift.json (stage validate).</p>"]
    parts.append(f'<p class="verdict">{html.escape(drift["summary"])}. Each feature is compared within each label '
                 f'({drift["rows"]["reference"]} reference rows, {drift["rows"]["current"]} here); p-values are '
                 f'{html.escape(drift["correction"])}-corrected over {drift["tests"]} tests at alpha '
                 f'{drift["alpha"]:g}; PSI is reported, it decides nothing.</p>')
    rows = [*drift["features"].items(), *([("score (shipped model)", drift["score"])] if drift.get("score") else [])]
    parts.append(_table(["feature", "test", "p (corrected) or distance", "PSI", "drifted"],
                        [[name, r["test"] or "-",
                          fmt(r["p_adjusted"]) if "p_adjusted" in r else fmt(r.get("distance")),
                          fmt(r.get("psi")), "drifted" if r["drifted"] else ""] for name, r in rows], "drift"))
    return parts


# The report lists this many of the worst label issues; reports/label_issues.json has them all.
ISSUES_SHOWN = 20


def label_issues_section(found: Mapping[str, Any]) -> str:
    """The labels most likely wrong (reports/label_issues.json): how many, against the truth where it is
    known, and the worst of them."""
    parts = ['<h2 id="label-issues">Labels most likely wrong</h2>']
    if "note" in found:
        return "".join([*parts, f"<p>{html.escape(found['note'])}.</p>"])
    parts += [f'<p>Confident learning (cleanlab, <code>{html.escape(found["filter_by"])}</code>) on the '
             f'{html.escape(found["probabilities"])} flags <b>{found["flagged"]}</b> of '
             f'{found["rows"]} labels ({_share(found["flagged_share"])}); <code>igfake label --review</code> shows '
             f'them first, worst first.']
    truth = found.get("against_truth")
    if truth:
        parts.append(f' Against the simulator\'s truth: {truth["flagged_mistakes"]} of them are annotator mistakes, '
                     f'out of {truth["mistakes"]} mistakes in all (precision {fmt(truth["precision"])}, recall '
                     f'{fmt(truth["recall"])}).')
    parts.append("</p>")
    shown = found["issues"][:ISSUES_SHOWN]
    if shown:
        parts.append(_table(["rank", "pk", "label", "suggested", "P(label) out of fold"],
                            [[i["rank"], i["pk"], i["label"], i["suggested"], fmt(i["score"])] for i in shown],
                            "label-issues"))
    return "".join(parts)


def html_report(report: Mapping[str, Any], slices: Sequence[Mapping[str, Any]], variance: Mapping[str, Any],
                labels: Mapping[str, Any], pngs: Mapping[str, Path], card_markdown: str, alpha: float,
                gate: Mapping[str, Any] | None = None, drift: Mapping[str, Any] | None = None,
                label_issues: Mapping[str, Any] | None = None) -> str:
    """The whole report as one HTML document, images inline; ``alpha`` is compare.alpha (the k-fold
    intervals' and verdicts' level), ``gate`` the quality gate's verdict, ``drift`` reports/drift.json,
    ``label_issues`` reports/label_issues.json (stage label-issues)."""
    models = report["models"]
    boot, at = intervals.percent(intervals.BOOTSTRAP_LEVEL), intervals.percent(1 - alpha)
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>igfake evaluation</title>"
             f"<style>{STYLE}</style></head><body>",
             "<h1>igfake: evaluation of the shipped model</h1>",
             f'<p class="verdict" id="verdict">{html.escape(verdict(report, variance, alpha))}</p>',
             f'<p id="headline">Shipped model on {report["test_rows"]} hold-out test rows: accuracy '
             f'<b>{html.escape(interval(models[SHIPPED]["accuracy"]))}</b>, ROC AUC '
             f'<b>{html.escape(interval(models[SHIPPED]["roc_auc"]))}</b>. Threshold '
             f'{fmt(report["threshold"]["value"], 2)} (rule <code>{html.escape(report["threshold"]["rule"])}</code>, '
             f'chosen on {html.escape(str(report["threshold"]["chosen_on"]))}).</p>',
             f'<p id="gate">{html.escape(gate_sentence(gate))}</p>']

    parts.append(f"<h2>Metrics with {boot} intervals (bootstrap over test rows)</h2>")
    parts.append(_table(["metric", *(model_name(m) for m in models)],
                        [[METRIC_NAMES[n], *(interval(models[m][n]) for m in models)] for n in METRIC_NAMES],
                        "metrics"))
    parts.append(f"<p>Intervals are {50 * (1 - intervals.BOOTSTRAP_LEVEL):g}th and "
                 f"{50 * (1 + intervals.BOOTSTRAP_LEVEL):g}th "
                 "percentiles of the metric over the resamples. Expected "
                 "calibration error is biased upwards by resampling (duplicated rows fill bins unevenly), so its "
                 "interval can lie above its point value; read it as the spread, not as a correction.</p>")
    parts.append("<h3>Over the seeds (each member alone, same threshold)</h3>")
    parts.append(_table(["metric", "mean", "std", "min", "max", "n"],
                        [[METRIC_NAMES[n], fmt(s["mean"]), fmt(s["std"]), fmt(s["min"]), fmt(s["max"]), s["n"]]
                         for n, s in report["seed_metrics"].items()]))

    calibration = report.get("calibration")
    if calibration:
        parts.append("<h2>Calibration</h2>")
        parts.append(f'<p id="calibration">{html.escape(calibration_sentence(calibration))}</p>')
        if steadiness_sentence(report):
            parts.append(f'<p id="steadiness">{html.escape(steadiness_sentence(report))}</p>')
        cal_rows = []
        for method, o in calibration["options"].items():
            name = CALIBRATION_NAMES[method] + (" (shipped)" if method == calibration["shipped"] else "")
            if "error" in o:
                cal_rows.append([name, "not fitted: " + o["error"], "", "", "", ""])
                continue
            change = o.get("log_loss_change")
            cal_rows.append([name, _calibration_parameters(o),
                             *(interval(o[m], 4) for m in CALIBRATION_METRICS),
                             f"{change['mean_difference']:+.4f} [{change['ci95'][0]:+.4f}, {change['ci95'][1]:+.4f}] "
                             f"({change['verdict']})" if change else "-"])
        parts.append(_table(["calibration", f"fitted on {calibration['valid_rows']} validation rows",
                             f"log loss [{boot} CI]", f"Brier [{boot} CI]", f"ECE [{boot} CI]",
                             "log loss change vs none"],
                            cal_rows, "calibration"))

    parts.append("<h2>Variance decomposition and baselines in the same protocol</h2>")
    rows = []
    for model, v in [(SHIPPED, variance), *variance.get("baselines", {}).items()]:
        h, k = v["holdout"], v.get("kfold")
        rows.append([model_name(model), fmt(h["mean"]), fmt(h["init_std"]), fmt(h["binomial_se"]),
                     f"{fmt(k['mean'])} [{fmt(k['ci'][0])}, {fmt(k['ci'][1])}]" if k else "-",
                     fmt(k["split_std"]) if k else "-", fmt(k["total_std"]) if k else "-"])
    parts.append(_table(["model", "hold-out accuracy (seed mean)", "seed std", "binomial se",
                         f"k-fold mean [{at} CI]", "split std", "total std"], rows, "variance"))
    comparison = report.get("comparison", {})
    comp_rows = []
    for basis, label in (("holdout", f"hold-out test rows (paired bootstrap, {boot})"),
                         ("kfold", f"repeated k-fold (Nadeau-Bengio, paired, {at})")):
        for model, d in (comparison.get(basis) or {}).items():
            lo, hi = bounds(d)
            comp_rows.append([label, model_name(model), f"{100 * d['mean_difference']:+.1f}",
                              f"[{100 * lo:+.1f}, {100 * hi:+.1f}]", d["verdict"]])
    if comp_rows:
        parts.append(_table(["basis", "baseline", "MLP minus baseline (accuracy points)", "interval", "MLP is"],
                            comp_rows, "comparison"))

    truth = report.get("truth")
    parts.append("<h2>Label noise</h2>")
    if truth:
        parts.append(f"<p>The simulator knows the truth behind every label: on the test rows "
                     f"{html.escape(interval(truth['label_error_rate']))} of the labels are wrong.</p>")
        parts.append(_table(["model", "accuracy vs labels", "accuracy vs truth"],
                            [[model_name(m), interval(truth[m]["accuracy_vs_labels"]),
                              interval(truth[m]["accuracy_vs_truth"])] for m in models], "truth"))
    else:
        parts.append("<p>The truth behind the labels is unknown for this data.</p>")
    if label_issues is not None:
        parts.append(label_issues_section(label_issues))

    parts.extend(drift_section(drift))

    parts.append(f"<h2>Slices (shipped model, test rows)</h2><p>Flagged rows: the whole {boot} interval lies below "
                 f"the accuracy on all test rows ({fmt(models[SHIPPED]['accuracy']['value'])}).</p>")
    slice_rows = "".join(
        f'<tr class="{"worse" if s["worse"] else ""}"><td>{html.escape(s["slicing"])}</td>'
        f'<td>{html.escape(s["slice"])}</td><td>{s["rows"]}</td><td>{fmt(s["authentic_share"], 2)}</td>'
        f'<td>{fmt(s["accuracy"])} [{fmt(s["ci95"][0])}, {fmt(s["ci95"][1])}]</td>'
        f'<td>{"worse" if s["worse"] else ""}</td></tr>' for s in slices)
    parts.append('<table class="slices"><thead><tr><th>slicing</th><th>slice</th><th>rows</th><th>authentic share'
                 f'</th><th>accuracy [{boot} CI]</th><th>flag</th></tr></thead><tbody>{slice_rows}</tbody></table>')

    parts.append("<h2>Plots</h2>")
    for name, path in pngs.items():
        title = PLOTS[name].title if name in PLOTS else name
        parts.append(f'<figure><img alt="{html.escape(title)}" src="{_png_uri(path)}">'
                     f"<figcaption>{html.escape(title)}</figcaption></figure>")

    parts.append('<h2 id="model-card">Model card</h2>')
    parts.append(_markdown_to_html(card_markdown))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _markdown_to_html(text: str) -> str:
    """Just enough Markdown for the model card this module writes: headings, bullets, tables, paragraphs."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            if level > 1:
                out.append(f"<h{level + 1}>{html.escape(line[level:].strip())}</h{level + 1}>")
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{_inline(lines[i][2:])}</li>")
                i += 1
            out.append("<ul>" + "".join(items) + "</ul>")
            continue
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                if not set(lines[i]) <= set("|-: "):
                    rows.append([c.strip() for c in lines[i].strip("|").split("|")])
                i += 1
            out.append(_table(rows[0], rows[1:]))
            continue
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
        i += 1
    return "\n".join(out)


def _inline(text: str) -> str:
    escaped = html.escape(text)
    parts = escaped.split("**")
    escaped = "".join(f"<b>{p}</b>" if k % 2 else p for k, p in enumerate(parts))
    parts = escaped.split("`")
    return "".join(f"<code>{p}</code>" if k % 2 else p for k, p in enumerate(parts))
