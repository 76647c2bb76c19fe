"""Where a run's split results are read from: the workspace, the gate's baseline, a git revision or a DVC
experiment.

A revision's ``data/predictions/splits.parquet`` is a DVC output, so it is read through DVC's API
(``dvc.api.open``): from the local cache, else from the DVC remote if one is configured; nothing is
retrained. On a fresh clone neither may hold it, but the revision's git-tracked gate baseline
(``data/baseline/splits.parquet``, what ``igfake baseline`` commits) is the same file whenever its md5 is
the one the revision's ``dvc.lock`` names: then that is read, and the source says so. Otherwise one line
says what would work.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import yaml

from pipeline.core import git, paths
from pipeline.core.errors import CompareError
from pipeline.evaluation import splits

WORKSPACE = "workspace"
BASELINE = "baseline"


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(paths.ROOT).as_posix() if path.is_relative_to(paths.ROOT) else str(path)


def git_commit(rev: str, root: Path) -> str | None:
    return git.output(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], root)


def commit_of(ref: str, root: Path) -> str | None:
    """The commit ``ref`` names: a git revision, else a DVC experiment's name; None if neither."""
    return git_commit(ref, root) or git.experiment_commit(ref, root)


NOT_A_RUN = "neither a git revision nor a DVC experiment (see `dvc exp show`)"


def read(ref: str, root: Path | None = None) -> pa.Table:
    """The split results of ``ref``: ``workspace``, ``baseline``, a ``.parquet`` file, a revision or an experiment."""
    return read_with_source(ref, root)[0]


def read_with_source(ref: str, root: Path | None = None) -> tuple[pa.Table, str | None]:
    """:func:`read`, and a note when the table is not the file asked for but the same bytes (the committed
    baseline standing in for a revision's split results), else None."""
    root = root or paths.ROOT
    relative = _relative(paths.SPLIT_RESULTS, root)
    if ref in (WORKSPACE, BASELINE) or ref.endswith(".parquet"):
        path = {WORKSPACE: root / relative, BASELINE: root / _relative(paths.BASELINE, root)}.get(ref, Path(ref))
        if not path.is_file():
            hint = "run `dvc repro` first" if ref == WORKSPACE else "write it with `igfake baseline`"
            raise CompareError(f"{ref}: {path} not found; {hint}")
        return splits.read(path, paths.shown(path)), None
    commit = commit_of(ref, root)
    if commit is None:
        raise CompareError(f"{ref}: {NOT_A_RUN}")
    rebuild = f"reproduce it (`git checkout {ref} && dvc repro`)"
    found, missing = revision_bytes(relative, commit, root)
    if found is not None:  # found, so checked: a damaged file is not silently replaced by the committed baseline
        return splits.read(found, f"{ref}:{relative}", rebuild), None
    baseline = _relative(paths.BASELINE, root)
    locked = lock_outs(git_show(commit, "dvc.lock", root)).get(relative)
    committed = git_show(commit, baseline, root)
    if locked and committed is not None and hashlib.md5(committed).hexdigest() == locked:
        return splits.read(committed, f"{ref}:{baseline}", rebuild), (
            f"`{ref}`: {relative} is in neither the DVC cache nor a remote; read {baseline}, committed in "
            f"`{ref}` with the same md5 ({locked}) as its dvc.lock names")
    remote = subprocess.run(["dvc", "remote", "list"], cwd=root, capture_output=True, text=True,
                            check=False).stdout.strip()
    get = ("`dvc pull` it from the remote" if remote else
           "configure a DVC remote that holds it (`dvc remote add -d NAME URL`, then `dvc pull`)")
    raise CompareError(f"{ref}: {relative} is not in the local DVC cache ({missing}) and its committed {baseline} "
                       f"is not the same file; {get}, or reproduce it (`git checkout {ref} && dvc repro`), then "
                       "compare again")


def revision_bytes(relative: str, commit: str, root: Path) -> tuple[bytes | None, str]:
    """(the bytes, "") of the DVC output ``relative`` in ``commit``, from the local cache or a remote; (None,
    why not) when DVC cannot give them."""
    import dvc.api  # here: DVC takes a second to import, and the workspace needs none of it

    try:
        with dvc.api.open(relative, repo=str(root), rev=commit, mode="rb") as f:
            return f.read(), ""
    except Exception as exc:  # DVC raises many kinds (missing cache, no remote, path not in that revision)
        return None, type(exc).__name__


def git_show(commit: str, path: str, root: Path) -> bytes | None:
    """The bytes of ``path`` in git revision ``commit``, or None if that revision has no such file."""
    shown = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=root, capture_output=True, check=False)
    return shown.stdout if shown.returncode == 0 else None


def lock_outs(lock_text: str | bytes | None, stages: Iterable[str] | None = None) -> dict[str, str]:
    """path -> md5 of the outputs of ``stages`` (every stage if None) in a dvc.lock's text; an output without
    an md5 maps to ""; a missing or malformed lock has none."""
    try:
        lock = yaml.safe_load(lock_text) if lock_text else None
    except yaml.YAMLError:
        return {}
    locked = lock.get("stages") if isinstance(lock, dict) else None
    if not isinstance(locked, dict):
        return {}
    out: dict[str, str] = {}
    for stage in locked if stages is None else stages:
        entry = locked.get(stage)
        for o in (entry.get("outs") or []) if isinstance(entry, dict) else []:
            if isinstance(o, dict) and isinstance(o.get("path"), str):
                out[o["path"]] = str(o.get("md5", ""))
    return out
