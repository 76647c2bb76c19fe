"""The ``igfake`` command: tools around the pipeline (the pipeline itself runs with ``dvc repro``).

Each sub-command lives in its own module and registers itself in :data:`COMMANDS`; errors a user can
fix end with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from pipeline.errors import IgfakeError

# name -> (help, add_arguments(parser), run(args) -> exit status)
Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]


def _commands() -> dict[str, Command]:
    # Imported when used: each command loads only what it needs (predict must stay free of TensorFlow).
    from pipeline.cli import baseline, ci_report, compare, label, predict, simulator

    return {
        "simulator": simulator.COMMAND,
        "predict": predict.COMMAND,
        "label": label.COMMAND,
        "compare": compare.COMMAND,
        "baseline": baseline.COMMAND,
        "ci-report": ci_report.COMMAND,
    }


def build_parser(commands: dict[str, Command]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="igfake", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add_arguments, run) in commands.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(command_parser)
        command_parser.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser(_commands()).parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except IgfakeError as exc:
        print(f"igfake {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
