"""``igfake drift A B``: has the data drifted from A to B? (:mod:`pipeline.validation.drift`)

A and B are git revisions, DVC experiment names, ``workspace``, ``baseline`` (the drift reference,
``data/baseline/reference.parquet``) or a features ``.parquet`` file; by default the reference against the
workspace, which is what stage ``validate`` writes to ``reports/drift.json``. A table per feature on stdout,
``--json`` for the whole report.
"""

from __future__ import annotations

import argparse
import json

from pipeline.core.params import load
from pipeline.validation import drift, sources


def add_arguments(parser: argparse.ArgumentParser) -> None:
    run_help = "a git revision, a DVC experiment, 'workspace', 'baseline' or a features .parquet file"
    parser.add_argument("a", nargs="?", default=sources.BASELINE, metavar="A", help=f"{run_help} (default: baseline)")
    parser.add_argument("b", nargs="?", default=sources.WORKSPACE, metavar="B", help=f"{run_help} (default: workspace)")
    parser.add_argument("--json", action="store_true", help="the whole report as JSON")


def _number(row: dict) -> str:
    if "p_adjusted" in row:
        return f"p={row['p_value']:.3g} (adj. {row['p_adjusted']:.3g})"
    return f"distance={row['distance']:.3f}" if "distance" in row else "-"


def render(report: dict, a: str, b: str) -> str:
    lines = [f"drift of {b} against {a}: {drift.summary_line(report)}",
             f"({report['method']}, {report['rows']['reference']} vs {report['rows']['current']} rows, "
             f"alpha {report['alpha']} {report['correction']}-corrected over {report['tests']} tests)", ""]
    rows = list(report["features"].items()) + ([("score (prob)", report["score"])] if report["score"] else [])
    width = max(len(name) for name, _ in rows)
    for name, row in rows:
        flag = "DRIFT" if row["drifted"] else "ok"
        psi = f"psi={row.get('psi', 0):.3f}"
        lines.append(f"{name:<{width}}  {row['test'] or '-':<14}  {_number(row):<34}  {psi}  {flag}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    params = load()
    feature_set = params.featurize.feature_set
    reference, a = sources.features_of(args.a, feature_set)
    current, b = sources.features_of(args.b, feature_set)
    report = drift.drift(reference, current, feature_set, params.drift)
    print(json.dumps(report, indent=2, sort_keys=True) if args.json else render(report, a, b))
    return 0


COMMAND = (add_arguments, run)  # its help: pipeline.cli.COMMANDS
