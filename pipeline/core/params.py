"""``params.yaml`` as typed, validated, frozen data.

:func:`load` reads the whole file once into :class:`Params`, one field per section, each section a dataclass
below. Loading checks every key: an unknown key, a missing key or a value of the wrong type or range raises
:class:`ParamsError` with a message that names the key and the value, e.g. ``train.epochs: expected a
positive integer, got 'ten'``. Stages and commands load it first, before anything heavy is imported, and
turn that into a one-line error and exit status 2, never a traceback.

Why not pydantic (v2 is installed, with MLflow): it was tried on these dataclasses, and keeping the messages
would take as much code as the converter below, only harder to follow. Its lax mode takes ``True``, ``2.0``
and ``"4"`` as integers (the messages above refuse them), so every scalar field would need a ``Strict``
annotation; its errors (``int_parsing``, ``missing``, ``unexpected_keyword_argument``, ...) would need a
translation into this wording, field by field, plus the range wording of each :class:`Check`; and it reports
a missing key before an unknown one, where a typo (``epoch:``) is named first here. The message table would
then hang on pydantic's error codes, and the foundation on a package the project does not list itself.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from pipeline.core import paths
from pipeline.core.errors import ParamsError
from pipeline.core.vocabulary import BASELINES, MODELS

# The largest integer a count, a size or a limit in params.yaml may be: what a C int holds, so no value
# that passes here overflows in numpy, TensorFlow, Arrow or the socket layer further down.
MAX_INT = 2**31 - 1
# Seeds go to numpy's and scikit-learn's legacy seeding, which takes 0 .. 2**32 - 1.
MAX_SEED = 2**32 - 1
# Timeouts, backoffs, windows: a day is far beyond any sensible value and far inside what sleep() takes.
MAX_SECONDS = 86_400


@dataclass(frozen=True)
class Check:
    """A range constraint: ``describe`` is what the message says was expected.

    Integers are also held to ``max_int`` (numbers are always finite: ``.inf`` and ``.nan`` never pass).
    """

    describe: str
    ok: Callable[[Any], bool]
    max_int: int = MAX_INT


POSITIVE_INT = Check("a positive integer", lambda v: v > 0)
NON_NEGATIVE_INT = Check("a non-negative integer", lambda v: v >= 0)
SEED = Check(f"an integer from 0 to {MAX_SEED}", lambda v: 0 <= v <= MAX_SEED, max_int=MAX_SEED)
POSITIVE_NUMBER = Check("a positive number", lambda v: v > 0)
NON_NEGATIVE_NUMBER = Check("a non-negative number", lambda v: v >= 0)
POSITIVE_SECONDS = Check(f"a number of seconds above 0, at most {MAX_SECONDS}", lambda v: 0 < v <= MAX_SECONDS)
SECONDS = Check(f"a number of seconds from 0 to {MAX_SECONDS}", lambda v: 0 <= v <= MAX_SECONDS)
OPEN_FRACTION = Check("a number strictly between 0 and 1", lambda v: 0 < v < 1)
PROBABILITY = Check("a number between 0 and 1", lambda v: 0 <= v <= 1)
NON_EMPTY = Check("a non-empty list", lambda v: len(v) > 0)


def checked(check: Check, **kwargs: Any) -> Any:
    return field(metadata={"check": check}, **kwargs)


@dataclass(frozen=True)
class FaultParams:
    """How hostile the simulated Instagram is. All zero: a well-behaved API (the default).

    The simulator's server takes this class as is (:mod:`pipeline.instagram.server`): there is no second
    copy of these fields, or of their defaults, to keep in step.
    """

    # Faults are drawn from this seed and each request's URL and attempt number, so they do not
    # depend on thread scheduling: the same crawl meets the same faults.
    seed: int = checked(SEED)
    # Share of requests answered 500/502/503, dropped with a TCP reset, or given a truncated JSON body.
    server_error_rate: float = checked(PROBABILITY)
    reset_rate: float = checked(PROBABILITY)
    malformed_rate: float = checked(PROBABILITY)
    # Share of requests answered only after slow_seconds.
    slow_rate: float = checked(PROBABILITY)
    slow_seconds: float = checked(SECONDS)
    # At most this many requests per window, the rest answered 429 as Instagram does (0: no limit).
    rate_limit_requests: int = checked(NON_NEGATIVE_INT)
    rate_limit_window_seconds: float = checked(POSITIVE_SECONDS)
    # After this many requests every request is refused: 403 login_required / 400 checkpoint_required
    # (0: never). They test the crawler's abort, not its retries.
    login_required_after: int = checked(NON_NEGATIVE_INT)
    checkpoint_required_after: int = checked(NON_NEGATIVE_INT)


@dataclass(frozen=True)
class SimulatorParams:
    """The simulated Instagram served over loopback HTTP (crawl) and its annotator (label-import)."""

    seed: int = checked(SEED)
    # How many distinct accounts follow or are followed by each seed account.
    accounts_per_seed: int = checked(POSITIVE_INT)
    # Share of the annotator's decisions that are plain mistakes (the truth is the other class).
    annotator_mistake_rate: float = checked(PROBABILITY)
    # Share of the profiles labelled authentic. null: the calibration's (332 of 969), the default world; a
    # number draws another class mix from the same per-class distributions (a prior shift, for drift).
    authentic_share: float | None = checked(PROBABILITY)
    faults: FaultParams


@dataclass(frozen=True)
class CrawlParams:
    # simulator: the simulated Instagram, started in the stage; instagram: the real private API at
    # https://i.instagram.com with the session id from $IG_SESSIONID; files: the dumps in ``files``.
    source: Literal["simulator", "instagram", "files"]
    # The private API's base URL for source instagram (another URL: e.g. `igfake simulator serve`).
    instagram_url: str = checked(Check("an http:// or https:// URL", lambda v: v.startswith(("http://", "https://"))))
    # JSON Lines of user-info records, or one JSON object keyed by pk (paths relative to the project
    # root). Read only when source is files.
    files: tuple[str, ...]
    # Usernames whose follower and following lists are crawled.
    seed_accounts: tuple[str, ...] = checked(NON_EMPTY)
    max_profiles: int = checked(POSITIVE_INT)
    page_size: int = checked(Check("an integer from 1 to 200", lambda v: 1 <= v <= 200))
    concurrency: int = checked(POSITIVE_INT)
    timeout_seconds: float = checked(POSITIVE_SECONDS)
    # Client-side limit on requests (retries included) per minute; 0: unlimited.
    requests_per_minute: float = checked(NON_NEGATIVE_NUMBER)
    # Retries of one request on 429, 5xx, timeouts, resets and malformed bodies, on urllib3's schedule:
    # the first at once, then after backoff_seconds * 2**k (k = 1, 2, ...) plus up to backoff_seconds
    # of jitter, at most backoff_max_seconds; a Retry-After header wins.
    max_retries: int = checked(NON_NEGATIVE_INT)
    backoff_seconds: float = checked(SECONDS)
    backoff_max_seconds: float = checked(SECONDS)


@dataclass(frozen=True)
class LabelImportParams:
    # simulator: the simulated annotator's decisions; files: the annotators' label files below.
    source: Literal["simulator", "files"]
    # Globs relative to the project root, read only when source is files. They must match files
    # under data/labels/ (the directory dvc.yaml tracks): igfake label CSVs and legacy JSON (keyed by
    # pk, records carrying is_authentic).
    files: tuple[str, ...]
    # What an "unsure" decision counts as: an authentic vote (the article's rule) or no vote at all.
    unsure: Literal["authentic", "drop"]
    # Annotators disagree: the majority wins; a tie goes to fake, to authentic, or drops the profile.
    tie: Literal["fake", "authentic", "drop"]
    # A malformed row, an unknown label or a bad timestamp stops the stage (error) or is set aside in
    # data/interim/label_quarantine.jsonl with the reason and counted in reports/labels.json.
    on_bad_row: Literal["error", "quarantine"]


@dataclass(frozen=True)
class FeaturizeParams:
    feature_set: Literal["seed16"]


@dataclass(frozen=True)
class DriftParams:
    """Stage ``validate`` and ``igfake drift``: features against the reference (pipeline/validation/drift.py)."""

    # Family-wise significance level of the drift tests: each p-value is Bonferroni-corrected over every
    # test of one report (features and the model's score, times labels), so a re-crawl of the same world
    # flags a feature with probability at most alpha.
    alpha: float = checked(OPEN_FRACTION)
    # Groups (a label's rows) of more rows than this on both sides are compared by a distance, not a test:
    # on large samples every test rejects a negligible difference. 1000 is Evidently's default.
    large_sample: int = checked(POSITIVE_INT)
    # Large samples: Wasserstein distance over the reference's standard deviation (log1p for heavy-tailed
    # counts) above which a numeric feature has drifted (Evidently's default 0.1).
    max_wasserstein: float = checked(POSITIVE_NUMBER)
    # Large samples: Jensen-Shannon distance (base 2, from 0 to 1) above which a categorical feature has drifted.
    max_jensen_shannon: float = checked(OPEN_FRACTION)
    # Quantile bins of the reference for the population stability index (reported, decides nothing).
    psi_bins: int = checked(Check("an integer from 2 to 100", lambda v: 2 <= v <= 100))
    # At most this many rows of the accepted run's features go into data/baseline/reference.parquet.
    reference_rows: int = checked(POSITIVE_INT)
    # Seeds the reference's sample and the audit's subsample of the reference at its estimated share.
    seed: int = checked(SEED)


@dataclass(frozen=True)
class RecipeParams:
    """How a member learns, beyond its architecture: one named preset of these is in force."""

    # Inside the model: log1p of the heavy-tailed counts, then standardisation (training rows' moments).
    log_counts: bool
    standardise: bool
    # Then a piecewise-linear encoding of every column on this many quantile bins of the training rows
    # (pipeline/training/model.py PiecewiseLinear; 0: none). keep_inputs: the first layer also reads the
    # columns themselves, beside their encoding.
    bins: int = checked(Check("an integer from 0 to 64", lambda v: 0 <= v <= 64))
    keep_inputs: bool
    # L2 penalty on each member's kernels, added to its training loss (0: none).
    weight_decay: float = checked(NON_NEGATIVE_NUMBER)
    # Share of the training rows held out for early stopping (0: none, as the article).
    validation_size: float = checked(Check("a number from 0 to 0.5", lambda v: 0 <= v <= 0.5))
    # Epochs without validation-loss improvement before a member stops (0: never stop early).
    patience: int = checked(NON_NEGATIVE_INT)
    class_weight: Literal["none", "balanced"]


@dataclass(frozen=True)
class PresetsParams:
    # Log counts, standardised, a piecewise-linear encoding and weight decay: the default, measured best
    # of the three on the k-fold splits (docs/seed-variance.md).
    ple: RecipeParams
    # Log counts, standardised, early stopping: the recipe that shrank the seeds' swing.
    stable: RecipeParams
    # The article as written: raw features, all 200 epochs, no validation slice.
    article: RecipeParams


@dataclass(frozen=True)
class SplitParams:
    test_size: float = checked(OPEN_FRACTION)
    seed: int = checked(SEED)
    # Repeated stratified k-fold for the variance study (repeats 0: hold-out only).
    folds: int = checked(Check("an integer from 2 to 20", lambda v: 2 <= v <= 20))
    repeats: int = checked(NON_NEGATIVE_INT)


@dataclass(frozen=True)
class BaselinesParams:
    """scikit-learn baselines fitted on exactly the MLP's splits and features, reported beside it."""

    # Which baselines (none: []): logistic regression on the MLP's preprocessed features, a random forest
    # on the raw ones. Each is one deterministic member, seeded with train.seed.
    models: tuple[Literal[BASELINES], ...] = checked(
        Check("a list of distinct baselines", lambda v: len(set(v)) == len(v)))
    # Inverse L2 regularisation strength of the logistic regression.
    logreg_c: float = checked(POSITIVE_NUMBER)
    forest_trees: int = checked(POSITIVE_INT)
    # Gradient-boosted trees, a small fixed configuration (never tuned on test rows): boosting rounds, the
    # shrinkage of each, leaves per tree and rows per leaf. No early stopping: it would carve its own
    # validation rows out of the split's training rows, a second, different slice from the MLP's.
    gbdt_rounds: int = checked(POSITIVE_INT)
    gbdt_learning_rate: float = checked(POSITIVE_NUMBER)
    gbdt_max_leaf_nodes: int = checked(Check("an integer of at least 2", lambda v: v >= 2))
    gbdt_min_samples_leaf: int = checked(POSITIVE_INT)


