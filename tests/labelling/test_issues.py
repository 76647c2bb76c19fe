"""The labels most likely wrong: confident learning on out-of-fold probabilities, the report's JSON and its
reader, and the stage on a small project."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from pipeline.core.errors import InputError
from pipeline.labelling import issues
from pipeline.reporting import report
from tests.conftest import repo_params, sh

FILTER_BY = repo_params().label_issues.filter_by  # what the stage runs with


def noisy_set(seed: int = 0, n: int = 600, flips: int = 30) -> tuple[np.ndarray, np.ndarray, np.ndarray, set[int]]:
    """Two Gaussian classes 3.2 standard deviations apart (few rows look like the other class), ``flips``
    labels flipped at seeded random, and a logistic regression's 5-fold out-of-fold P(authentic)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.6).astype(int)
    x = rng.normal(size=(n, 2)) + np.where(y[:, None] == 1, 1.6, -1.6)
    flipped = rng.choice(n, flips, replace=False)
    given = y.copy()
    given[flipped] = 1 - given[flipped]
    prob = cross_val_predict(LogisticRegression(), x, given, cv=StratifiedKFold(5, shuffle=True, random_state=0),
                             method="predict_proba")[:, 1]
    return np.arange(n) + 1000, given, prob, {int(i) + 1000 for i in flipped}


@pytest.mark.parametrize("filter_by", ["confident_learning", "prune_by_noise_rate"])
def test_confident_learning_finds_the_flipped_labels(filter_by):
    pks, given, prob, flipped = noisy_set()
    found = issues.find(pks, given, prob, filter_by, "x")
    flagged = {i["pk"] for i in found}
    # On this seed cleanlab flags 34 rows, 30 of them flips (prune_by_noise_rate: 0.88 / 1.0), or 28, all
    # flips (confident_learning: 1.0 / 0.93): bounds with a margin.
    assert len(flagged & flipped) / len(flagged) >= 0.8
    assert len(flagged & flipped) / len(flipped) >= 0.8
    # Not everything: the rows the model agrees with are left alone.
    assert len(flagged) <= 2 * len(flipped)


def test_issues_are_ranked_worst_first_with_given_and_suggested_labels():
    # Ten authentic and ten fake rows the model agrees with, and two it contradicts: pk 7 (labelled
    # authentic, P(authentic) 0.02) is worse than pk 15 (labelled fake, P(authentic) 0.9, P(fake) 0.1).
    labels = np.array([1] * 10 + [0] * 10)
    prob = np.where(labels == 1, 0.95, 0.05)
    prob[7], prob[15] = 0.02, 0.9
    pks = np.arange(20)
    found = issues.find(pks, labels, prob, FILTER_BY, "x")
    assert found == [
        {"rank": 1, "pk": 7, "label": "authentic", "suggested": "fake", "score": 0.02},
        {"rank": 2, "pk": 15, "label": "fake", "suggested": "authentic", "score": 0.1},
    ]
    out = issues.report(found, 20, FILTER_BY, "p", truth_wrong={pk: pk in (7, 3) for pk in range(20)})
    assert list(out) == ["probabilities", "filter_by", "ranked_by", "rows", "flagged", "flagged_share",
                         "against_truth", "issues"]
    assert out["flagged"] == 2 and out["flagged_share"] == 0.1
    # Two annotator mistakes (7 and 3), one of them flagged; one of the two flags is a mistake.
    assert out["against_truth"] == {"mistakes": 2, "flagged_mistakes": 1, "precision": 0.5, "recall": 0.5}
    plain = issues.report(found, 20, FILTER_BY, "p")
    assert plain["issues"] == found and "against_truth" not in plain and plain["probabilities"] == "p"


def test_missing_probabilities_stop_with_one_line():
    with pytest.raises(InputError, match=r"^where: 1 of 3 rows have no out-of-fold probability in 0\.\.1"):
        issues.find(np.arange(3), np.array([1, 0, 1]), np.array([0.9, np.nan, 0.8]), FILTER_BY, "where")
    with pytest.raises(InputError, match="label 2 is not one of"):
        issues.find(np.arange(3), np.array([1, 0, 2]), np.array([0.9, 0.1, 0.8]), FILTER_BY, "where")


