"""``igfake label``: label the crawled profiles in the terminal (:mod:`pipeline.labelling.tui`)."""

from __future__ import annotations

import argparse

from pipeline.labelling import tui


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--annotator", help="your name; decisions go to data/labels/NAME.csv "
                                            "(default: your login name)")
    parser.add_argument("--review", action="store_true",
                        help="show the profiles reports/label_issues.json flags as likely mislabelled first, "
                             "worst first (a second look: use your own --annotator name, the votes are "
                             "resolved by label_import's policy)")


def run(args: argparse.Namespace) -> int:
    print(tui.label(args.annotator, review=args.review))
    return 0


COMMAND = (add_arguments, run)  # its help: pipeline.cli.COMMANDS