@dataclass(frozen=True)
class TrainParams:
    # Member k of the seed study is initialised and shuffled with seed + k.
    seed: int = checked(SEED)
    seeds: int = checked(POSITIVE_INT)
    epochs: int = checked(POSITIVE_INT)
    batch_size: int = checked(POSITIVE_INT)
    learning_rate: float = checked(POSITIVE_NUMBER)
    hidden_units: int = checked(POSITIVE_INT)
    preset: Literal["ple", "stable", "article"]
    presets: PresetsParams
    split: SplitParams
    # What ships (train builds it, export-tflite converts it): the mean probability of all seed members, or
    # member 0 alone (pipeline.training.predictions.shipped_index).
    ship: Literal["ensemble", "seed"]
    # Calibration of the shipped model, fitted on the hold-out's validation rows and built into it
    # (pipeline/training/calibration.py): none, temperature (sigmoid(z / T)) or platt (sigmoid(a z + b)).
    calibration: Literal["none", "temperature", "platt"]
    baselines: BaselinesParams

    @property
    def recipe(self) -> RecipeParams:
        return getattr(self.presets, self.preset)

    def __post_init__(self) -> None:
        if self.seed + self.seeds - 1 > MAX_SEED:
            raise ParamsError(f"train.seed: members are seeded train.seed + k for k < train.seeds, so train.seed "
                              f"must be at most {MAX_SEED - self.seeds + 1} with {self.seeds} seeds, "
                              f"got {self.seed}")
        for name in ("stable", "article"):
            recipe = getattr(self.presets, name)
            if recipe.patience > 0 and recipe.validation_size == 0:
                raise ParamsError(f"train.presets.{name}.patience: early stopping needs a validation slice, "
                                  f"but train.presets.{name}.validation_size is 0")
        if self.calibration != "none" and self.recipe.validation_size == 0:
            raise ParamsError(f"train.calibration: {self.calibration} is fitted on validation rows, but "
                              f"train.presets.{self.preset}.validation_size is 0")


