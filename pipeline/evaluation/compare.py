"""Decide with the noise: is run B better than run A, or is the difference luck?

Both runs' split results (:mod:`pipeline.evaluation.splits`, one row per model, split and member seed) are
reduced to one number per split and metric, the mean over the member seeds, so that seed noise is
averaged before splits are compared. Only the repeated k-fold splits are compared: they are J estimates of
the same quantity, whereas the fixed hold-out is one.

**Paired** (same data, same k-fold splits, the same test rows split by split): the difference of the
split means, d_j = B_j - A_j, is tested with the Nadeau-Bengio corrected resampled t-test. k-fold
training sets overlap, so the J differences are correlated and their naive variance s^2/J claims far
more certainty than J splits hold; the correction uses (1/J + n_test/n_train) s^2 with J - 1 degrees of
freedom (Nadeau & Bengio 2003). The interval and the verdict words are :mod:`pipeline.evaluation.intervals`'s,
the same evaluate, the gate and the report use.

**Unpaired** (different data or different splits): the two runs' k-fold means, each with its own
corrected variance, are compared with Welch's t (Welch-Satterthwaite degrees of freedom). It is weaker,
and it is labelled as such wherever it is shown.

Nothing here imports TensorFlow: comparing runs never retrains and never waits for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import stats

from pipeline.core.errors import CompareError
from pipeline.core.vocabulary import HOLDOUT, SHIPPED
from pipeline.evaluation import intervals
from pipeline.evaluation.intervals import Interval, Verdict
from pipeline.evaluation.metric_registry import METRICS
from pipeline.evaluation.splits import SPLIT_METRICS

NO_DIFFERENCE = intervals.NO_DIFFERENCE


@dataclass(frozen=True)
class RunResults:
    """One model of one run, reduced to what a comparison needs."""

    label: str  # what the user called it: a revision, an experiment, "workspace", a file
    model: str
    protocol: dict[str, str]  # features_md5, threshold, split.*: the Parquet schema metadata
    member_seeds: tuple[int, ...]
    # One row per split, indexed by split name: split_digest, train_rows, test_rows, seeds and the
    # seed mean of every metric in SPLIT_METRICS.
    splits: pd.DataFrame

    @property
    def kfold(self) -> pd.DataFrame:
        return self.splits[self.splits.index != HOLDOUT]

    @property
    def name(self) -> str:
        return f"{self.label}:{self.model}"


def models(table: pa.Table) -> list[str]:
    """The models a split results table holds, in order of appearance (the shipped one first when train wrote it)."""
    return list(dict.fromkeys(table.column("model").to_pylist()))


def run_results(table: pa.Table, label: str, model: str = SHIPPED) -> RunResults:
    """Reduce a split results table to ``model``'s seed-averaged metrics per split."""
    present = models(table)
    if model not in present:
        raise CompareError(f"{label}: no results for model {model!r} (it has: {', '.join(present) or 'none'})")
    frame = table.to_pandas()
    frame = frame[frame["model"] == model]
    twice = frame[frame.duplicated(["split", "member_seed"])]
    if len(twice):
        raise CompareError(f"{label}: model {model!r} has split {twice['split'].iloc[0]!r}, member seed "
                           f"{twice['member_seed'].iloc[0]} more than once (not a split results table train wrote)")
    grouped = frame.groupby("split", sort=False)
    splits = grouped.agg(split_digest=("split_digest", "first"), train_rows=("train_rows", "first"),
                         test_rows=("test_rows", "first"), seeds=("member_seed", "nunique"))
    for m in SPLIT_METRICS:
        splits[m] = intervals.split_means(frame, m)
    metadata = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    return RunResults(label, model, metadata, tuple(sorted(frame["member_seed"].unique().tolist())), splits)


MIN_KFOLD = 2  # k-fold splits a comparison (and so the gate's no_regression rule) needs of each run


