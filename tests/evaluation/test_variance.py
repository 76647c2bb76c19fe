"""The seed-variance decomposition (reports/variance.json), by hand and from split results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.evaluation import variance


def test_decomposition_matches_hand_computation():
    holdout = np.array([0.80, 0.90])
    kfold = np.array([[0.8, 0.9], [0.7, 0.9], [0.9, 0.9]])
    d = variance.decompose(holdout, kfold, n_test=100, kfold_ratio=100 / 400, alpha=0.05, band=(0.85, 0.95))
    assert d["holdout"]["init_std"] == pytest.approx(0.05)
    assert d["holdout"]["binomial_se"] == pytest.approx(np.sqrt(0.85 * 0.15 / 100))
    assert d["holdout"]["share_in_band"] == 0.5
    k = d["kfold"]
    assert k["mean"] == pytest.approx(5.1 / 6)
    assert k["split_std"] == pytest.approx(np.std([0.85, 0.8, 0.9]))
    assert k["init_std"] == pytest.approx(np.mean([0.05, 0.1, 0.0]))
    assert k["total_std"] == pytest.approx(np.std(kfold))
    se = np.sqrt((1 / 3 + 100 / 400) * np.var([0.85, 0.8, 0.9], ddof=1))
    t_975_2df = 4.302653  # Student's t, 2 degrees of freedom (J - 1), 97.5th percentile: from a t table
    assert k["ci"] == pytest.approx([5.1 / 6 - t_975_2df * se, 5.1 / 6 + t_975_2df * se])
    assert k["level"] == 0.95
    assert k["share_in_band"] == pytest.approx(4 / 6)


def test_decomposition_of_split_results_takes_members_by_seed_and_splits_in_order():
    """From split results rows (what evaluate scored): the hold-out's members, and the k-fold matrix with the
    splits in table order and the members by seed, whatever order the rows come in."""
    holdout = [0.80, 0.90]
    kfold = {"r0f0": [0.8, 0.9], "r0f1": [0.7, 0.9], "r1f0": [0.9, 0.9]}
    rows = [{"model": "mlp", "split": "holdout", "member_seed": s, "accuracy": a, "train_rows": 400, "test_rows": 100}
            for s, a in zip((7, 8), holdout, strict=True)]
    rows += [{"model": "mlp", "split": name, "member_seed": s, "accuracy": a, "train_rows": 80, "test_rows": 20}
             for name, accs in kfold.items() for s, a in reversed(list(zip((7, 8), accs, strict=True)))]
    rows += [{"model": "forest", "split": r["split"], "member_seed": 0, "accuracy": r["accuracy"] - 0.1,
              "train_rows": r["train_rows"], "test_rows": r["test_rows"]} for r in rows if r["member_seed"] == 7]
    report = variance.report(pd.DataFrame(rows), alpha=0.05)
    expected = variance.decompose(np.array(holdout), np.array(list(kfold.values())), n_test=100,
                                  kfold_ratio=20 / 80, alpha=0.05)
    assert {k: v for k, v in report.items() if k != "baselines"} == expected
    forest = report["baselines"]["forest"]
    assert forest["holdout"]["mean"] == pytest.approx(0.70) and forest["holdout"]["init_std"] == 0
    assert forest["kfold"]["mean"] == pytest.approx(np.mean([0.7, 0.6, 0.8]))
    holdout_only = variance.report(pd.DataFrame([r for r in rows if r["split"] == "holdout"]), alpha=0.05)
    assert "kfold" not in holdout_only and holdout_only["holdout"]["n_seeds"] == 2
