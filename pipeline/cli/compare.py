"""``igfake compare``: is run B better than run A, or is the difference luck? (:mod:`pipeline.evaluation.compare`)

A and B are git revisions, DVC experiment names, ``workspace``, ``baseline`` (the gate's) or a split
results file; by default ``HEAD`` against the workspace. ``--against MODEL`` compares two models of one
run (e.g. the MLP against a baseline model). Markdown on stdout, ``--json`` for machines.
"""

from __future__ import annotations

import argparse
import json
import sys

from pipeline.core.params import load
from pipeline.core.vocabulary import SHIPPED
from pipeline.evaluation import compare, sources


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="*", metavar="RUN",
                        help="A and B: a git revision, a DVC experiment, 'workspace', 'baseline' or a .parquet "
                             "(default: HEAD workspace; with --against: one run, default workspace)")
    parser.add_argument("--model", default=SHIPPED, help=f"the model of A (default: {SHIPPED})")
    parser.add_argument("--against", metavar="MODEL", help="the model of B (default: the same as --model)")
    parser.add_argument("--alpha", type=float, help="significance level (default: compare.alpha in params.yaml)")
    parser.add_argument("--paired-only", action="store_true",
                        help="refuse runs that cannot be paired split by split instead of comparing them unpaired")
    parser.add_argument("--json", action="store_true", help="JSON instead of Markdown")


def choose_runs(refs: list[str], against: str | None) -> tuple[str, str]:
    """(A, B) from the positional arguments, as the help says."""
    if len(refs) > 2:
        raise compare.CompareError(f"at most two runs, got {len(refs)}: {' '.join(refs)}")
    if against is not None and len(refs) < 2:
        one = refs[0] if refs else sources.WORKSPACE
        return one, one
    if not refs:
        return "HEAD", sources.WORKSPACE
    return refs[0], refs[1] if len(refs) == 2 else sources.WORKSPACE


def run(args: argparse.Namespace) -> int:
    alpha = args.alpha if args.alpha is not None else load().compare.alpha
    if not 0 < alpha < 1:
        raise compare.CompareError(f"--alpha: expected a number strictly between 0 and 1, got {alpha}")
    a_ref, b_ref = choose_runs(args.runs, args.against)
    found = {ref: sources.read_with_source(ref) for ref in dict.fromkeys((a_ref, b_ref))}
    for _, note in found.values():
        if note:  # not the file asked for, but the same bytes: say so
            print(f"igfake compare: {note}", file=sys.stderr)
    a = compare.run_results(found[a_ref][0], a_ref, args.model)
    b = compare.run_results(found[b_ref][0], b_ref, args.against or args.model)
    result = compare.compare(a, b, alpha, allow_unpaired=not args.paired_only)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        print(compare.to_markdown(result), end="")
    return 0


COMMAND = (add_arguments, run)  # its help: pipeline.cli.COMMANDS