def test_the_reader_returns_the_pks_worst_first_and_refuses_what_is_not_a_report(tmp_path):
    path = tmp_path / "label_issues.json"
    path.write_text(json.dumps({"issues": [{"rank": 2, "pk": 20}, {"rank": 1, "pk": 10}, {"rank": 3, "pk": 5}]}))
    assert issues.read(path, "x.json") == [10, 20, 5]
    with pytest.raises(InputError, match=r"^x\.json: not found; run `dvc repro label-issues` first$"):
        issues.read(tmp_path / "nope.json", "x.json")
    for text in ("{", '{"flagged": 3}', '{"issues": [{"pk": 1}]}', '{"issues": 3}'):
        path.write_text(text)
        with pytest.raises(InputError, match=r"^x\.json: not a label issues report"):
            issues.read(path, "x.json")
    path.write_text('{"issues": [{"rank": 1, "pk": "12"}]}')
    with pytest.raises(InputError, match=r"issues: expected a list of \{rank, pk, \.\.\.\} with integer rank and pk"):
        issues.read(path, "x.json")


def test_the_report_section_names_the_counts_and_lists_the_worst():
    found = issues.report([{"rank": 1, "pk": 77, "label": "fake", "suggested": "authentic", "score": 0.0312}], 50,
                          "confident_learning", "out-of-fold P(authentic), mean over 2 k-fold repeat(s) of mlp",
                          truth_wrong={77: False, 78: True})
    page = report.label_issues_section(found)
    assert ("(cleanlab, <code>confident_learning</code>) on the out-of-fold P(authentic), mean over 2 k-fold "
            "repeat(s) of mlp flags <b>1</b> of 50 labels (2%)") in page
    assert "0 of them are annotator mistakes, out of 1 mistakes in all" in page
    assert "<td>77</td><td>fake</td><td>authentic</td><td>0.031</td>" in page


def scores_table(rows: list[tuple[str, str, int, int, float]]):
    return pd.DataFrame(rows, columns=list(issues.SCORE_COLUMNS))


def test_out_of_fold_averages_members_then_repeats_then_models_and_leaves_the_holdout_out():
    # pk 1: the MLP's two members 0.2 and 0.4 in r0f0 (mean 0.3) and 0.5 and 0.7 in r1f1 (0.6): 0.45; the
    # forest 0.9 and 0.7: 0.8; together (0.45 + 0.8) / 2 = 0.625. pk 2: MLP (0.1 + 0.3) / 2 = 0.2, forest
    # 0.4: 0.3. The hold-out's scores (0.0, 1.0) are not out of fold for every row and count for nothing.
    scores = scores_table([
        ("mlp", "holdout", 1, 1, 0.0), ("forest", "holdout", 1, 1, 1.0),
        ("mlp", "r0f0", 1, 1, 0.2), ("mlp", "r0f0", 1, 1, 0.4), ("mlp", "r1f1", 1, 1, 0.5), ("mlp", "r1f1", 1, 1, 0.7),
        ("forest", "r0f0", 1, 1, 0.9), ("forest", "r1f1", 1, 1, 0.7),
        ("mlp", "r0f1", 2, 0, 0.1), ("mlp", "r1f0", 2, 0, 0.3),
        ("forest", "r0f1", 2, 0, 0.4), ("forest", "r1f0", 2, 0, 0.4),
        ("logreg", "r0f1", 2, 0, 0.99)])  # a model not asked for changes nothing
    oof = issues.out_of_fold(scores, ["mlp", "forest"], "s.parquet")
    assert oof.pks.tolist() == [1, 2] and oof.labels.tolist() == [1, 0]
    assert oof.prob == pytest.approx([0.625, 0.3], abs=1e-12)
    assert oof.described == "out-of-fold P(authentic), mean over 2 k-fold repeat(s) of mlp and forest"
    assert issues.out_of_fold(scores, ["forest"], "s.parquet").prob == pytest.approx([0.8, 0.4], abs=1e-12)


def test_out_of_fold_without_a_study_is_none_and_a_model_not_fitted_is_left_out_and_said():
    holdout_only = scores_table([("mlp", "holdout", 1, 1, 0.2), ("forest", "holdout", 1, 1, 0.9)])
    assert issues.out_of_fold(holdout_only, ["mlp", "forest"], "s.parquet") is None
    scores = scores_table([("mlp", "r0f0", 1, 1, 0.2), ("mlp", "r0f1", 2, 0, 0.3), ("forest", "r0f0", 1, 1, 0.9)])
    # train.baselines.models without gbdt: the MLP's alone, and the report says what was left out.
    alone = issues.out_of_fold(scores[scores["model"] == "mlp"], ["mlp", "gbdt"], "s.parquet")
    assert alone.prob == pytest.approx([0.2, 0.3], abs=1e-12)
    assert alone.described == ("out-of-fold P(authentic), mean over 1 k-fold repeat(s) of mlp "
                               "(gbdt: not fitted, left out)")
    with pytest.raises(InputError, match=r"^label_issues\.models: none of \['gbdt'\] has k-fold scores in "
                                         r"s\.parquet \(it has \['forest', 'mlp'\]\)"):
        issues.out_of_fold(scores, ["gbdt"], "s.parquet")
    with pytest.raises(InputError, match=r"^s\.parquet: 1 rows have k-fold scores from some of label_issues\.models"):
        issues.out_of_fold(scores, ["mlp", "forest"], "s.parquet")


