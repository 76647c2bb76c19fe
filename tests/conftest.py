from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import pipeline  # noqa: F401  (first: fixes TF_ENABLE_ONEDNN_OPTS before any test imports TensorFlow)

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run_env(**extra: str) -> dict[str, str]:
    """The test's own venv first on PATH (stage cmds call ``python``), no inherited MLflow/DVC overrides."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLFLOW_", "DVC_")) and k != "IG_SESSIONID"}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def sh(args: list[str], cwd: Path, check: bool = True, **extra: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, cwd=cwd, env=run_env(**extra), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project directory holding a copy of the repository's params.yaml and dvc.yaml."""
    for name in ("params.yaml", "dvc.yaml"):
        (tmp_path / name).write_text((REPO / name).read_text())
    return tmp_path
