"""Where `igfake compare` reads a revision's split results from, in real git repositories with real DVC:
the local cache, a DVC remote (a local directory, pushed and pulled for real), or the committed gate
baseline when its md5 is the one the revision's dvc.lock names; otherwise one line saying what would work.

The project here is the smallest one with the same layout: a stage that writes
``data/predictions/splits.parquet``, and ``data/baseline/splits.parquet`` tracked by git.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.core.errors import CompareError
from pipeline.evaluation import sources
from tests.conftest import REPO, sh
from tests.evaluation.test_compare import results_table

GIT = ["git", "-c", "user.name=igfake tests", "-c", "user.email=tests@localhost"]
RESULTS, BASELINE = "data/predictions/splits.parquet", "data/baseline/splits.parquet"
STAGE = {"stages": {"results": {"cmd": f"mkdir -p data/predictions && cp results.parquet {RESULTS}",
                                "deps": ["results.parquet"], "outs": [RESULTS]}}}


def commit(repo: Path, table, message: str, baseline: bool) -> None:
    """Commit a run whose split results are ``table``; with ``baseline``, also as the gate's baseline."""
    pq.write_table(table, repo / "results.parquet")
    sh(["dvc", "repro"], cwd=repo)
    if baseline:
        (repo / BASELINE).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(repo / RESULTS, repo / BASELINE)
    sh(["git", "add", "-A"], cwd=repo)
    sh([*GIT, "commit", "-q", "-m", message], cwd=repo)


def make_origin(repo: Path, remote: Path | None = None) -> Path:
    """Two commits: tag ``a`` (its results committed as the baseline too) and tag ``b`` (worse by 0.03,
    the baseline left at a's). With ``remote``, a team's setup: the DVC remote configured first, every
    run's outputs pushed after it is committed."""
    repo.mkdir(parents=True)
    sh(["git", "init", "-q", "-b", "main"], cwd=repo)
    sh(["dvc", "init", "-q"], cwd=repo)
    if remote is not None:
        sh(["dvc", "remote", "add", "-d", "shared", str(remote)], cwd=repo)
    shutil.copy(REPO / "params.yaml", repo / "params.yaml")  # igfake compare reads compare.alpha
    (repo / "dvc.yaml").write_text(json.dumps(STAGE))
    for tag, table, baseline in (("a", results_table(), True),
                                 ("b", results_table(shift=-0.03, noise_seed=1), False)):
        commit(repo, table, tag, baseline=baseline)
        sh(["git", "tag", tag], cwd=repo)
        if remote is not None:
            sh(["dvc", "push", "-q"], cwd=repo)
    return repo


@pytest.fixture(scope="module")
def origin(tmp_path_factory) -> Path:
    return make_origin(tmp_path_factory.mktemp("sources") / "origin")


def fresh_clone(origin: Path, name: str) -> Path:
    target = origin.parent / name
    sh(["git", "clone", "-q", str(origin), str(target)], cwd=origin.parent)
    return target


def locked_md5(repo: Path, rev: str) -> str:
    import yaml

    lock = yaml.safe_load(sh(["git", "show", f"{rev}:dvc.lock"], cwd=repo).stdout)
    (out,) = lock["stages"]["results"]["outs"]
    return out["md5"]


def test_the_local_cache_is_read_first(origin):
    table, note = sources.read_with_source("b", root=origin)
    assert note is None
    assert table.equals(pq.read_table(origin / RESULTS))


