import dataclasses
import re
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.core.errors import ParamsError
from pipeline.core.params import Params, TrainParams, load
from tests.conftest import REPO, sh


def write_params(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load((REPO / "params.yaml").read_text())
    mutate(data)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_repository_params_load_into_one_typed_object():
    data = yaml.safe_load((REPO / "params.yaml").read_text())
    params = load(REPO / "params.yaml")
    # One field per section of the file, in the file's order, each a section dataclass.
    assert [f.name for f in dataclasses.fields(Params)] == list(data)
    assert all(dataclasses.is_dataclass(getattr(params, name)) for name in data)
    train = params.train
    assert isinstance(train, TrainParams) and isinstance(train.learning_rate, float)
    assert train.learning_rate == data["train"]["learning_rate"] and train.epochs == data["train"]["epochs"]
    assert params.crawl.seed_accounts == tuple(data["crawl"]["seed_accounts"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.train = train  # type: ignore[misc]


def test_load_reads_the_file_paths_points_at_when_called(tmp_path, monkeypatch):
    from pipeline.core import paths

    path = write_params(tmp_path, lambda d: d["train"].update(epochs=7))
    monkeypatch.setattr(paths, "PARAMS", path)
    assert load().train.epochs == 7


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["train"].update(epochs="ten"), "train.epochs: expected a positive integer, got 'ten'"),
        (lambda d: d["train"].update(epochs=0), "train.epochs: expected a positive integer, got 0"),
        (lambda d: d["train"].update(epochs=True), "train.epochs: expected a positive integer, got True"),
        (lambda d: d["train"].update(learning_rate="fast"),
         "train.learning_rate: expected a positive number, got 'fast'"),
        (lambda d: d["mlflow"].update(experiment=""), "mlflow.experiment: expected a non-empty string, got ''"),
        (lambda d: d["train"]["split"].update(test_size=1.5),
         "train.split.test_size: expected a number strictly between 0 and 1, got 1.5"),
        (lambda d: d["train"]["presets"]["stable"].update(class_weight="auto"),
         "train.presets.stable.class_weight: expected one of 'none', 'balanced', got 'auto'"),
        (lambda d: d["train"]["presets"]["article"].update(patience=5),
         "train.presets.article.patience: early stopping needs a validation slice"),
        (lambda d: d["train"].update(preset="fancy"),
         "train.preset: expected one of 'ple', 'stable', 'article', got 'fancy'"),
        (lambda d: d["train"].update(ship="best"), "train.ship: expected one of 'ensemble', 'seed', got 'best'"),
        (lambda d: d["train"].update(epoch=5), "train.epoch: unknown key"),
        (lambda d: d["train"].pop("seeds"), "train.seeds: missing"),
        (lambda d: d.update(trian={}), "trian: unknown section"),
        (lambda d: d["crawl"].update(seed_accounts="maya"), "crawl.seed_accounts: expected a list of strings"),
        (lambda d: d["crawl"].update(seed_accounts=["maya", 3]),
         "crawl.seed_accounts[1]: expected a non-empty string, got 3"),
    ],
)
def test_bad_values_are_named_with_key_and_value(tmp_path, mutate, message):
    path = write_params(tmp_path, mutate)
    with pytest.raises(ParamsError) as err:
        load(path)
    assert str(err.value).startswith(f"{path}: {message}")


def test_a_missing_or_unknown_section_is_named(tmp_path):
    path = write_params(tmp_path, lambda d: d.pop("audit"))
    with pytest.raises(ParamsError, match=re.escape(f"{path}: audit: section is missing")):
        load(path)
    path = write_params(tmp_path, lambda d: d.update(zzz={}, aaa={}))
    with pytest.raises(ParamsError) as err:
        load(path)
    known = ("simulator, crawl, label_import, featurize, drift, train, label_issues, evaluate, compare, "
             "export_tflite, mlflow, train_list, audit")
    assert str(err.value) == f"{path}: aaa: unknown section (known: {known})"


STAGES = re.findall(r"(?m)^    cmd: python -m pipeline\.stages\.(\w+)$", (REPO / "dvc.yaml").read_text())
HEAVY = ("tensorflow", "keras", "tf_keras")


def test_dvc_yaml_lists_the_stages():
    # Guards the parametrized test below: a cmd pattern that stopped matching would test nothing.
    assert {"train", "export_tflite", "train_list", "track"} <= set(STAGES)


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_checks_params_first_in_one_line_without_tensorflow(project, stage):
    """Each stage validates the whole file before anything heavy: ``train.epochs: ten`` stops even the crawl,
    in one line, and TensorFlow (a ~10 s import) is never loaded on the way."""
    write_params(project, lambda d: d["train"].update(epochs="ten"))
    result = sh([sys.executable, "-X", "importtime", "-m", f"pipeline.stages.{stage}"], cwd=project, check=False)
    assert result.returncode == 2
    imported = [line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")]
    assert "pipeline.core.params" in imported  # the import log is there, so the check below means something
    assert not [name for name in imported if name.split(".")[0] in HEAVY]
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("import time:")]
    name = stage.replace("_", "-")
    assert lines == [f"igfake {name}: error: {project / 'params.yaml'}: train.epochs: expected a positive "
                     "integer, got 'ten'"]
    assert not (project / "models").exists() and not (project / "data").exists()
