import numpy as np
import pytest

from pipeline.evaluation import metrics as M


def article_predictions():
    # The article's hold-out: 64 authentic (60 right), 130 not (124 right).
    y = np.array([1] * 64 + [0] * 130)
    prob = np.array([0.9] * 60 + [0.1] * 4 + [0.8] * 6 + [0.2] * 124)
    return y, prob


def test_confusion_is_printed_as_the_article_did():
    y, prob = article_predictions()
    cm = M.confusion(y, prob)
    assert cm.tolist() == [[60, 4], [6, 124]]
    text = M.format_confusion(cm)
    assert "Accuracy: 0.9484536082474226" in text
    assert "True positive: 0.9375" in text
    assert "False positive: 0.0625" in text
    assert "Precision (Y): 0.9090909090909091" in text
    assert "Precision (N): 0.96875" in text
    assert "60.00" in text and "124.00" in text and "194.00" in text


def test_per_class_metrics_match_hand_counts():
    y, prob = article_predictions()
    m = M.classification_metrics(y, prob)
    assert m["accuracy"] == 184 / 194
    assert m["precision_authentic"] == 60 / 66 and m["precision_fake"] == 124 / 128
    assert m["recall_authentic"] == 60 / 64 and m["recall_fake"] == 124 / 130
    assert 0.9 < m["roc_auc"] <= 1.0


def test_threshold_moves_decisions():
    y = np.array([1, 1, 0, 0])
    prob = np.array([0.9, 0.6, 0.55, 0.1])
    assert M.classification_metrics(y, prob, 0.5)["accuracy"] == 0.75
    assert M.classification_metrics(y, prob, 0.58)["accuracy"] == 1.0


def test_summary_of_seed_accuracies():
    s = M.summarize([0.8, 0.9, 1.0])
    assert s["n"] == 3 and s["min"] == 0.8 and s["max"] == 1.0
    assert abs(s["mean"] - 0.9) < 1e-12 and abs(s["std"] - np.std([0.8, 0.9, 1.0])) < 1e-12


def noisy_predictions(seed: int, n: int = 150, decimals: int = 2):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    prob = np.round(np.clip(0.35 * y + 0.75 * rng.random(n), 0, 1), decimals)  # rounded: many ties
    return y, prob


def test_vectorised_bootstrap_metrics_equal_scikit_learn():
    for seed, decimals in ((0, 2), (1, 1), (2, 6)):
        y, prob = noisy_predictions(seed, decimals=decimals)
        for threshold in (0.3, 0.5, 0.62):
            point = M.point_metrics(y, prob, threshold, bins=10)
            fast = M.resampled_metrics(y[None, :], prob[None, :], threshold, bins=10)
            for name in M.INTERVAL_METRICS:
                assert fast[name][0] == pytest.approx(point[name], abs=1e-12), (name, seed, threshold)


def test_expected_calibration_error_by_hand():
    y = np.array([1, 0, 1, 1, 0, 0])
    prob = np.array([0.9, 0.8, 0.85, 0.1, 0.2, 0.15])
    # Two bins: [0.5, 1] holds 3 rows, mean p 0.85, share 2/3; [0, 0.5) 3 rows, mean p 0.15, share 1/3.
    expected = 0.5 * abs(2 / 3 - 0.85) + 0.5 * abs(1 / 3 - 0.15)
    assert M.expected_calibration_error(y, prob, bins=2) == pytest.approx(expected)
    # Ten bins: 0.1|0.15, 0.2, 0.8|0.85, 0.9: the gaps no longer cancel inside a bin.
    assert M.expected_calibration_error(y, prob, bins=10) == pytest.approx((0.75 + 0.2 + 0.65 + 0.1) / 6)
    bins = M.reliability(y, prob, bins=10)
    assert [b["rows"] for b in bins] == [2, 1, 2, 1] and bins[0]["bin_start"] == 0.1
    assert bins[2]["share_authentic"] == 0.5 and bins[2]["mean_predicted"] == pytest.approx(0.825)


def test_intervals_hold_the_point_value_and_narrow_with_more_rows():
    y, prob = noisy_predictions(3, n=100)
    small = M.with_intervals(y, prob, 0.5, 10, M.bootstrap_rows(len(y), 500, 0))
    y4, p4 = np.tile(y, 4), np.tile(prob, 4)
    large = M.with_intervals(y4, p4, 0.5, 10, M.bootstrap_rows(len(y4), 500, 0))
    for name in ("accuracy", "roc_auc", "brier", "mcc"):
        lo, hi = small[name]["ci95"]
        assert lo <= small[name]["value"] <= hi, name
        assert large[name]["ci95"][1] - large[name]["ci95"][0] < hi - lo, name
    again = M.with_intervals(y, prob, 0.5, 10, M.bootstrap_rows(len(y), 500, 0))
    assert again == small


def test_precision_recall_curve_is_the_fake_class():
    y = np.array([1, 1, 0, 0])
    prob = np.array([0.9, 0.4, 0.3, 0.1])  # P(authentic): fakes score lowest
    points = M.precision_recall_points(y, prob)
    assert points[-1] == {"recall": 0.0, "precision": 1.0, "threshold": 0.0}
    # Calling fake below 0.45 catches both fakes and one authentic: recall 1, precision 2/3.
    assert {"recall": 1.0, "precision": 2 / 3} in [{k: p[k] for k in ("recall", "precision")} for p in points]
