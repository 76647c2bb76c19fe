"""Stage ``label-issues``: the labels most likely wrong, from train's out-of-fold probabilities.

Reads ``data/predictions/predictions.parquet`` (``pk``, ``label``, ``prob_cv``: the shipped recipe's
out-of-fold P(authentic)) and ``data/interim/labelled.parquet`` (``truth``, where the simulator knows it);
ranks the label issues with confident learning (:mod:`pipeline.labelling.issues`) and writes
``reports/label_issues.json``: how they were found, how many, against the truth where known, and each
issue (rank, pk, given label, suggested label, score) worst first. It fits nothing and has no params;
without a k-fold study (``train.split.repeats: 0``) the report is empty and says why: the run completes.
"""

from __future__ import annotations

import logging

import numpy as np
import pyarrow.parquet as pq

from pipeline.core import atomic, paths
from pipeline.core.params import load
from pipeline.labelling import issues
from pipeline.stages import run

log = logging.getLogger(__name__)


def main() -> None:
    def body() -> None:
        load()  # a broken params.yaml stops every stage the same way, though this one reads no section
        atomic.check_together(paths.commit_journal("train"))
        predicted = pq.read_table(paths.PREDICTIONS, columns=["pk", "label", issues.PROBABILITIES]).to_pandas()
        labelled = pq.read_table(paths.LABELLED, columns=["pk", "label", "truth"]).to_pandas()
        known = labelled.dropna(subset=["truth"])
        truth_wrong = ({int(pk): bool(lab != tru) for pk, lab, tru in zip(known["pk"], known["label"], known["truth"],
                                                                          strict=True)}
                       if len(known) == len(labelled) and len(known) else None)
        out = issues.rank(predicted["pk"].to_numpy(), predicted["label"].to_numpy(),
                          predicted[issues.PROBABILITIES].to_numpy(), truth_wrong,
                          where=f"{paths.PREDICTIONS.relative_to(paths.ROOT)}: {issues.PROBABILITIES}")
        atomic.write_json(paths.LABEL_ISSUES, out, sort_keys=False)
        if "note" in out:
            log.info("%s", out["note"])
            return
        share = np.round(100 * out["flagged_share"], 1)
        log.info("%d of %d labels flagged as likely wrong (%.1f%%)%s", out["flagged"], out["rows"], share,
                 "" if truth_wrong is None else
                 f"; {out['against_truth']['flagged_mistakes']} of them differ from the truth")

    run("label-issues", body)


if __name__ == "__main__":
    main()
