"""The vocabulary, defined once: what a profile is, what an annotator may say about it, and the models' names.

Every module speaks these words: the simulator's annotator, the label files, the voting policy, the
labelled table, the metrics and the reports. The formats users write are mapped at the edge: a legacy
dump's ``is_authentic`` true/false (:mod:`pipeline.labelling.formats`), the calibration file's
``not_authentic`` (:mod:`pipeline.instagram.world`).
"""

from __future__ import annotations

AUTHENTIC = "authentic"
FAKE = "fake"  # fake, spam, bought or bot: anything that is not a person's own account
UNSURE = "unsure"  # an annotator's abstention; label-import's ``unsure`` policy decides what it counts as

CLASSES = (AUTHENTIC, FAKE)
DECISIONS = (*CLASSES, UNSURE)

# The ``label`` column of the labelled table and of the features: 1 authentic, 0 fake, as in the article.
LABEL_VALUE = {AUTHENTIC: 1, FAKE: 0}
LABEL_NAME = {value: name for name, value in LABEL_VALUE.items()}

# The article's legacy dump carries the label as this field of each user-info record: true for
# authentic, false for fake, absent or null for unlabelled.
LEGACY_LABEL_FIELD = "is_authentic"

# -- the models --------------------------------------------------------------------------------------------
# Every table and report names a model by one of these: the ``model`` column of the scores, the split
# results and the loss history, the ``models`` of reports/evaluation.json, the ``--model`` of `igfake
# compare`. The shipped model is the MLP (its probability is the predictions' ``prob`` column); each
# baseline (:mod:`pipeline.training.baselines`, ``train.baselines.models``) has a ``prob_baseline_<name>``.
SHIPPED = "mlp"
LOGREG = "logreg"  # L2 logistic regression on the MLP's preprocessed features
FOREST = "forest"  # a random forest on the raw features
GBDT = "gbdt"  # gradient-boosted trees (scikit-learn's HistGradientBoosting) on the raw features
BASELINES = (LOGREG, FOREST, GBDT)
MODELS = (SHIPPED, *BASELINES)
# How the report and the model card call each model.
MODEL_DISPLAY = {SHIPPED: "MLP (shipped)", LOGREG: "logistic regression", FOREST: "random forest",
                 GBDT: "gradient-boosted trees"}

# -- the splits --------------------------------------------------------------------------------------------
# The ``split`` column of the scores and the split results: the fixed hold-out split (what ships and what
# evaluate reports) is this one; the k-fold study's are r<repeat>f<fold>.
HOLDOUT = "holdout"
