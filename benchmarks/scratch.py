"""What the benchmarks that run `dvc exp run` share: a scratch clone of this repository's HEAD.

A clone shares the project's DVC cache (so its first `dvc repro` restores what the project already
trained) and is committed once reproduced (queued experiments run from a commit). Commands run with this
interpreter's tools first on PATH and no inherited MLflow, DVC or Instagram settings.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GIT_USER = ["-c", "user.name=benchmark", "-c", "user.email=benchmark@localhost"]


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_")) and k != "IG_SESSIONID"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"  # DVC's lines arrive as they are printed, so their times are the stages'
    return env


def sh(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``args`` in ``cwd``; with ``check``, a failure ends the benchmark with its output."""
    done = subprocess.run(args, cwd=cwd, env=environment(), capture_output=True, text=True)
    if check and done.returncode:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def prepare(clone: Path) -> None:
    """A clone of HEAD at ``clone`` sharing the project's DVC cache, reproduced and committed."""
    sh(["git", "clone", "--quiet", str(ROOT), str(clone)], ROOT)
    sh(["dvc", "cache", "dir", "--local", str(ROOT / ".dvc" / "cache")], clone)
    sh(["dvc", "repro"], clone)
    sh(["git", *GIT_USER, "commit", "--quiet", "--allow-empty", "-am", "reproduced"], clone)
