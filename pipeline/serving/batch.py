"""The one batch function of batch scoring: an Arrow batch of user-info columns in, scores out.

:class:`Scorer` is what both engines of ``igfake score`` run on every batch (the local process pool of
:mod:`pipeline.serving.score`, the Ray actors of :mod:`pipeline.serving.ray_engine`): it normalises the
records (:func:`pipeline.instagram.records.normalize_batch`, the crawl's and predict's checks, vectorised),
computes the features with the code training used (:func:`pipeline.features.compute_batch`, held equal
to the row-wise :func:`pipeline.features.compute`), runs the shipped TFLite model in LiteRT and applies the
decision threshold. A bad record does not stop the batch: it comes back as a quarantine entry with the
crawl's fields (pk, where, field, reason, record).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline import features
from pipeline.instagram.records import normalize_batch
from pipeline.serving import litert

FEATURE_SET = "seed16"
# What a scored batch holds, in this order: the profile, P(authentic) as the model computed it (float32),
# the decision at the threshold (p_authentic >= threshold, as igfake predict decides), and which model.
OUTPUT_SCHEMA = pa.schema([
    pa.field("pk", pa.int64(), nullable=False),
    pa.field("p_authentic", pa.float32(), nullable=False),
    pa.field("authentic", pa.bool_(), nullable=False),
    pa.field("model_sha256", pa.string(), nullable=False),
])


@dataclass
class Scored:
    table: pa.Table  # OUTPUT_SCHEMA, the good records in input order
    quarantine: list[dict[str, Any]] = field(default_factory=list)  # the bad ones, in input order


class Scorer:
    """The model loaded once (per process, per actor), then called on batch after batch."""

    def __init__(self, model: litert.Model, threshold: float, feature_set: str = FEATURE_SET) -> None:
        self.model = model
        self.threshold = threshold
        self.feature_set = feature_set

    @classmethod
    def from_flatbuffer(cls, flatbuffer: bytes, threshold: float, name: str = "<model>") -> Scorer:
        return cls(litert.Model(flatbuffer, name), threshold)

    def __call__(self, batch: pa.RecordBatch | pa.Table, where: str) -> Scored:
        """Score every record of ``batch``; ``where`` names where it came from (the file) for the quarantine."""
        good, bad = normalize_batch(batch)
        quarantine = [{"pk": record.get("pk"), "where": where, "field": exc.field, "reason": exc.reason,
                       "record": record} for _, record, exc in bad]
        return Scored(self.score_normalized(good), quarantine)

    def score_normalized(self, users: pa.Table) -> pa.Table:
        """The scores of records already normalised (:data:`~pipeline.instagram.records.USER_SCHEMA`)."""
        x = features.to_matrix(features.compute_batch(users, self.feature_set), self.feature_set)
        probs = self.model.run(x) if len(x) else np.zeros(0, np.float32)
        return pa.Table.from_arrays(
            [users.column("pk"), pa.array(probs, pa.float32()), pa.array(probs >= self.threshold),
             pa.repeat(pa.scalar(self.model.sha256), len(x))], schema=OUTPUT_SCHEMA)
