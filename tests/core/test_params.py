import sys
from pathlib import Path

import pytest
import yaml

from pipeline.core.errors import ParamsError
from pipeline.core.params import SECTIONS, TrainParams, load_section
from tests.conftest import REPO, sh


def write_params(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load((REPO / "params.yaml").read_text())
    mutate(data)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_repository_params_load_into_typed_sections():
    for name, cls in SECTIONS.items():
        assert isinstance(load_section(name, REPO / "params.yaml"), cls)
    train = load_section("train", REPO / "params.yaml")
    assert isinstance(train, TrainParams) and isinstance(train.learning_rate, float)


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
        (lambda d: d["train"].update(preset="fancy"), "train.preset: expected one of 'stable', 'article', got 'fancy'"),
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
    section = message.split(".")[0].split(":")[0] if not message.startswith("trian") else "train"
    with pytest.raises(ParamsError) as err:
        load_section(section, path)
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_stage_stops_with_one_line_and_no_traceback(project):
    write_params(project, lambda d: d["train"].update(epochs="ten"))
    result = sh([sys.executable, "-m", "pipeline.stages.train"], cwd=project, check=False)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [f"igfake train: error: {project / 'params.yaml'}: train.epochs: expected a positive "
                     "integer, got 'ten'"]
    assert not (project / "models").exists()
