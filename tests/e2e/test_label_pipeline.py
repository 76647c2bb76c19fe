"""The article's setup end to end: one legacy JSON (user-info records keyed by pk, carrying
``is_authentic``) is both the crawl (``crawl.source: files``) and the labels (``label_import.files``).

The stages run as DVC runs them (``python -m pipeline.stages.<stage>`` in the project root), in a
fresh project directory holding only dvc.yaml, params.yaml and the dump.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from pipeline.instagram.world import World
from tests.conftest import sh

pytestmark = pytest.mark.slow

UNLABELLED_EVERY = 10  # every tenth record carries no is_authentic: crawled but never labelled


def configure(project: Path, dump: str) -> None:
    """docs/labelling.md's "article's own setup": one legacy dump is both the crawl and the labels."""
    path = project / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params["simulator"].update(seed=11, accounts_per_seed=160)
    params["crawl"].update(source="files", files=[dump], seed_accounts=["seed.account"])
    params["label_import"].update(source="files", files=[dump])
    # Small training: the test follows the labels, not the study (one 2-fold repeat, a 25-tree forest).
    params["train"].update(seeds=2, epochs=3)
    params["train"]["split"].update(folds=2, repeats=1)
    params["train"]["baselines"]["forest_trees"] = 25
    # A 3-epoch model of a small dump is not meant to ship; the gate says so and stops nothing: this test is
    # about the labels' way through.
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def write_article_dump(project: Path, dump: str) -> dict[int, bool | None]:
    """`igfake simulator export` writes the simulated world in the article's format; every tenth record
    then loses its label, as a crawled but never labelled profile would. Returns is_authentic by pk."""
    sh([sys.executable, "-m", "pipeline.cli", "simulator", "export", "--format", "legacy", "--output", dump],
       cwd=project)
    path = project / dump
    records = json.loads(path.read_text())
    world = World(seed=11, seed_usernames=("seed.account",), accounts_per_seed=160, mistake_rate=0.03)
    assert {int(pk): r["is_authentic"] for pk, r in records.items()} == {
        pk: label == "authentic" for pk, label in world.labels().items()}
    truth = {}
    for i, (pk, record) in enumerate(records.items()):
        if i % UNLABELLED_EVERY == 0:
            del record["is_authentic"]
        truth[int(pk)] = record.get("is_authentic")
    path.write_text(json.dumps(records, indent=1))
    return truth


def stage(project: Path, name: str) -> None:
    sh([sys.executable, "-m", f"pipeline.stages.{name}"], cwd=project)


def test_legacy_json_runs_the_whole_pipeline(project):
    configure(project, "data/labels/article.json")
    truth = write_article_dump(project, "data/labels/article.json")
    for name in ("crawl", "label_import", "featurize"):
        stage(project, name)

    labelled = pq.read_table(project / "data/interim/labelled.parquet").to_pylist()
    expected = {pk: int(v) for pk, v in truth.items() if v is not None}
    assert {r["pk"]: r["label"] for r in labelled} == expected
    assert {r["label_source"] for r in labelled} == {"article"}
    assert {r["relationship"] for r in labelled} == {"unknown"}  # a dump has no follow graph
    report = json.loads((project / "reports/labels.json").read_text())
    assert report["labelled"] == len(expected)
    assert report["authentic"] == sum(expected.values())
    assert report["crawled_unlabelled"] == len(truth) - len(expected) == 16
    assert report["labels_not_in_crawl"] == 0
    assert report["files"] == {"data/labels/article.json": {"format": "legacy-json", "decisions": len(expected),
                                                            "bad_rows": 0, "unlabelled_records": 16}}
    assert report["agreement"] == []  # one annotator
    features = pq.read_table(project / "data/features/features.parquet")
    assert features.column("pk").to_pylist() == [r["pk"] for r in labelled]

    for name in ("train", "evaluate", "export_tflite"):
        stage(project, name)
    metrics = json.loads((project / "reports/metrics.json").read_text())
    predictions = pq.read_table(project / "data/predictions/predictions.parquet").to_pandas()
    # Every labelled profile was scored, with its own label, and a stratified fifth held out for testing.
    assert dict(zip(predictions["pk"], predictions["label"], strict=True)) == expected
    test = predictions[predictions["split"] == "test"]
    assert len(test) == metrics["test_rows"] == math.ceil(0.2 * len(expected))  # train_test_split rounds up
    assert metrics["accuracy"] == pytest.approx(((test["prob"] >= 0.5) == (test["label"] == 1)).mean(), abs=1e-12)
    assert metrics["seeds"]["n"] == 2
    export = json.loads((project / "reports/export.json").read_text())
    assert export["agrees"] and export["rows"] == len(test)
