"""``igfake baseline``: make a run the quality gate's baseline (``data/baseline/splits.parquet``) and the drift
reference (``data/baseline/reference.parquet``: its features and shipped probabilities, at most
``drift.reference_rows`` rows).

The gate compares every new run with the first, stage ``validate`` every new run's data with the second; both are
dependencies tracked by git.
After accepting a change (a merged pull request, a better recipe), refresh it from that run and commit it:
``igfake baseline && git add data/baseline && git commit``.
"""

from __future__ import annotations

import argparse

import pyarrow.parquet as pq

from pipeline.core import atomic, paths
from pipeline.core.errors import CompareError
from pipeline.core.params import load
from pipeline.evaluation import compare, sources
from pipeline.validation import drift
from pipeline.validation import sources as drift_sources


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", nargs="?", default=sources.WORKSPACE, metavar="RUN",
                        help="a git revision, a DVC experiment or 'workspace' (default)")


def run(args: argparse.Namespace) -> int:
    table = sources.read(args.source)  # checked: a damaged table never becomes the baseline
    shipped = compare.run_results(table, args.source)  # refuse a table without the shipped model's results
    try:  # the gate compares on k-fold splits: a baseline without them would judge nothing
        compare.require_kfold(shipped)
    except CompareError as exc:
        raise CompareError(f"{exc}, then `dvc repro` and `igfake baseline` again; "
                           f"{paths.shown(paths.BASELINE)} is left as it was") from None
    params = load()
    features_table, predictions = drift_sources.run_tables(args.source)  # before writing anything
    reference = drift.reference_table(features_table, predictions, params.featurize.feature_set,
                                      params.drift.reference_rows, params.drift.seed)
    with atomic.atomic_path(paths.BASELINE) as tmp:
        pq.write_table(table, tmp)
    with atomic.atomic_path(paths.REFERENCE) as tmp:
        pq.write_table(reference, tmp)
    print(f"{paths.BASELINE.relative_to(paths.ROOT)}: baseline from {args.source} ({table.num_rows} rows), "
          f"{paths.shown(paths.REFERENCE)}: drift reference ({reference.num_rows} rows); "
          "commit them, then `dvc repro` judges new runs against them")
    return 0


COMMAND = (add_arguments, run)  # its help: pipeline.cli.COMMANDS