@dataclass(frozen=True)
class LabelIssuesParams:
    """Stage ``label-issues``: confident learning on train's out-of-fold probabilities
    (pipeline/labelling/issues.py; docs/labelling.md measures the choices)."""

    # Whose out-of-fold P(authentic): mlp (the shipped recipe) and baselines, each averaged over every
    # k-fold repeat, then averaged together. A baseline train.baselines.models leaves out is left out here.
    models: tuple[Literal[MODELS], ...] = checked(
        Check("a non-empty list of distinct models", lambda v: len(v) > 0 and len(set(v)) == len(v)))
    # cleanlab's find_label_issues filter_by: which rows are flagged (they are ranked by self-confidence).
    # prune_by_noise_rate (cleanlab's default) flags as many per class as the confident joint estimates
    # are wrong; confident_learning only the joint's off-diagonal: fewer, more precisely, missing more.
    filter_by: Literal["confident_learning", "prune_by_noise_rate", "prune_by_class", "both", "predicted_neq_given"]


@dataclass(frozen=True)
class GateParams:
    """What a model must show before `igfake promote` makes it the registry's champion
    (:mod:`pipeline.evaluation.gate`). A judgement, never a failure: every run completes either way."""

    # false: nothing is judged, so no model is blessed or can be promoted (reports/gate.json says why).
    enabled: bool
    # The lower ends of the k-fold accuracy's and ROC AUC's (1 - compare.alpha) intervals must reach these.
    # The defaults suit the simulated data; set your own for yours (docs/gate.md).
    min_accuracy: float = checked(PROBABILITY)
    min_roc_auc: float = checked(PROBABILITY)
    # No metric significantly worse than the baseline, data/baseline/splits.parquet (`igfake baseline`);
    # skipped when the baseline saw other data (a different features md5).
    no_regression: bool
    # No drift in reports/drift.json (stage validate: a feature beyond drift's
    # thresholds; a prior shift alone passes). Off by default: the gate then reads no drift report at all.
    no_drift: bool


