"""Every plot evaluate draws, defined once: its name, its files and its titles.

Evaluate writes each plot twice under ``reports/plots/``: ``<name>.csv``, DVC's plot data, and ``<name>.png``,
drawn by :mod:`pipeline.reporting.plots` (``dvc plots show`` needs a CDN for Vega; the PNG needs nothing,
and ``reports/report.html`` inlines it). The report's figures, the CI comment (``igfake ci-report``) and
``dvc.yaml``'s ``plots:`` read the names and titles here; ``dvc.yaml`` must spell them out (it is YAML), so
``tests/test_common.py`` holds it to this list. Apart from :mod:`.plots` so that reading it needs no
matplotlib.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.core import paths


@dataclass(frozen=True)
class Plot:
    name: str
    title: str  # the report's figure caption, the CI comment's and dvc.yaml's title
    # Drawn at the top of the PNG, with ``{n}`` (members or seeds) where it counts them. Apart from ``title``
    # only because the images already carry it: one title for both would change every PNG and the report.
    heading: str

    # Resolved when asked, not at import: tests point paths.PLOTS at a temporary project.
    @property
    def data(self) -> Path:
        """DVC's plot data."""
        return paths.PLOTS / f"{self.name}.csv"

    @property
    def png(self) -> Path:
        return paths.PLOTS / f"{self.name}.png"


_ALL = (
    Plot("roc", "ROC curve", "ROC, test rows"),
    Plot("confusion", "Confusion matrix", "Confusion, test rows"),
    Plot("seed_accuracy", "Test accuracy per member seed", "Test accuracy of each of {n} members"),
    Plot("seed_accuracy_histogram", "Per-seed accuracy, fixed bins", "Accuracy over {n} seeds"),
    Plot("kfold_accuracy", "Accuracy by k-fold split and member", "Accuracy by split and member"),
    Plot("precision_recall", "Precision-recall of 'fake'", "Precision-recall of 'fake', test rows"),
    Plot("calibration", "Reliability diagram", "Calibration, test rows"),
    Plot("threshold_sweep", "Threshold sweep", "Threshold sweep (chosen on validation rows)"),
)
# By name, in the order the report shows them.
PLOTS: dict[str, Plot] = {p.name: p for p in _ALL}


def data_files() -> dict[str, Path]:
    """Every plot's data file (CSV), by name."""
    return {name: p.data for name, p in PLOTS.items()}


def png_files() -> dict[str, Path]:
    """Every plot's image (PNG), by name, in the report's order."""
    return {name: p.png for name, p in PLOTS.items()}
