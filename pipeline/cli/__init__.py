"""The ``igfake`` command: tools around the pipeline (the pipeline itself runs with ``dvc repro``).

Each sub-command lives in its own module, ``pipeline.cli.<name>``, exporting ``COMMAND``; it is listed
with its one line of help in :data:`COMMANDS` (the only place that line is written: ``igfake --help`` and
``igfake <name> --help`` both show it) and imported only when it runs, so a command loads only what it needs
(``igfake predict`` stays free of TensorFlow, and of the crawler; listing the help imports no command).
Errors a user can fix end with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from pipeline import __version__
from pipeline.core.errors import IgfakeError

# What a command module exports as COMMAND: (add_arguments(parser), run(args) -> exit status)
Command = tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]

# Every sub-command: name -> one line of help. ``pipeline.cli.<name>`` implements it.
COMMANDS: dict[str, str] = {
    "predict": "P(authentic) for user-info records, with the shipped TFLite model (no TensorFlow)",
    "score": "score a Parquet or JSON Lines dataset of profiles into partitioned Parquet (local or Ray)",
    "audit": "estimate the authentic share of an account's followers, with a 95% interval",
    "simulator": "simulated Instagram: `igfake simulator serve --port N`",
    "label": "label the crawled profiles in the terminal, one key per decision",
    "mlflow": "MLflow: `igfake mlflow ui` serves the UI, `igfake mlflow sync` after `dvc exp run`",
    "compare": "compare two runs (or two models of one run) with the noise: paired differences, intervals, verdicts",
    "drift": "has the data drifted between two runs (or a run and the reference)? per feature, label prior, scores",
    "baseline": "make a run the quality gate's baseline and the drift reference (data/baseline/)",
    "promote": "make a run's registered model the champion (models:/NAME@champion), if the gate blessed it",
    "ci-report": "write reports/ci.md: reproduction, metrics judged with their noise, the gate, the plots; "
                 "exit status 1 when the gate did not bless the model, 2 when an input is broken",
}


def load_command(name: str) -> Command:
    return importlib.import_module(f"pipeline.cli.{name.replace('-', '_')}").COMMAND


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit status 2, like every other error.

    Sub-command parsers are built from the same class, so ``igfake simulator serve --port x`` says so in
    one line too; ``--help`` still shows the usage.
    """

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(commands: dict[str, str], chosen: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the ``chosen`` command's module is imported to add its arguments."""
    parser = _Parser(prog="igfake", description="Tools around the igfake pipeline (the pipeline "
                                     "itself runs with `dvc repro`).")
    parser.add_argument("--version", action="version", version=f"igfake {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in commands.items():
        # argparse expands %-formats in help (not in descriptions): "95%" must reach it as "95%%".
        command_parser = sub.add_parser(name, help=help_text.replace("%", "%%"), description=help_text)
        if name == chosen:
            add_arguments, run = load_command(name)
            add_arguments(command_parser)
            command_parser.set_defaults(run=run)
    return parser


def _chosen(argv: Sequence[str], commands: dict[str, str]) -> str | None:
    # The first word that is not an option names the command (the top-level parser has no valued options).
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in commands else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = COMMANDS
    parser = build_parser(commands, _chosen(argv, commands))
    args = parser.parse_args(argv)
    if args.command is None:  # bare `igfake`: say what it can do
        parser.print_help()
        return 0
    try:
        return int(args.run(args) or 0)
    except IgfakeError as exc:
        print(f"igfake {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