STAGE = [sys.executable, "-m", "pipeline.stages.label_issues"]


def write_inputs(project, prob: np.ndarray, labels: np.ndarray, truth: np.ndarray, repeats: int = 1) -> None:
    """train's scores for ``repeats`` k-fold repeats (two folds each), the MLP's and the forest's P(authentic)
    both ``prob`` (so their mean is ``prob``), a hold-out beside them, and the labelled table."""
    (project / "data/predictions").mkdir(parents=True)
    (project / "data/interim").mkdir(parents=True)
    pks = np.arange(len(labels)) + 500
    rows = []
    for model in ("mlp", "forest"):
        rows += [(model, "holdout", int(pk), int(y), 0.5) for pk, y in zip(pks[:2], labels[:2], strict=True)]
        for r in range(repeats):
            rows += [(model, f"r{r}f{i % 2}", int(pk), int(y), float(p))
                     for i, (pk, y, p) in enumerate(zip(pks, labels, prob, strict=True))]
    frame = scores_table(rows)
    pq.write_table(pa.table({"model": frame["model"], "split": frame["split"], "member_seed": pa.array(
        np.zeros(len(frame), np.int64)), "pk": pa.array(frame["pk"], pa.int64()), "label": pa.array(frame["label"],
        pa.int8()), "prob": pa.array(frame["prob"], pa.float32())}), project / "data/predictions/scores.parquet")
    # The labelled table in another order than the scores: the stage joins by pk.
    order = np.argsort(-pks)
    pq.write_table(pa.table({"pk": pa.array(pks[order], pa.int64()), "label": pa.array(labels[order], pa.int8()),
                             "truth": pa.array(truth[order], pa.int8())}), project / "data/interim/labelled.parquet")


def test_the_stage_writes_the_issues_and_the_flags_against_the_truth(project):
    _, given, prob, flipped = noisy_set(seed=1, n=300, flips=15)
    truth = given.copy()
    flipped_rows = np.array(sorted(flipped)) - 1000
    truth[flipped_rows] = 1 - truth[flipped_rows]  # the flips are the annotator's mistakes
    write_inputs(project, prob, given, truth, repeats=2)
    sh(STAGE, cwd=project)
    out = json.loads((project / "reports/label_issues.json").read_text())
    expected = issues.find(np.arange(300) + 500, given, prob.astype(np.float32), FILTER_BY, "x")
    assert out["issues"] == expected and out["rows"] == 300 and out["filter_by"] == FILTER_BY
    assert out["probabilities"] == "out-of-fold P(authentic), mean over 2 k-fold repeat(s) of mlp and forest"
    assert [i["rank"] for i in out["issues"]] == list(range(1, len(expected) + 1))
    scores = [i["score"] for i in out["issues"]]
    assert scores == sorted(scores)
    flagged_mistakes = sum(i["pk"] - 500 in set(flipped_rows) for i in out["issues"])
    assert out["against_truth"]["mistakes"] == 15
    assert out["against_truth"]["flagged_mistakes"] == flagged_mistakes >= 12


def test_the_stage_without_a_kfold_study_completes_and_says_so(project):
    write_inputs(project, np.full(4, 0.5), np.array([1, 0, 1, 0]), np.array([1, 0, 1, 0]), repeats=0)
    sh(STAGE, cwd=project)
    out = json.loads((project / "reports/label_issues.json").read_text())
    assert out["flagged"] == 0 and out["issues"] == [] and out["note"].startswith("no out-of-fold probabilities")
    assert out["rows"] == 4
    assert "nothing ranked" in report.label_issues_section(out)


def test_the_stage_with_broken_probabilities_stops_with_one_line(project):
    write_inputs(project, np.array([0.9, np.nan, 1.5, 0.1]), np.array([1, 0, 1, 0]), np.array([1, 0, 1, 0]))
    result = sh(STAGE, cwd=project, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "igfake label-issues: error: data/predictions/scores.parquet: 4 of 8 k-fold scores are not probabilities "
        "in 0..1 (NaN or out of range); run `dvc repro train`"]
