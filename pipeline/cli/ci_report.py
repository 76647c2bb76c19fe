"""``igfake ci-report``: write ``reports/ci.md`` after ``dvc repro`` (:mod:`pipeline.reporting.ci_report`).

``.ci/run`` calls it on a clean clone; CI posts the file as the pull request's comment. The report is
always written, also when an input is missing or broken: CI loses its comment exactly when something is
wrong otherwise. The exit status is what CI does with it: 0 when this run's model (HEAD's, reproduced) is
blessed; 1 when the gate did not bless it, so CI is red exactly when the change would ship a model that
`igfake promote` refuses; 2 when an input is missing or broken (a red line in the report names it, and
stderr has the first in one line).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pipeline.core import atomic, paths, reports
from pipeline.core.errors import CompareError, IgfakeError, InputError
from pipeline.core.params import load
from pipeline.evaluation import compare, gate, sources
from pipeline.reporting import ci_report
from pipeline.validation import drift as drift_lib

T = TypeVar("T")
RUN_FIRST = "not found; run `dvc repro` first"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--against", default="HEAD", help="the committed revision (default: HEAD)")


def _git_show(rev: str, path: str) -> str | None:
    shown = sources.git_show(rev, path, paths.ROOT)
    if shown is None:
        return None
    try:
        return shown.decode()
    except UnicodeDecodeError as exc:
        raise InputError(f"{rev}:{path}: not UTF-8 text (byte {exc.start})") from None


def _read(path: Path) -> str | None:
    """The workspace file's text, None when there is none."""
    return reports.read_text(path, paths.shown(path), "`dvc repro` rewrites it")


def _committed_comparison(rev: str, alpha: float) -> tuple[compare.Comparison | None, str]:
    current = compare.run_results(sources.read(sources.WORKSPACE), "this run")
    try:
        table, note = sources.read_with_source(rev)
        return compare.compare(compare.run_results(table, rev), current, alpha), \
            (f"Compared with `{rev}`'s split results ({note})." if note
             else f"Compared with `{rev}`'s split results (from DVC: the local cache or the remote).")
    except CompareError as exc:
        why = str(exc)
    try:
        committed = compare.run_results(sources.read(sources.BASELINE), "committed baseline")
    except CompareError as exc:
        return None, f"{why}; {exc}"
    return compare.compare(committed, current, alpha), \
        (f"`{rev}`'s own split results are not in this machine's DVC cache (its train outputs did not reproduce "
         "bit for bit here), so this run is compared with the committed baseline, "
         f"`{paths.BASELINE.relative_to(paths.ROOT)}`.")


def run(args: argparse.Namespace) -> int:
    problems: list[str] = []

    def checked(read: Callable[[], T]) -> T | None:
        """What ``read`` returns; None, with its one-line error among the problems, when the input is broken."""
        try:
            return read()
        except IgfakeError as exc:
            problems.append(str(exc))
            return None

    rev = args.against
    commit = sources.git_commit(rev, paths.ROOT)
    committed_lock = committed_metrics = variance = compared = None
    if commit is None:
        problems.append(f"--against {rev}: not a git revision (a commit, a branch or a tag)")
    else:
        committed_lock = checked(lambda: ci_report.check_lock(
            _git_show(commit, "dvc.lock"), f"{rev}:dvc.lock", "not committed; commit the dvc.lock `dvc repro` writes"))
    fresh_lock = checked(lambda: ci_report.check_lock(_read(paths.ROOT / "dvc.lock"), "dvc.lock", RUN_FIRST))
    fresh_metrics = checked(lambda: ci_report.check_metrics(ci_report.parse_report(
        _read(paths.METRICS), paths.shown(paths.METRICS)), paths.shown(paths.METRICS), required=True))
    verdict = checked(lambda: gate.read(paths.GATE))
    if commit is not None:
        committed_metrics = checked(lambda: ci_report.check_metrics(ci_report.parse_report(
            _git_show(commit, "reports/metrics.json"), f"{rev}:reports/metrics.json"),
            f"{rev}:reports/metrics.json", required=False))
        variance = checked(lambda: ci_report.check_variance(ci_report.parse_report(
            _git_show(commit, "reports/variance.json"), f"{rev}:reports/variance.json"),
            f"{rev}:reports/variance.json"))
        compared = checked(lambda: _committed_comparison(rev, load().compare.alpha))
    comparison, note = compared or (None, "the split results are missing or broken (above)")
    drift = checked(lambda: drift_lib.read_report(paths.DRIFT))
    text = ci_report.build(
        committed_lock, fresh_lock, comparison, note, committed_metrics,
        fresh_metrics, variance, verdict, commit or rev,
        hashlib.md5(paths.BASELINE.read_bytes()).hexdigest() if paths.BASELINE.is_file() else None, problems,
        drift)
    atomic.write_text(paths.CI_REPORT, text)
    head = text.splitlines()
    print(f"{paths.shown(paths.CI_REPORT)}: {head[2][2:]}; {head[3][2:]}; {head[4][2:]}".replace("**", ""))
    if problems:
        more = f" (and {len(problems) - 1} more broken input(s): see {paths.shown(paths.CI_REPORT)})" \
            if len(problems) > 1 else ""
        raise InputError(f"{problems[0]}{more}")
    if verdict is not None and verdict["blessed"]:
        return 0
    print(f"igfake ci-report: the model is {gate.label(verdict)} ({gate.why(verdict)}): this check fails",
          file=sys.stderr)
    return 1


COMMAND = (add_arguments, run)  # its help: pipeline.cli.COMMANDS
