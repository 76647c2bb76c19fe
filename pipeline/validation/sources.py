"""Where a features table for a drift comparison is read from: the workspace, the reference, a features
file, a git revision or a DVC experiment (named as :mod:`pipeline.evaluation.sources` names runs).

A run's features come with its shipped model's probabilities where it has them (the predictions file), so
the score's shift is compared too. A revision's files are DVC outputs, read through DVC's API from the local
cache or the remote; nothing is recomputed.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from pipeline.core import paths
from pipeline.core.errors import InputError
from pipeline.evaluation import sources
from pipeline.validation import drift

WORKSPACE, BASELINE = sources.WORKSPACE, sources.BASELINE


def _relative(path: Path) -> str:
    return path.relative_to(paths.ROOT).as_posix()


def _revision_file(ref: str, commit: str, relative: str, root: Path) -> bytes:
    found, missing = sources.revision_bytes(relative, commit, root)
    if found is None:
        raise InputError(f"{ref}: {relative} is not in the local DVC cache or a remote ({missing}); "
                         f"`dvc pull` it, or reproduce it (`git checkout {ref} && dvc repro`)")
    return found


def features_of(ref: str, feature_set: str, root: Path | None = None) -> tuple[pa.Table, str]:
    """The features table ``ref`` names, with ``prob`` where its run has predictions, and how to call it."""
    root = root or paths.ROOT
    if ref == BASELINE:
        path = root / _relative(paths.REFERENCE)
        if not path.is_file():
            raise InputError(f"{ref}: {paths.shown(path)} not found; write it with `igfake baseline`")
        return drift.read_table(path, paths.shown(path)), paths.shown(path)
    if ref.endswith(".parquet"):
        if not Path(ref).is_file():
            raise InputError(f"{ref}: no such file")
        return drift.scored(drift.read_table(Path(ref), ref), None, feature_set, ref), ref
    table, predictions = run_tables(ref, root, predictions_required=False)
    return drift.scored(table, predictions, feature_set, f"{ref}:{_relative(paths.FEATURES)}"), ref


def run_tables(ref: str, root: Path | None = None,
               predictions_required: bool = True) -> tuple[pa.Table, pa.Table | None]:
    """Run ``ref``'s features table (``workspace``, a git revision or a DVC experiment) and its shipped model's
    predictions: what the reference is made of. Without ``predictions_required``, None when it has none."""
    root = root or paths.ROOT
    features_path, predictions_path = _relative(paths.FEATURES), _relative(paths.PREDICTIONS)
    if ref == WORKSPACE:
        def read(relative: str, hint: str) -> pa.Table:
            if not (root / relative).is_file():
                raise InputError(f"{ref}: {relative} not found; {hint}")
            return drift.read_table(root / relative, relative)
    else:
        commit = sources.commit_of(ref, root)
        if commit is None:
            raise InputError(f"{ref}: {sources.NOT_A_RUN}, nor 'workspace', 'baseline' or a .parquet file")

        def read(relative: str, hint: str) -> pa.Table:
            return drift.read_table(_revision_file(ref, commit, relative, root), f"{ref}:{relative}")
    table = read(features_path, "run `dvc repro` first")
    try:
        predictions = read(predictions_path, "run `dvc repro` first")
    except InputError:
        if predictions_required:
            raise
        predictions = None  # the features alone still say whether the data drifted
    return table, predictions