@dataclass(frozen=True)
class EvaluateParams:
    # The decision threshold on P(authentic) with threshold_rule fixed. Whatever the rule, evaluate writes the
    # threshold in force to models/decision.json, which predict, audit and the registered model read.
    threshold: float = checked(OPEN_FRACTION)
    # fixed: ``threshold``; balanced_accuracy: the threshold with the best balanced accuracy on the
    # validation rows; precision_fake: the lowest-cost threshold whose "fake" calls reach
    # target_precision_fake on the validation rows. Never chosen on test rows.
    threshold_rule: Literal["fixed", "balanced_accuracy", "precision_fake"]
    target_precision_fake: float = checked(OPEN_FRACTION)
    # Test-row bootstrap resamples for the 95% intervals, and their seed.
    bootstrap: int = checked(Check("an integer from 100 to 100000", lambda v: 100 <= v <= 100_000))
    bootstrap_seed: int = checked(NON_NEGATIVE_INT)
    # Equal-width probability bins of the expected calibration error and the reliability diagram.
    calibration_bins: int = checked(Check("an integer from 2 to 50", lambda v: 2 <= v <= 50))
    gate: GateParams


@dataclass(frozen=True)
class CompareParams:
    # Significance level of `igfake compare`, the gate and the CI report; their intervals are (1 - alpha).
    alpha: float = checked(OPEN_FRACTION)


