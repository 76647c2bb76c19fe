"""PNG plots that render offline (``dvc plots show`` fetches Vega from a CDN), one per plot of
:mod:`pipeline.reporting.plot_registry`, which names them and titles them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display here, and none needed

import matplotlib.pyplot as plt
import numpy as np

from pipeline.core import atomic
from pipeline.core.vocabulary import FOREST, GBDT, LOGREG, SHIPPED
from pipeline.evaluation import evaluate
from pipeline.reporting.plot_registry import PLOTS


def _save(fig: plt.Figure, target: Path) -> None:
    with atomic.atomic_path(target, suffix=".png") as tmp:
        # A fixed creation date in the metadata keeps equal plots byte-identical.
        fig.savefig(tmp, dpi=100, metadata={"Software": None})
    plt.close(fig)


def roc_png(points: Sequence[dict[str, float]], auc: float, target: Path) -> None:
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([p["fpr"] for p in points], [p["tpr"] for p in points], label=f"ROC AUC {auc:.3f}")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate (authentic)", title=PLOTS["roc"].heading)
    ax.legend(loc="lower right")
    fig.tight_layout()
    _save(fig, target)


def confusion_png(cm: np.ndarray, target: Path) -> None:
    fig, ax = plt.subplots(figsize=(4, 3.6))
    ax.imshow(cm, cmap="Blues")
    for (i, j), value in np.ndenumerate(cm):
        ax.text(j, i, str(int(value)), ha="center", va="center",
                color="white" if value > cm.max() / 2 else "black")
    ax.set_xticks([0, 1], ["authentic", "fake"])
    ax.set_yticks([0, 1], ["authentic", "fake"])
    ax.set(xlabel="predicted", ylabel="actual", title=PLOTS["confusion"].heading)
    fig.tight_layout()
    _save(fig, target)


MODEL_STYLE = {SHIPPED: ("tab:blue", "o"), LOGREG: ("tab:orange", "s"), FOREST: ("tab:green", "^"),
               GBDT: ("tab:red", "D")}


def _style(model: str) -> tuple[str, str]:
    return MODEL_STYLE.get(model, ("tab:grey", "x"))


def seed_accuracy_png(seed_accuracy: dict[int, float], target: Path) -> None:
    """Per-seed accuracy as points on a numeric, sorted seed axis; the y axis spans the data, not 0-1."""
    seeds = sorted(seed_accuracy)
    values = [seed_accuracy[s] for s in seeds]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(seeds, values, "o", color="tab:blue")
    ax.axhline(float(np.mean(values)), color="black", linestyle="--", linewidth=1, label="mean")
    ax.set(xlabel="member seed", ylabel="test accuracy", title=PLOTS["seed_accuracy"].heading.format(n=len(seeds)))
    ax.legend(loc="lower right")
    fig.tight_layout()
    _save(fig, target)


def seed_accuracy_histogram_png(counts: np.ndarray, edges: np.ndarray, mean: float, target: Path) -> None:
    """The per-seed accuracy histogram on its fixed bins (the same bins as the DVC plot data)."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.stairs(counts, edges, fill=True, color="tab:blue", edgecolor="white")
    ax.axvline(mean, color="black", linestyle="--", label="mean")
    ax.set(xlabel="test accuracy (first bin: at most its upper edge)", ylabel="seeds",
           title=PLOTS["seed_accuracy_histogram"].heading.format(n=int(np.sum(counts))))
    ax.legend()
    fig.tight_layout()
    _save(fig, target)


