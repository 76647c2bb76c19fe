"""Stage ``label-issues``: the labels most likely wrong, from train's out-of-fold probabilities.

Reads ``data/predictions/scores.parquet`` (every model's P(authentic) on every split's test rows: the
k-fold study's are out of fold) and ``data/interim/labelled.parquet`` (``truth``, where the simulator knows
it); ranks the label issues with confident learning on the probabilities of ``label_issues.models``
(:mod:`pipeline.labelling.issues`) and writes ``reports/label_issues.json``: how they were found, how
many, against the truth where known, and each issue (rank, pk, given label, suggested label, score) worst
first. It fits nothing; without a k-fold study (``train.split.repeats: 0``) the report is empty and says
why: the run completes.
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
        params = load().label_issues
        atomic.check_together(paths.commit_journal("train"))
        scores = pq.read_table(paths.SCORES, columns=list(issues.SCORE_COLUMNS)).to_pandas()
        labelled = pq.read_table(paths.LABELLED, columns=["pk", "label", "truth"]).to_pandas()
        known = labelled.dropna(subset=["truth"])
        truth_wrong = ({int(pk): bool(lab != tru) for pk, lab, tru in zip(known["pk"], known["label"], known["truth"],
                                                                          strict=True)}
                       if len(known) == len(labelled) and len(known) else None)
        out = issues.rank(scores, params.models, params.filter_by, len(labelled), truth_wrong,
                          where=paths.shown(paths.SCORES))
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
