"""``igfake ci-report``: write ``reports/ci.md`` after ``dvc repro`` (:mod:`pipeline.reporting.ci_report`).

``.ci/run`` calls it on a clean clone; CI posts the file as the pull request's comment. The report is
always written; the exit status is 1 when the gate did not bless this run's model (HEAD's, reproduced),
so CI is red exactly when the change would ship a model that `igfake promote` refuses.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys

from pipeline.core import atomic, paths
from pipeline.core.errors import CompareError, InputError
from pipeline.core.params import load
from pipeline.evaluation import compare, gate, sources
from pipeline.reporting import ci_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--against", default="HEAD", help="the committed revision (default: HEAD)")


def _git_show(rev: str, path: str) -> str | None:
    shown = sources.git_show(rev, path, paths.ROOT)
    return shown.decode() if shown is not None else None


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
    committed_lock = _git_show(args.against, "dvc.lock")
    if committed_lock is None:
        raise InputError(f"{args.against}: no committed dvc.lock")
    for path in (paths.METRICS, paths.GATE):
        if not path.is_file():
            raise InputError(f"{path.relative_to(paths.ROOT)}: not found; run `dvc repro` first")
    verdict = gate.read(paths.GATE)
    alpha = load().compare.alpha
    comparison, note = _committed_comparison(args.against, alpha)
    commit = subprocess.run(["git", "rev-parse", args.against], cwd=paths.ROOT, capture_output=True, text=True,
                            check=False).stdout.strip()
    text = ci_report.build(
        committed_lock, (paths.ROOT / "dvc.lock").read_text(encoding="utf-8"), comparison, note,
        ci_report.loads_or_none(_git_show(args.against, "reports/metrics.json")),
        json.loads(paths.METRICS.read_text(encoding="utf-8")),
        ci_report.loads_or_none(_git_show(args.against, "reports/variance.json")),
        verdict, commit or args.against,
        hashlib.md5(paths.BASELINE.read_bytes()).hexdigest() if paths.BASELINE.is_file() else None,
        json.loads(paths.DRIFT.read_text(encoding="utf-8")) if paths.DRIFT.is_file() else None)
    atomic.write_text(paths.CI_REPORT, text)
    print(f"{paths.CI_REPORT.relative_to(paths.ROOT)}: {text.splitlines()[2][2:]}; "
          f"{text.splitlines()[3][2:]}; {text.splitlines()[4][2:]}".replace("**", ""))
    if verdict["blessed"]:
        return 0
    print(f"igfake ci-report: the model is {gate.label(verdict)} ({gate.why(verdict)}): this check fails",
          file=sys.stderr)
    return 1


COMMAND = (add_arguments, run)  # its help: pipeline.cli.COMMANDS
