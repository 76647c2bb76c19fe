"""DVC experiments read from a real git repository's refs, DVC's own bookkeeping refs left out."""

import subprocess

import pytest

from pipeline.core import git


def _git(repo, *args) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    _git(tmp_path, "init", "-q")
    commits = []
    for i in range(4):
        _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", f"c{i}")
        commits.append(_git(tmp_path, "rev-parse", "HEAD"))
    base, one, two, queued = commits
    other_base = one  # an experiment run from another baseline, with a name already taken
    refs = {
        f"refs/exps/{base[:2]}/{base[2:]}/exp-one": one,
        f"refs/exps/{base[:2]}/{base[2:]}/exp-two": two,
        f"refs/exps/{other_base[:2]}/{other_base[2:]}/exp-two": queued,
        # What DVC keeps beside the experiments: the queue (celery), the running one (exec), the stash.
        "refs/exps/celery/stash": queued,
        "refs/exps/celery/failed": queued,
        f"refs/exps/celery/{base[:2]}/queued-exp": queued,
        "refs/exps/exec/EXEC_HEAD": queued,
        "refs/exps/stash": queued,
    }
    for ref, commit in refs.items():
        _git(tmp_path, "update-ref", ref, commit)
    return tmp_path, dict(zip(("base", "one", "two", "queued"), commits, strict=True))


def test_experiments_are_the_named_refs_under_a_baseline_and_nothing_of_dvcs_queue(repo):
    root, c = repo
    found = sorted((e.name, e.rev, e.baseline) for e in git.experiments(root))
    assert found == sorted([("exp-one", c["one"], c["base"]), ("exp-two", c["two"], c["base"]),
                            ("exp-two", c["queued"], c["one"])])


@pytest.mark.parametrize("name", ["stash", "failed", "queued-exp", "EXEC_HEAD"])
def test_a_queue_or_bookkeeping_ref_is_no_experiment(repo, name):
    root, _ = repo
    assert git.experiment_commit(name, root) is None


def test_an_experiment_commit_by_name(repo):
    root, c = repo
    assert git.experiment_commit("exp-one", root) == c["one"]
    assert git.experiment_commit("nothing", root) is None


def test_outside_a_repository_there_are_none(tmp_path):
    assert git.experiments(tmp_path) == [] and git.output(["rev-parse", "HEAD"], tmp_path) is None
