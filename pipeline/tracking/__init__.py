"""MLflow: the store, the pipeline run with its nested seed, split and baseline runs, and the sync with DVC
experiments (:mod:`.runs`); the list-only model's run (:mod:`.list_runs`)."""
