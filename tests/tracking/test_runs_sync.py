"""`igfake mlflow sync`'s bookkeeping on a real SQLite store: each DVC experiment's runs get its commit, and
an experiment that reproduced nothing new gets a run of its own that points at the run it repeats."""

from __future__ import annotations

import mlflow
from mlflow.tracking import MlflowClient

from pipeline.core.git import Experiment
from pipeline.tracking import runs


def test_experiments_get_their_commits_and_a_repeat_gets_a_linked_run(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment_id = runs.setup("sync-test", root=tmp_path)
    client = MlflowClient()
    ran = client.create_run(experiment_id, run_name="lr-sweep-1", tags={"dvc.exp_name": "lr-sweep-1",
                                                                        "igfake.kind": "study"})
    client.log_metric(ran.info.run_id, "accuracy", 0.9)
    client.set_terminated(ran.info.run_id)
    logged = {"c0ffee": ran.info.run_id}  # the commit whose mlflow_run.json names that run

    counts = runs.sync_experiment_commits(
        [Experiment("lr-sweep-1", "c0ffee", "base1"), Experiment("again", "c0ffee", "base1"),
         Experiment("never-tracked", "deadbee", "base1")], "sync-test", logged.get)

    assert counts == {"tagged": 2, "linked": 1}
    tags = client.get_run(ran.info.run_id).data.tags
    assert (tags["mlflow.source.git.commit"], tags["dvc.exp_rev"], tags["dvc.exp_baseline"]) == \
        ("c0ffee", "c0ffee", "base1")
    linked = mlflow.search_runs([experiment_id], filter_string="tags.`dvc.exp_name` = 'again'", output_format="list")
    assert len(linked) == 1 and linked[0].data.tags["igfake.same_results_as"] == ran.info.run_id
    assert linked[0].data.tags["dvc.exp_rev"] == "c0ffee"
    assert not mlflow.search_runs([experiment_id], filter_string="tags.`dvc.exp_name` = 'never-tracked'",
                                  output_format="list")