def require_kfold(run: RunResults) -> None:
    """Refuse ``run`` in one line unless it has the k-fold splits a comparison needs."""
    if len(run.kfold) < MIN_KFOLD:
        raise CompareError(f"{run.name}: {len(run.kfold)} k-fold split(s); a comparison needs at least {MIN_KFOLD} "
                           "(set train.split.repeats >= 1)")


@dataclass(frozen=True)
class MetricComparison:
    metric: str
    a_mean: float
    b_mean: float
    difference: float  # B - A
    low: float  # the (1 - alpha) interval of the difference
    high: float
    p_value: float
    df: float
    verdict: Verdict

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Comparison:
    a: str
    b: str
    paired: bool
    splits: int  # k-fold splits compared (paired: the common ones; unpaired: A's and B's, as "J_a/J_b" in notes)
    alpha: float
    metrics: list[MetricComparison]
    notes: list[str] = field(default_factory=list)  # why unpaired, and anything else a reader must know

    @property
    def verdict(self) -> str:
        """better / worse if some metric says so and none says the opposite; mixed if they disagree."""
        verdicts = {m.verdict for m in self.metrics} - {NO_DIFFERENCE}
        if not verdicts:
            return NO_DIFFERENCE
        return verdicts.pop() if len(verdicts) == 1 else "mixed"

    def metric(self, name: str) -> MetricComparison:
        return next(m for m in self.metrics if m.metric == name)

    def as_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "paired": self.paired, "splits": self.splits, "alpha": self.alpha,
                "verdict": self.verdict, "notes": self.notes, "metrics": [m.as_dict() for m in self.metrics]}


def _verdict(metric: str, low: float, high: float) -> Verdict:
    return intervals.verdict(low, high, METRICS[metric].higher_is_better)


def _t_test(difference: float, se: float, df: float, alpha: float) -> tuple[float, float, float]:
    """(low, high, p) of a t statistic; a zero standard error is an exact (noise-free) difference."""
    if se == 0:
        return difference, difference, (1.0 if difference == 0 else 0.0)
    half = float(stats.t.ppf(1 - alpha / 2, df)) * se
    p = float(2 * stats.t.sf(abs(difference / se), df))
    return difference - half, difference + half, p


def _ratio(run: RunResults) -> float:
    return intervals.test_train_ratio(run.kfold["test_rows"], run.kfold["train_rows"])


def paired_metric(metric: str, a: pd.Series, b: pd.Series, ratio: float, alpha: float) -> MetricComparison:
    """The corrected resampled t-test of B - A over the k-fold splits both hold (aligned by split name)."""
    d = (b - a).to_numpy(float)
    mean, low, high, p = (float(v) for v in intervals.corrected_t_test(d, ratio, alpha))
    return MetricComparison(metric, float(a.mean()), float(b.mean()), mean, low, high, p, float(len(d) - 1),
                            _verdict(metric, low, high))


def unpaired_metric(metric: str, a: RunResults, b: RunResults, alpha: float) -> MetricComparison:
    """Welch's t on the two runs' k-fold means, each with its Nadeau-Bengio corrected variance."""
    def corrected_var(run: RunResults) -> tuple[float, int]:
        values = run.kfold[metric].to_numpy(float)
        return float(intervals.corrected_variance(values, _ratio(run))), len(values)

    (va, ja), (vb, jb) = corrected_var(a), corrected_var(b)
    diff = float(b.kfold[metric].mean() - a.kfold[metric].mean())
    denominator = va**2 / (ja - 1) + vb**2 / (jb - 1)
    df = (va + vb) ** 2 / denominator if denominator > 0 else float(ja + jb - 2)
    low, high, p = _t_test(diff, float(np.sqrt(va + vb)), df, alpha)
    return MetricComparison(metric, float(a.kfold[metric].mean()), float(b.kfold[metric].mean()), diff, low, high, p,
                            float(df), _verdict(metric, low, high))


