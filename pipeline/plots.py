"""PNG plots that render offline (``dvc plots show`` fetches Vega from a CDN)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display here, and none needed

import matplotlib.pyplot as plt
import numpy as np

from pipeline import atomic


def _save(fig: plt.Figure, target: Path) -> None:
    with atomic.atomic_path(target, suffix=".png") as tmp:
        # A fixed creation date in the metadata keeps equal plots byte-identical.
        fig.savefig(tmp, dpi=100, metadata={"Software": None})
    plt.close(fig)


def roc_png(points: Sequence[dict[str, float]], auc: float, target: Path) -> None:
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([p["fpr"] for p in points], [p["tpr"] for p in points], label=f"ROC AUC {auc:.3f}")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate (authentic)", title="ROC, test rows")
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
    ax.set(xlabel="predicted", ylabel="actual", title="Confusion, test rows")
    fig.tight_layout()
    _save(fig, target)


def histogram(values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(counts, bin edges) of per-seed accuracies; the PNG and the DVC plot data share these bins."""
    return np.histogram(np.asarray(values, float), bins=min(15, max(3, len(values) // 2)))


def seed_histogram_png(accuracies: Sequence[float], target: Path) -> None:
    counts, edges = histogram(accuracies)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.stairs(counts, edges, fill=True, color="tab:blue", edgecolor="white")
    ax.axvline(float(np.mean(accuracies)), color="black", linestyle="--", label="mean")
    ax.set(xlabel="test accuracy", ylabel="seeds", title=f"Accuracy over {len(accuracies)} seeds")
    ax.legend()
    fig.tight_layout()
    _save(fig, target)