@dataclass(frozen=True)
class ExportTfliteParams:
    tolerance: float = checked(POSITIVE_NUMBER)


@dataclass(frozen=True)
class MlflowParams:
    experiment: str
    # The Model Registry's model: track registers every run's TFLite model as a new version of it, tagged
    # with its verdict; `igfake promote` moves its alias "champion" to a blessed version.
    registered_model: str = checked(Check("a name of letters, digits, '.', '_' and '-'",
                                          lambda v: re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", v) is not None))


@dataclass(frozen=True)
class TrainListParams:
    """The audit's list-only model: the article's network on what a follower list carries."""

    # Member k is initialised and shuffled with seed + k; the members' mean probability ships.
    seed: int = checked(NON_NEGATIVE_INT)
    seeds: int = checked(POSITIVE_INT)
    epochs: int = checked(POSITIVE_INT)
    batch_size: int = checked(POSITIVE_INT)
    learning_rate: float = checked(POSITIVE_NUMBER)
    hidden_units: int = checked(POSITIVE_INT)
    # Early stopping on train's validation rows (train's split is reused, so the test rows are the same).
    patience: int = checked(POSITIVE_INT)
    class_weight: Literal["none", "balanced"]
    # Bootstrap resamples of the test rows for the AUC's 95% interval.
    bootstrap: int = checked(POSITIVE_INT)
    # The list-only model's own cut, for its test accuracy and the audit's list-only share. Not the shipped
    # model's threshold, which evaluate chooses (models/decision.json): train-list never waits for evaluate.
    threshold: float = checked(OPEN_FRACTION)
    # LiteRT must agree with Keras within this on every test row, as for the main model.
    tolerance: float = checked(POSITIVE_NUMBER)


@dataclass(frozen=True)
class AuditSimulatorParams:
    """The simulated accounts `igfake audit` audits when audit.source is simulator."""

    seed: int = checked(NON_NEGATIVE_INT)
    # The simulated accounts' usernames: `igfake audit NAME` audits one of them and refuses any other name
    # (a made-up answer for an account that does not exist would be worse than an error).
    accounts: tuple[str, ...] = checked(NON_EMPTY)
    # Followers of each simulated account.
    followers: int = checked(POSITIVE_INT)
    # Each follower is labelled authentic with this probability (drawn like the crawl's profiles).
    authentic_share: float = checked(PROBABILITY)


@dataclass(frozen=True)
class AuditParams:
    # simulator: a simulated account (audit.simulator); instagram: the real API as $IG_SESSIONID, with the
    # crawl's URL, timeout, retries, backoff, concurrency and requests_per_minute.
    source: Literal["simulator", "instagram"]
    # Followers whose full profile is fetched and scored with the shipped model (a seeded random sample).
    sample_size: int = checked(POSITIVE_INT)
    # Seed of that sample: the same seed, the same followers sampled.
    seed: int = checked(NON_NEGATIVE_INT)
    # Pages of the follower list one audit may read: a cursor that never ends stops here (at 200 a page,
    # crawl.page_size, 2,500 pages are 500,000 followers).
    max_pages: int = checked(POSITIVE_INT)
    # HTTP requests one audit may send, retries included (answers replayed from the resume journal are
    # free): the pages, audit.sample_size profiles and room for retries; whatever runs away stops here.
    max_requests: int = checked(POSITIVE_INT)
    simulator: AuditSimulatorParams


@dataclass(frozen=True)
class Params:
    """The whole of ``params.yaml``, one field per section, in the file's order: what :func:`load` returns."""

    simulator: SimulatorParams
    crawl: CrawlParams
    label_import: LabelImportParams
    featurize: FeaturizeParams
    drift: DriftParams
    train: TrainParams
    label_issues: LabelIssuesParams
    evaluate: EvaluateParams
    compare: CompareParams
    export_tflite: ExportTfliteParams
    mlflow: MlflowParams
    train_list: TrainListParams
    audit: AuditParams


T = TypeVar("T")


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is tuple:
        item = typing.get_args(tp)[0]
        return f"a list of {({str: 'string', int: 'integer', float: 'number'}).get(item, str(item))}s"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(tp, str(tp))


def _convert(value: Any, tp: Any, where: str) -> Any:
    def fail(expected: str) -> ParamsError:
        return ParamsError(f"{where}: expected {expected}, got {value!r}")

    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise fail(f"a mapping of {', '.join(f.name for f in dataclasses.fields(tp))}")
        return build(tp, value, where)
    if origin is Literal:
        if value not in typing.get_args(tp) or isinstance(value, bool):
            raise fail(_describe(tp))
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise fail(_describe(tp))
        (item_tp, _ellipsis) = typing.get_args(tp)
        return tuple(_convert(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        raise TypeError(f"unsupported params type {tp}")
    if tp is bool:
        if not isinstance(value, bool):
            raise fail(_describe(tp))
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail(_describe(tp))
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise fail(_describe(tp))
        try:
            number = float(value)
        except OverflowError:  # an integer too large for a float
            raise fail("a finite number") from None
        if not math.isfinite(number):
            raise fail("a finite number")
        return number
    if tp is str:
        if not isinstance(value, str) or not value:
            raise fail("a non-empty string")
        return value
    raise TypeError(f"unsupported params type {tp}")


def build(cls: type[T], data: dict[str, Any], where: str) -> T:
    """Build dataclass ``cls`` from ``data``, checking every key; ``where`` prefixes error messages."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ParamsError(f"{where}.{unknown[0]}: unknown key (known keys: {', '.join(fields)})")
    values = {}
    for name, f in fields.items():
        key = f"{where}.{name}"
        if name not in data:
            raise ParamsError(f"{key}: missing; expected {_describe(hints[name])}")
        values[name] = _field_value(f, hints[name], data[name], key)
    return cls(**values)


def _field_value(f: dataclasses.Field, tp: Any, raw: Any, key: str) -> Any:
    check: Check | None = f.metadata.get("check")
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        # X | None, the only union a param may be: null (YAML's ~ or null) says "the default behaviour".
        (tp,) = (a for a in typing.get_args(tp) if a is not type(None))
        if raw is None:
            return None
    try:
        value = _convert(raw, tp, key)
    except ParamsError:
        if check is None or tp not in (int, float):
            raise
        value = None  # wrong type: report it with the range's wording below
    if check is not None and (value is None or not check.ok(value)):
        raise ParamsError(f"{key}: expected {check.describe}, got {raw!r}")
    if check is not None and tp is int and value > check.max_int:
        raise ParamsError(f"{key}: expected {check.describe} of at most {check.max_int}, got {raw!r}")
    return value


def override(obj: T, names: dict[str, str], **changes: Any) -> T:
    """``obj`` (a params dataclass) with ``changes``, each checked exactly as its params.yaml value would be.

    For command-line options standing in for params: ``names`` maps a field to what the user typed (e.g.
    ``slow_seconds`` -> ``--slow-seconds``), which the message names instead of the params key.
    """
    hints = typing.get_type_hints(type(obj))
    fields = {f.name: f for f in dataclasses.fields(obj)}  # type: ignore[arg-type]
    checked_changes = {name: _field_value(fields[name], hints[name], value, names.get(name, name))
                       for name, value in changes.items()}
    return dataclasses.replace(obj, **checked_changes)  # type: ignore[type-var]


class ParamsLoader(yaml.SafeLoader):
    """PyYAML's safe loader, with YAML 1.2's floats.

    PyYAML resolves plain scalars by YAML 1.1, where ``2e-05``, ``1e-5`` and ``-.5`` are strings; DVC
    writes ``dvc exp run -S export_tflite.tolerance=0.00002`` back as ``2e-05``. YAML 1.2 (and every
    reader a user would check with) reads them as numbers, so this loader does too.
    """


ParamsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?|[0-9][0-9_]*[eE][-+]?[0-9]+)$"),
    list("-+0123456789."),
)


def _duplicate_keys(node: yaml.Node, where: str = "") -> tuple[str, int, int] | None:
    """The first key a mapping holds twice, as (dotted key, first line, second line); None if none.

    PyYAML keeps the last value silently, while DVC refuses the file: both would hide which value is meant.
    """
    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found = _duplicate_keys(item, f"{where}[{i}]")
            if found:
                return found
    if not isinstance(node, yaml.MappingNode):
        return None
    lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = f"{where}.{key_node.value}" if where else key_node.value
        line = key_node.start_mark.line + 1
        if key in lines:
            return key, lines[key], line
        lines[key] = line
        found = _duplicate_keys(value_node, key)
        if found:
            return found
    return None


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(f"{path}: not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ParamsError(f"{path}: cannot read: {exc}") from None
    loader = ParamsLoader(text)
    try:
        node = loader.get_single_node()
        duplicate = _duplicate_keys(node) if node is not None else None
        if duplicate:
            key, first, second = duplicate
            raise ParamsError(f"{path}: {key}: duplicated key (lines {first} and {second}); keep one")
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise ParamsError(f"{path}: not valid YAML: nested too deeply") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of sections, got {type(data).__name__}")
    return data


def load(path: Path | None = None) -> Params:
    """Read and validate the whole params file at ``path`` (default: the project's ``params.yaml``), once.

    The default is looked up at each call, not bound at import, so a caller that points
    :mod:`pipeline.core.paths` at another project (the tests do) gets that project's file. Unknown
    sections are rejected too, so a typo such as ``trian:`` never passes silently.
    """
    path = paths.PARAMS if path is None else Path(path)
    data = read_yaml(path)
    sections = typing.get_type_hints(Params)
    unknown = sorted(set(data) - set(sections))
    if unknown:
        raise ParamsError(f"{path}: {unknown[0]}: unknown section (known: {', '.join(sections)})")
    for name in sections:
        if name not in data:
            raise ParamsError(f"{path}: {name}: section is missing")
    try:
        return Params(**{name: _convert(data[name], cls, name) for name, cls in sections.items()})
    except ParamsError as exc:
        raise ParamsError(f"{path}: {exc}") from None
