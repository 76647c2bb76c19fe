"""Where a run's split results are read from: the workspace, the gate's baseline, a git revision or a DVC
experiment.

A revision's ``data/predictions/splits.parquet`` is a DVC output, so it is read through DVC's API from the
local cache (``dvc.api.open``): nothing is retrained, and a revision whose outputs are not in the cache
gets one line saying how to get them.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.core import paths
from pipeline.core.errors import CompareError

WORKSPACE = "workspace"
BASELINE = "baseline"


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(paths.ROOT).as_posix() if path.is_relative_to(paths.ROOT) else str(path)


def experiment_commit(name: str, root: Path) -> str | None:
    """The commit of DVC experiment ``name`` (its ref is ``refs/exps/<xx>/<baseline sha>/<name>``), if any."""
    listed = subprocess.run(["git", "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps"], cwd=root,
                            capture_output=True, text=True, check=False).stdout.split("\n")
    matches = [line.split()[1] for line in listed if line and line.split()[0].rsplit("/", 1)[-1] == name]
    return matches[-1] if matches else None


def git_commit(rev: str, root: Path) -> str | None:
    found = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], cwd=root,
                           capture_output=True, text=True, check=False)
    return found.stdout.strip() or None


def read(ref: str, root: Path | None = None) -> pa.Table:
    """The split results of ``ref``: ``workspace``, ``baseline``, a ``.parquet`` file, a revision or an experiment."""
    root = root or paths.ROOT
    relative = _relative(paths.SPLIT_RESULTS, root)
    if ref in (WORKSPACE, BASELINE) or ref.endswith(".parquet"):
        path = {WORKSPACE: root / relative, BASELINE: root / _relative(paths.BASELINE, root)}.get(ref, Path(ref))
        if not path.is_file():
            hint = "run `dvc repro` first" if ref == WORKSPACE else "write it with `igfake baseline`"
            raise CompareError(f"{ref}: {path} not found; {hint}")
        return pq.read_table(path)
    commit = git_commit(ref, root) or experiment_commit(ref, root)
    if commit is None:
        raise CompareError(f"{ref}: neither a git revision nor a DVC experiment (see `dvc exp show`)")
    import dvc.api  # here: DVC takes a second to import, and the workspace needs none of it

    try:
        with dvc.api.open(relative, repo=str(root), rev=commit, mode="rb") as f:
            return pq.read_table(io.BytesIO(f.read()))
    except Exception as exc:  # DVC raises many kinds (missing cache, no remote, path not in that revision)
        raise CompareError(f"{ref}: {relative} is not in the local DVC cache ({type(exc).__name__}); get it with "
                           f"`dvc pull` or reproduce it (`git checkout {ref} && dvc repro`), then compare again") \
            from None