def test_a_fresh_clone_reads_the_committed_baseline_when_it_is_the_same_file_and_says_so(origin):
    clone = fresh_clone(origin, "fresh")
    assert not (clone / RESULTS).exists()  # nothing reproduced, nothing in this clone's cache
    table, note = sources.read_with_source("a", root=clone)
    md5 = locked_md5(clone, "a")
    assert hashlib.md5((origin / BASELINE).read_bytes()).hexdigest() == md5  # the premise, from the files
    assert table.equals(pq.read_table(origin / BASELINE))
    assert note == (f"`a`: {RESULTS} is in neither the DVC cache nor a remote; read {BASELINE}, committed in `a` "
                    f"with the same md5 ({md5}) as its dvc.lock names")
    # b's committed baseline is a's file, not b's results: never substituted, and the line says what works.
    with pytest.raises(CompareError) as refused:
        sources.read("b", root=clone)
    message = str(refused.value)
    assert message.startswith(f"b: {RESULTS} is not in the local DVC cache (")
    assert "configure a DVC remote that holds it (`dvc remote add -d NAME URL`, then `dvc pull`)" in message
    assert "\n" not in message
    # The CLI: the same line, exit status 2; `igfake compare a main` gives no verdict without b's results.
    failed = sh(["igfake", "compare", "a", "b"], cwd=clone, check=False)
    assert failed.returncode == 2 and failed.stdout == ""
    (line,) = failed.stderr.strip().splitlines()
    assert "b: data/predictions/splits.parquet is not in the local DVC cache" in line


def test_with_a_local_remote_a_fresh_clone_pulls_and_compares(tmp_path):
    remote = tmp_path / "remote"
    origin = make_origin(tmp_path / "team", remote=remote)
    clone = fresh_clone(origin, "with-remote")
    sh(["dvc", "pull", "-q"], cwd=clone)
    assert (clone / RESULTS).read_bytes() == (origin / RESULTS).read_bytes()
    out = sh(["igfake", "compare", "a", "b", "--json"], cwd=clone)
    assert out.stderr.strip() == ""  # no stand-in: both revisions' own results, from the cache or the remote
    verdict = json.loads(out.stdout)
    accuracy = next(m for m in verdict["metrics"] if m["metric"] == "accuracy")
    # b is a's recipe with 0.03 taken off every split's accuracy (and other member noise).
    assert verdict["paired"] and verdict["verdict"] == "worse"
    assert accuracy["low"] <= -0.03 <= accuracy["high"] and accuracy["high"] < 0
    # Without a pull, DVC's API streams a revision's file from the remote.
    table, note = sources.read_with_source("b", root=fresh_clone(origin, "no-pull"))
    assert note is None and table.equals(pq.read_table(origin / RESULTS))


def test_a_fresh_clone_of_this_repository_compares_main_with_no_extra_step(tmp_path):
    """A clone with nothing reproduced and an empty DVC cache: main's split results come from the
    committed gate baseline, which is the same file as main's dvc.lock names (so the committed baseline
    must be main's own run: `igfake baseline` after the run, then commit both)."""
    fresh = tmp_path / "fresh"
    sh(["git", "clone", "--quiet", str(REPO), str(fresh)], cwd=tmp_path)
    out = sh(["igfake", "compare", "main", "baseline", "--json"], cwd=fresh)
    assert "committed in `main` with the same md5" in out.stderr and out.stderr.count("\n") == 1, out.stderr
    verdict = json.loads(out.stdout)
    assert verdict["paired"] and verdict["verdict"] == "no detectable difference"
    assert all(m["difference"] == 0 for m in verdict["metrics"]), verdict


def test_an_experiment_is_read_by_name_and_dvcs_queue_refs_are_no_experiment(origin):
    a, b = (sh(["git", "rev-parse", f"{tag}^{{commit}}"], cwd=origin).stdout.strip() for tag in "ab")
    refs = {f"refs/exps/{a[:2]}/{a[2:]}/exp-b": b, "refs/exps/celery/failed": b, "refs/exps/celery/stash": b}
    for ref, commit in refs.items():
        sh(["git", "update-ref", ref, commit], cwd=origin)
    try:
        assert sources.commit_of("exp-b", origin) == b and sources.commit_of("a", origin) == a
        assert sources.read("exp-b", origin).equals(sources.read("b", origin))
        for queued in ("failed", "stash"):
            with pytest.raises(CompareError, match=f"^{queued}: neither a git revision nor a DVC experiment"):
                sources.read(queued, origin)
    finally:
        for ref in refs:
            sh(["git", "update-ref", "-d", ref], cwd=origin)
