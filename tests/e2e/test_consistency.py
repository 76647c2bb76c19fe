"""kill -9 between renames: a stage's outputs stay consistent, and the next stage notices when they are not.

The crawl stage runs in a subprocess whose ``os.replace`` pauses after the Nth rename of an output; the
test then kills it with SIGKILL, as a user's Ctrl-\\, an OOM killer or a CI timeout would. Also: temporary
files stay out of ``git status``, and MLflow runs left RUNNING by a killed process are closed as KILLED.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.core.params import load
from pipeline.instagram.sources import world_for
from tests.conftest import REPO, run_env

SEEDS = ["insights.owner", "maya.lindqvist"]
OUTPUTS = ("data/raw/profiles.jsonl", "data/raw/graph.jsonl", "data/raw/quarantine.jsonl")

# Runs a stage with os.replace instrumented: after the rename that matches (the journal's, or the Nth
# of an output), it says so and waits to be killed.
KILLABLE = """
import os, sys, time
real, target, seen = os.replace, sys.argv[2], []
def replace(src, dst):
    real(src, dst)
    dst = str(dst)
    if dst.endswith(".json") and "/data/cache/commits/" in dst:
        seen.append("journal")
    elif "/data/raw/" in dst or "/reports/" in dst:
        seen.append(str(len([s for s in seen if s != "journal"]) + 1))
    else:
        return
    if seen[-1] == target:
        print("paused", flush=True)
        time.sleep(600)
os.replace = replace
import importlib
importlib.import_module("pipeline.stages." + sys.argv[1]).main()
"""


def make_project(root: Path) -> Path:
    root.mkdir()
    (root / "dvc.yaml").write_text((REPO / "dvc.yaml").read_text())
    for name in (".gitignore", ".dvcignore"):
        (root / name).write_text((REPO / name).read_text())
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["simulator"]["accounts_per_seed"] = 40
    params["crawl"].update(seed_accounts=SEEDS, source="files", files=["dumps/d.jsonl"])
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    return root


def write_dump(root: Path, users: list[dict]) -> None:
    (root / "dumps").mkdir(exist_ok=True)
    (root / "dumps" / "d.jsonl").write_text("".join(json.dumps(u) + "\n" for u in users))


def stage(root: Path, name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", f"pipeline.stages.{name}"], cwd=root, env=run_env(),
                          capture_output=True, text=True, timeout=120)


def outputs(root: Path) -> dict[str, bytes]:
    return {name: (root / name).read_bytes() for name in OUTPUTS}


@pytest.fixture(scope="module")
def users() -> list[dict]:
    sim = load(REPO / "params.yaml").simulator
    world = world_for(type(sim)(**{**sim.__dict__, "accounts_per_seed": 40}), SEEDS)
    return [world.profiles[pk].user for pk in sorted(world.profiles)]


@pytest.mark.parametrize("kill_after", ["journal", "1", "2", "3"])
def test_crawl_killed_between_renames_is_noticed_then_finished(tmp_path, users, kill_after):
    old, new = users[:30], users[10:45]
    reference = make_project(tmp_path / "reference")
    write_dump(reference, new)
    assert stage(reference, "crawl").returncode == 0
    root = make_project(tmp_path / "p")
    write_dump(root, old)
    assert stage(root, "crawl").returncode == 0
    before = outputs(root)

    write_dump(root, new)
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE, "crawl", kill_after], cwd=root, env=run_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "paused", proc.stderr.read()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    half = outputs(root)
    if kill_after != "journal":
        assert half != before  # some outputs are the new crawl's, some the old one's
    # Nothing the kill left behind shows up in git status (temporaries are hidden and ignored).
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=root, check=True,
                            capture_output=True, text=True).stdout
    assert ".tmp" not in status and "cache" not in status, status

    # The next stage refuses the mix, in one line naming the files and what to run.
    refused = stage(root, "label_import")
    assert refused.returncode == 2, refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in refused.stderr
    assert "data/raw/profiles.jsonl" in lines[0] and "the crawl stage was killed while replacing" in lines[0]
    assert "dvc repro crawl" in lines[0]
    assert not (root / "data/interim/labelled.parquet").exists()

    # Running the crawl again gives exactly the uninterrupted crawl, and label-import takes it.
    again = stage(root, "crawl")
    assert again.returncode == 0, again.stderr
    assert outputs(root) == outputs(reference)
    assert not (root / "data/cache/commits/crawl.json").exists()
    assert not [p for p in (root / "data/raw").iterdir() if p.name.startswith(".")]
    done = stage(root, "label_import")
    assert done.returncode == 0, done.stderr


def test_graph_from_another_crawl_is_refused(tmp_path, users):
    """Without a journal (a file copied by hand, a restore of one output): label-import checks the content."""
    root = make_project(tmp_path / "p")
    write_dump(root, users[:20])
    assert stage(root, "crawl").returncode == 0
    graph = [{"seed": "x", "seed_pk": 1, "pk": u["pk"], "follows_seed": True, "followed_by_seed": False}
             for u in users[5:25]]
    (root / "data/raw/graph.jsonl").write_text("".join(json.dumps(g) + "\n" for g in graph))
    refused = stage(root, "label_import")
    assert refused.returncode == 2
    (line,) = refused.stderr.strip().splitlines()
    assert "graph.jsonl: does not belong to" in line and "5 profiles without a relation, 5 relations to no " \
                                                        "profile" in line


def test_stale_temporaries_are_ignored_by_git_and_dvc():
    for name in (".gitignore", ".dvcignore"):
        assert ".*.tmp*" in (REPO / name).read_text().splitlines()


KILLED_TRAIN = """
import sys, time
import mlflow
from pipeline.tracking import runs
mlflow.set_tracking_uri(sys.argv[1])
experiment = mlflow.create_experiment("igfake")
mlflow.set_experiment(experiment_id=experiment)  # as runs.setup does: nested runs land beside the parent
with mlflow.start_run(tags=runs.owner_tags()) as parent:
    with mlflow.start_run(nested=True, tags=runs.owner_tags()) as child:
        print(experiment, parent.info.run_id, child.info.run_id, flush=True)
        time.sleep(600)
"""


def test_runs_of_a_killed_train_are_closed_as_killed(tmp_path):
    import mlflow

    from pipeline.tracking import runs

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_TRAIN, uri], env=run_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        experiment, parent, child = proc.stdout.readline().split()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        client = mlflow.tracking.MlflowClient()
        live = client.create_run(experiment, tags=runs.owner_tags()).info.run_id  # this process: alive
        foreign = client.create_run(experiment, tags={runs.OWNER_HOST: "elsewhere",
                                                      runs.OWNER_PID: "1"}).info.run_id
        untagged = client.create_run(experiment).info.run_id
        assert client.get_run(parent).info.status == "RUNNING"

        assert sorted(runs.close_killed_runs(experiment)) == sorted([parent, child])
        status = {run_id: client.get_run(run_id).info.status for run_id in (parent, child, live, foreign, untagged)}
        assert status == {parent: "KILLED", child: "KILLED", live: "RUNNING", foreign: "RUNNING",
                          untagged: "RUNNING"}
        assert client.get_run(parent).info.end_time is not None
        assert runs.close_killed_runs(experiment) == []
    finally:
        mlflow.set_tracking_uri(previous)
