"""Git as the pipeline asks it: a command's output, and the DVC experiments kept in the repository's refs.

DVC keeps each experiment as ``refs/exps/<baseline[:2]>/<baseline[2:]>/<name>``, beside refs of its own
bookkeeping under the same prefix (the queue's ``refs/exps/celery/...``, ``exec``, ``apply``, ``temp``,
the stashes). Which refs are experiments is DVC's to say, so :func:`experiments` asks DVC's own listing
rather than parsing the names here.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from pipeline.core import paths


def output(args: list[str], cwd: Path | None = None) -> str | None:
    """The stripped standard output of ``git ARGS`` in ``cwd`` (the repository by default); None if git
    fails, is missing or prints nothing."""
    try:
        out = subprocess.run(["git", *args], cwd=cwd or paths.ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


@dataclass(frozen=True)
class Experiment:
    name: str
    rev: str  # the experiment's commit
    baseline: str  # the commit it was run from


def experiments(root: Path | None = None) -> list[Experiment]:
    """Every DVC experiment of the repository at ``root``, sorted by ref; [] outside a git repository."""
    # Here: DVC takes a quarter of a second to import, and most callers never list experiments.
    from dvc.repo.experiments.utils import exp_refs
    from scmrepo.exceptions import SCMError
    from scmrepo.git import Git

    try:
        with Git(str(root or paths.ROOT)) as scm:
            refs = sorted(exp_refs(scm), key=str)
            return [Experiment(ref.name, scm.get_ref(str(ref)), ref.baseline_sha) for ref in refs if ref.name]
    except SCMError:
        return []


def experiment_commit(name: str, root: Path | None = None) -> str | None:
    """The commit of DVC experiment ``name``, if there is one (of several by that name, the last by ref)."""
    matches = [exp.rev for exp in experiments(root) if exp.name == name]
    return matches[-1] if matches else None