def kfold_accuracy_png(kfold: Sequence[dict], target: Path) -> None:
    """Accuracy per k-fold split: the MLP's members as points, each baseline as one marker per split."""
    splits = sorted({r["split"] for r in kfold})
    x_of = {s: i for i, s in enumerate(splits)}
    fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(splits) + 2), 3.4))
    for model in sorted({r["model"] for r in kfold}, key=lambda m: (m != SHIPPED, m)):
        rows = [r for r in kfold if r["model"] == model]
        colour, marker = _style(model)
        ax.plot([x_of[r["split"]] for r in rows], [r["accuracy"] for r in rows], marker, color=colour,
                alpha=0.45 if model == SHIPPED else 0.9, label=model, linestyle="none")
    ax.set_xticks(range(len(splits)), splits, rotation=45)
    ax.set(xlabel="k-fold split (repeat r, fold f)", ylabel="test accuracy", title=PLOTS["kfold_accuracy"].heading)
    if kfold:
        ax.legend(fontsize="small")
    else:
        ax.text(0.5, 0.5, "no k-fold splits (train.split.repeats: 0)", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    _save(fig, target)


def precision_recall_png(curves: dict[str, Sequence[dict[str, float]]], ap: dict[str, float], target: Path) -> None:
    fig, ax = plt.subplots(figsize=(4.8, 4.5))
    for model, points in curves.items():
        ax.plot([p["recall"] for p in points], [p["precision"] for p in points], color=_style(model)[0],
                label=f"{model} (AP {ap[model]:.3f})", drawstyle="steps-post")
    ax.set(xlabel="recall (fake)", ylabel="precision (fake)", title=PLOTS["precision_recall"].heading,
           ylim=(0, 1.02))
    ax.legend(loc="lower left")
    fig.tight_layout()
    _save(fig, target)


def calibration_png(bins: dict[str, Sequence[dict[str, float]]], ece: dict[str, float], target: Path) -> None:
    """The reliability diagram: share authentic against mean predicted P(authentic), per probability bin."""
    fig, ax = plt.subplots(figsize=(4.8, 4.5))
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfect calibration")
    for model, rows in bins.items():
        colour, marker = _style(model)
        ax.plot([r["mean_predicted"] for r in rows], [r["share_authentic"] for r in rows], marker=marker,
                color=colour, label=f"{model} (ECE {ece[model]:.3f})")
    ax.set(xlabel="mean predicted P(authentic)", ylabel="share authentic", title=PLOTS["calibration"].heading,
           xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    _save(fig, target)


def threshold_sweep_png(sweep: Sequence[dict[str, float]], chosen: float, target: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for column, colour in (("balanced_accuracy", "tab:blue"), ("precision_fake", "tab:red"),
                           ("recall_fake", "tab:green")):
        for split, style in (("valid", "-"), ("test", ":")):
            key = f"{column}_{split}"
            if key in sweep[0]:
                ax.plot([r["threshold"] for r in sweep], [r[key] for r in sweep], style, color=colour,
                        label=f"{column} ({split})")
    ax.axvline(chosen, color="black", linewidth=1, label=f"threshold {chosen:.2f}")
    ax.set(xlabel="threshold on P(authentic)", ylabel="value", title=PLOTS["threshold_sweep"].heading)
    ax.legend(fontsize="x-small", ncol=2)
    fig.tight_layout()
    _save(fig, target)


def write_pngs(ev: evaluate.Evaluation, targets: Mapping[str, Path]) -> None:
    """Every registered plot of the evaluation ``ev`` as a PNG, into ``targets`` (by plot name)."""
    models = ev.report["models"]
    roc_png(ev.roc, ev.report["roc_auc"], targets["roc"])
    confusion_png(ev.confusion, targets["confusion"])
    seed_accuracy_png(ev.seed_accuracy, targets["seed_accuracy"])
    counts, edges = evaluate.histogram(list(ev.seed_accuracy.values()))
    seed_accuracy_histogram_png(counts, edges, ev.report["seeds"]["mean"], targets["seed_accuracy_histogram"])
    kfold_accuracy_png(ev.kfold.to_dict("records"), targets["kfold_accuracy"])
    precision_recall_png(ev.pr, {m: v["average_precision_fake"]["value"] for m, v in models.items()},
                         targets["precision_recall"])
    calibration_png(ev.reliability, {m: v["ece"]["value"] for m, v in models.items()}, targets["calibration"])
    threshold_sweep_png(ev.sweep.to_dict("records"), ev.report["threshold"]["value"], targets["threshold_sweep"])
