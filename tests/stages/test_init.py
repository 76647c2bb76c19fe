"""The stage runner (pipeline.stages.run): a params error run by DVC says how to get back what DVC deleted.

DVC removes a stage's outputs before it runs the stage's command, so a typo in params.yaml used to leave the
trained model and the predictions deleted behind a one-line error that said nothing of them.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, sh

STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
ERROR = "params.yaml: train.epochs: expected a positive integer, got 'ten'"


def _bad_params(project: Path) -> None:
    text = (REPO / "params.yaml").read_text()
    # train.epochs, the first `epochs:` under `train:` (train_list has its own).
    train = text.index("\ntrain:\n")
    at = text.index("\n  epochs: ", train)
    end = text.index("\n", at + 1)
    (project / "params.yaml").write_text(text[:at] + "\n  epochs: ten" + text[end:])


@pytest.mark.parametrize("stage", list(STAGES))
def test_every_stage_run_by_dvc_says_how_to_restore_its_outputs_after_a_params_error(stage, project):
    _bad_params(project)
    result = sh(STAGES[stage]["cmd"].split(), project, check=False, PYTHONPATH=str(REPO), DVC_STAGE=stage)
    assert result.returncode == 2
    assert result.stderr == (f"igfake {stage}: error: {project}/{ERROR}; DVC removed the stage's outputs before "
                             f"running it: `dvc checkout {stage}` restores those it caches, `dvc repro {stage}` "
                             "rebuilds the rest once params.yaml is fixed\n")


def test_a_stage_run_by_hand_removed_nothing_and_says_nothing_of_dvc(project):
    _bad_params(project)
    result = sh(STAGES["train"]["cmd"].split(), project, check=False, PYTHONPATH=str(REPO))
    assert (result.returncode, result.stderr) == (2, f"igfake train: error: {project}/{ERROR}\n")


STAGE_PY = """\
import pathlib
from pipeline.core.params import load
from pipeline.stages import run
def body():
    epochs = load().train.epochs
    pathlib.Path("model.txt").write_text(f"trained for {epochs} epochs")
    pathlib.Path("report.txt").write_text("uncached")
run("train", body)
"""


def test_through_dvc_repro_the_restore_command_brings_the_cached_outputs_back(tmp_path):
    """A one-stage DVC project whose stage reads params.yaml as the real ones do: the typo deletes its model,
    and the command the message gives restores it, byte for byte."""
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    (tmp_path / "stage.py").write_text(STAGE_PY)
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"train": {
        "cmd": "python stage.py", "params": ["train.epochs"],
        "outs": ["model.txt", {"report.txt": {"cache": False}}]}}}))
    for command in (["git", "init", "-q"], ["dvc", "init", "-q"], ["dvc", "repro", "-q"]):
        sh(command, tmp_path, PYTHONPATH=str(REPO))
    model = tmp_path / "model.txt"
    trained = hashlib.md5(model.read_bytes()).hexdigest()
    _bad_params(tmp_path)
    result = sh(["dvc", "repro"], tmp_path, check=False, PYTHONPATH=str(REPO))
    assert result.returncode != 0 and not model.exists()  # DVC deleted it before running the stage
    lines = [line for line in result.stderr.splitlines() if line.startswith("igfake ")]
    assert lines == [f"igfake train: error: {tmp_path}/{ERROR}; DVC removed the stage's outputs before running it: "
                     "`dvc checkout train` restores those it caches, `dvc repro train` rebuilds the rest once "
                     "params.yaml is fixed"]
    command = re.search(r"`(dvc checkout \S+)`", lines[0]).group(1).split()
    sh(command, tmp_path)
    assert hashlib.md5(model.read_bytes()).hexdigest() == trained
    assert not (tmp_path / "report.txt").exists()  # uncached: the message says `dvc repro` rebuilds it
