import numpy as np

from pipeline import metrics as M


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
