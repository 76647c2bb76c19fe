from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import pipeline  # noqa: F401  (first: fixes TF_ENABLE_ONEDNN_OPTS before any test imports TensorFlow)

if TYPE_CHECKING:
    from pipeline.core.params import Params

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run_env(**extra: str) -> dict[str, str]:
    """The test's own venv first on PATH (stage cmds call ``python``), no inherited MLflow/DVC overrides."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLFLOW_", "DVC_")) and k != "IG_SESSIONID"}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


# No command a test runs takes this long (a clone's whole `dvc repro` takes about 2 minutes): one that does
# has hung, and fails naming itself.
COMMAND_TIMEOUT = 900


def sh(args: list[str], cwd: Path, check: bool = True, **extra: str) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(args, cwd=cwd, env=run_env(**extra), capture_output=True, text=True,
                                timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{' '.join(args)} did not finish in {COMMAND_TIMEOUT} s:\n{exc.stdout}\n"
                             f"{exc.stderr}") from None
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


CHROMIUM = Path("/usr/bin/chromium")  # Debian's: Playwright's own browser download fails here


def chromium() -> Path:
    """The system browser the browser tests drive. Missing, the test skips with what to install, except
    under ``IGFAKE_CI=1`` (``.ci/run`` sets it and installs the browser), where it fails."""
    if CHROMIUM.exists():
        return CHROMIUM
    message = "Debian's chromium is not installed (apt-get install -y chromium; .ci/run installs it)"
    if os.environ.get("IGFAKE_CI") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project directory holding a copy of the repository's params.yaml and dvc.yaml."""
    for name in ("params.yaml", "dvc.yaml"):
        (tmp_path / name).write_text((REPO / name).read_text())
    return tmp_path


def repo_params() -> Params:
    """The repository's params.yaml: the defaults a test starts from and overrides."""
    from pipeline.core.params import load

    return load(REPO / "params.yaml")


def api_client(base_url: str, cache=None, **crawl_overrides):
    """The crawl's API client as the pipeline builds it, with ``crawl`` params overridden by name."""
    from pipeline.instagram.sources import client_for

    return client_for(dataclasses.replace(repo_params().crawl, **crawl_overrides), base_url, cache)


def faults(**overrides):
    """The simulator's faults as params.yaml sets them (none), with some turned on."""
    return dataclasses.replace(repo_params().simulator.faults, **overrides)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow end-to-end modules first (a stable sort: every module stays whole and in order).

    Under pytest-xdist's ``--dist loadfile`` (pyproject.toml) a worker takes the next module only when it has
    at most two tests left, so the longest module starts at once on one worker while the other works
    through the rest, instead of starting last and running alone.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def project_at(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project at ``root`` with the repository's params.yaml, every path of ``pipeline.core.paths`` pointed
    inside it and the working directory there: what a test needs to run commands on a project of its own."""
    from pipeline.core import paths

    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text((REPO / "params.yaml").read_text())
    for name, value in list(vars(paths).items()):
        if isinstance(value, Path) and value.is_relative_to(paths.ROOT) and name != "ROOT":
            monkeypatch.setattr(paths, name, root / value.relative_to(paths.ROOT))
    monkeypatch.setattr(paths, "ROOT", root)
    monkeypatch.chdir(root)
    return root
