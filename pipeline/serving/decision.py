"""The shipped model's decision: the threshold at which P(authentic) means "authentic", owned by evaluate.

``evaluate`` chooses the threshold (``evaluate.threshold_rule`` on the validation rows, or
``evaluate.threshold`` with the ``fixed`` rule) and writes it, with how it was chosen and the shipped
recipe's error rates at it, to ``models/decision.json``, beside the model it applies to. Everything that
turns a probability into a decision reads that file: ``igfake predict``, ``igfake audit``, the report and
the registered MLflow model (which carries it as an artifact). Nothing else decides, so they cannot
disagree. The rates are counts of decisions against labels on held-out rows (cross-validated where the
k-fold study ran: every labelled row scored by models that never saw it): what the audit corrects for.

Read back with :func:`read`, which checks every field and names the file and the field when one is wrong.
Nothing here imports more than the standard library.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core import paths
from pipeline.core.errors import InputError

FILE = "decision.json"
COUNTS = ("true_authentic", "false_fake", "false_authentic", "true_fake")


@dataclass(frozen=True)
class Decision:
    threshold: float  # P(authentic) from which a profile is called authentic
    rule: str  # evaluate.threshold_rule that chose it
    chosen_on: str  # "valid" (the hold-out's validation rows) or "params.yaml" (the fixed rule)
    counts: dict[str, int]  # the shipped recipe's decisions against the labels at ``threshold``: COUNTS
    counts_from: str  # which held-out rows the counts come from

    @property
    def tpr(self) -> float:
        """Share of the labelled-authentic rows called authentic."""
        c = self.counts
        return c["true_authentic"] / max(c["true_authentic"] + c["false_fake"], 1)

    @property
    def fpr(self) -> float:
        """Share of the labelled-fake rows called authentic."""
        c = self.counts
        return c["false_authentic"] / max(c["false_authentic"] + c["true_fake"], 1)

    def as_dict(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return {"threshold": self.threshold, "rule": self.rule, "chosen_on": self.chosen_on, **dict(extra or {}),
                "shipped_rates": dict(self.counts) | {"tpr": self.tpr, "fpr": self.fpr, "from": self.counts_from}}


def counts(labels: Any, authentic: Any) -> dict[str, int]:
    """COUNTS from labels (1 authentic) and decisions (True: called authentic), both sequences of one length."""
    pairs = list(zip((int(v) == 1 for v in labels), (bool(v) for v in authentic), strict=True))
    return {"true_authentic": sum(a and c for a, c in pairs), "false_fake": sum(a and not c for a, c in pairs),
            "false_authentic": sum(c and not a for a, c in pairs),
            "true_fake": sum(not a and not c for a, c in pairs)}


def write_dict(decision: Decision, chosen: Mapping[str, Any]) -> dict[str, Any]:
    """What ``models/decision.json`` holds: the decision, and everything the rule recorded (``chosen``)."""
    extra = {k: v for k, v in chosen.items() if k not in ("value", "rule", "chosen_on")}
    return decision.as_dict(extra)


def read(path: Path) -> Decision:
    """The decision in ``path``, checked field by field (one line naming the file and the field otherwise)."""
    shown = paths.shown(Path(path))
    if not Path(path).is_file():
        raise InputError(f"{shown}: not found: no decision threshold (run `dvc repro`, which writes it in evaluate, "
                         "or pass --threshold)")
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{shown}: not a decision file ({exc}); run `dvc repro` to rebuild it") from None
    if not isinstance(data, dict):
        raise InputError(f"{shown}: not a decision file (expected a JSON object)")

    def field(key: str, kind: type | tuple[type, ...], where: Mapping[str, Any] = data, name: str = "") -> Any:
        value = where.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            expected = {int: "an integer", str: "a string"}.get(kind, "a number")  # type: ignore[call-overload]
            raise InputError(f"{shown}: {name or key}: expected {expected}, got {value!r}")
        return value

    threshold = float(field("threshold", (int, float)))
    if not (math.isfinite(threshold) and 0 < threshold < 1):
        raise InputError(f"{shown}: threshold: expected a number strictly between 0 and 1, got {threshold!r}")
    rates = data.get("shipped_rates")
    if not isinstance(rates, dict):
        raise InputError(f"{shown}: shipped_rates: expected an object, got {rates!r}")
    tallies = {k: field(k, int, rates, f"shipped_rates.{k}") for k in COUNTS}
    if any(v < 0 for v in tallies.values()):
        raise InputError(f"{shown}: shipped_rates: counts must not be negative, got {tallies}")
    return Decision(threshold, field("rule", str), field("chosen_on", str), tallies, field("from", str, rates,
                                                                                           "shipped_rates.from"))
