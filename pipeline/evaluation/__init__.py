"""Evaluation: every reported metric's name, direction, display and range (:mod:`.metric_registry`), metrics
and their intervals (:mod:`.metrics`), everything the evaluate stage measures
(:mod:`.evaluate`), runs compared with their noise (:mod:`.compare`), the quality gate (:mod:`.gate`) and
where a run's split results are read from (:mod:`.sources`). Nothing here imports TensorFlow."""