def protocol_differences(a: RunResults, b: RunResults) -> list[str]:
    """What keeps A and B from being paired split by split (empty: they pair)."""
    reasons = []
    md5_a, md5_b = a.protocol.get("features_md5"), b.protocol.get("features_md5")
    if md5_a != md5_b:
        reasons.append(f"different data (features md5 {md5_a} vs {md5_b})")
    ka, kb = a.kfold, b.kfold
    if list(ka.index) != list(kb.index):
        reasons.append(f"different k-fold splits ({len(ka)} vs {len(kb)})")
    elif not (ka["split_digest"] == kb["split_digest"]).all():
        differing = [s for s in ka.index if ka.at[s, "split_digest"] != kb.at[s, "split_digest"]]
        reasons.append(f"different test rows on split {differing[0]} ({len(differing)} of {len(ka)} splits differ)")
    return reasons


def _notes(a: RunResults, b: RunResults) -> list[str]:
    notes = []
    if a.member_seeds != b.member_seeds:
        notes.append(f"member seeds differ ({_seeds(a.member_seeds)} vs {_seeds(b.member_seeds)}): seed noise is "
                     "part of the difference, averaged within each split")
    for key in sorted(set(a.protocol) | set(b.protocol)):
        if key != "features_md5" and a.protocol.get(key) != b.protocol.get(key):
            notes.append(f"{key} differs ({a.protocol.get(key)} vs {b.protocol.get(key)})")
    return notes


def _seeds(seeds: Sequence[int]) -> str:
    if len(seeds) > 1 and list(seeds) == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(map(str, seeds))


def compare(a: RunResults, b: RunResults, alpha: float, allow_unpaired: bool = True,
            metrics: Sequence[str] = SPLIT_METRICS) -> Comparison:
    """Compare B against A on every metric; paired where the protocols allow, else unpaired (or refuse)."""
    for run in (a, b):
        require_kfold(run)
    reasons = protocol_differences(a, b)
    notes = _notes(a, b)
    if not reasons:
        ka, kb = a.kfold, b.kfold.loc[a.kfold.index]
        ratio = (_ratio(a) + _ratio(b)) / 2
        results = [paired_metric(m, ka[m], kb[m], ratio, alpha) for m in metrics]
        return Comparison(a.name, b.name, True, len(ka), alpha, results, notes)
    if not allow_unpaired:
        raise CompareError(f"{a.name} and {b.name} cannot be paired: {'; '.join(reasons)}")
    notes = [f"UNPAIRED: {'; '.join(reasons)}; the runs are compared as independent samples (weaker)", *notes]
    results = [unpaired_metric(m, a, b, alpha) for m in metrics]
    return Comparison(a.name, b.name, False, min(len(a.kfold), len(b.kfold)), alpha, results, notes)


def to_markdown(c: Comparison) -> str:
    """The comparison as a Markdown report: one table row per metric, then the notes."""
    level = intervals.percent(1 - c.alpha)
    kind = (f"paired over {c.splits} k-fold splits (Nadeau-Bengio corrected resampled t-test)" if c.paired
            else "UNPAIRED (Welch's t on each run's corrected k-fold mean)")
    lines = [f"## `{c.b}` against `{c.a}`", "",
             f"Verdict: **{c.verdict}** at alpha {c.alpha:g}; {kind}.", "",
             f"| metric | A | B | B - A | {level} interval | p | verdict |", "|---|---|---|---|---|---|---|"]
    for m in c.metrics:
        lines.append(f"| {m.metric} | {m.a_mean:.4f} | {m.b_mean:.4f} | {m.difference:+.4f} | "
                     f"[{m.low:+.4f}, {m.high:+.4f}] | {m.p_value:.3g} | {m.verdict} |")
    if c.notes:
        lines += ["", *[f"- {n}" for n in c.notes]]
    return "\n".join(lines) + "\n"


def summary(run: RunResults, alpha: float, metrics: Sequence[str] = SPLIT_METRICS) -> Mapping[str, Interval]:
    """Each metric's k-fold mean with its corrected (1 - alpha) interval."""
    return {m: intervals.corrected_interval(run.kfold[m].to_numpy(float), _ratio(run), alpha) for m in metrics}
