"""MLflow: the store, the pipeline run with its nested seed, split and baseline runs, and the sync with DVC
experiments (:mod:`.runs`); the list-only model's run (:mod:`.list_runs`); the Model Registry, where every
run's model is a version and only a blessed one becomes the champion (:mod:`.registry`); the SQLite store
under concurrent writers (:mod:`.store`)."""

import os

# MLflow 3 records usage telemetry and sends it from a background thread: these runs are offline and
# logged by the hundred, so it costs time and reaches for the network. Set the variable to opt back in.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

# Where `igfake mlflow ui` serves the MLflow UI, and so the host and port of the link the track stage logs.
UI_HOST, UI_PORT = "127.0.0.1", 5000
