"""``igfake label``: label the crawled profiles in the terminal (:mod:`pipeline.labelling.tui`)."""

from __future__ import annotations

import argparse

from pipeline.labelling import tui


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--annotator", help="your name; decisions go to data/labels/NAME.csv "
                                            "(default: your login name)")


def run(args: argparse.Namespace) -> int:
    print(tui.label(args.annotator))
    return 0


COMMAND = (add_arguments, run)  # its help: pipeline.cli.COMMANDS
