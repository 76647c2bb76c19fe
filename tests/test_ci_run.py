""".ci/run (bash, set -e) when the reproduction report says red: lint and the tests still run, CI ends red.

The script runs for real; the programs it calls are stand-ins on PATH that record their calls (a real run
installs the project and reproduces the pipeline: minutes, and what the end-to-end tests cover).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

STANDINS = {
    "chromium": "exit 0",
    "python3": 'if [ "$1 $2" = "-m venv" ]; then mkdir -p "$3/bin"; '
               'echo "PATH=\\"$STANDINS:\\$PATH\\"" > "$3/bin/activate"; fi',
    "pip": "exit 0",
    "dvc": 'if [ "$1" = status ]; then echo "Data and pipelines are up to date."; fi',
    "igfake": 'exit "${IGFAKE_REPORT_STATUS:-0}"',
    "ruff": "exit 0",
    "pytest": 'exit "${PYTEST_STATUS:-0}"',
}


@pytest.fixture
def checkout(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "repo" / ".ci").mkdir(parents=True)
    shutil.copy(REPO / ".ci" / "run", tmp_path / "repo" / ".ci" / "run")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    for name, body in STANDINS.items():
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\n{body}\n')
        script.chmod(0o755)
    return tmp_path / "repo", bin_dir


def ci(checkout: tuple[Path, Path], **env: str) -> tuple[int, list[str]]:
    repo, bin_dir = checkout
    log = bin_dir.parent / "calls.log"
    log.unlink(missing_ok=True)
    done = subprocess.run(["bash", ".ci/run"], cwd=repo, capture_output=True, text=True,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin", "STANDINS": str(bin_dir), "HOME": os.environ["HOME"],
                               **env})
    calls = [line.split()[0] for line in log.read_text().splitlines()]
    return done.returncode, [c for c in calls if c in ("igfake", "ruff", "pytest")]


def test_an_unblessed_model_ends_ci_red_after_lint_and_tests(checkout):
    status, calls = ci(checkout, IGFAKE_REPORT_STATUS="1")
    assert (status, calls) == (1, ["igfake", "ruff", "pytest"])


def test_a_blessed_model_and_passing_tests_end_ci_green(checkout):
    assert ci(checkout) == (0, ["igfake", "ruff", "pytest"])


def test_failing_tests_end_ci_red_whatever_the_report(checkout):
    status, calls = ci(checkout, PYTEST_STATUS="3")
    assert status == 3 and calls == ["igfake", "ruff", "pytest"]
