"""``igfake predict``: P(authentic) for user-info records, with the shipped TFLite model.

It runs the model with LiteRT (:mod:`pipeline.serving.litert`), as a phone would, on features computed by the
code training used, and never imports TensorFlow: a call costs a fraction of a second, not the seconds
and hundreds of MB TensorFlow's import alone takes. A profile is called authentic at the threshold the
model ships with, the one evaluate chose and wrote beside it (``models/decision.json``,
:mod:`pipeline.serving.decision`). ``--model`` takes a TFLite file or a registered MLflow model
(``models:/igfake@champion``), whose TFLite file and decision are fetched from the registry (MLflow is
imported only then).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

from pipeline import features
from pipeline.core import paths
from pipeline.core.errors import ParamsError
from pipeline.instagram.inputs import read_users
from pipeline.serving import decision, litert

FEATURE_SET = "seed16"
FORMATS = ("jsonl", "csv")
COLUMNS = ("pk", "username", "p_authentic", "authentic")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("records", help="user-info records: JSON Lines, one record, an API answer "
                                        "{\"user\": ...}, the article's dump keyed by pk, or - for standard input")
    add_model_arguments(parser)
    parser.add_argument("--format", choices=FORMATS, default="jsonl",
                        help="output: one JSON object per line (default) or CSV with a header")
    parser.add_argument("--output", "-o", type=Path,
                        help="write the predictions to this file (atomically) instead of standard output")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The model and its decision threshold: the options of every command that scores with the shipped
    model (``igfake predict``, ``igfake score``), resolved by :func:`resolve_model`."""
    parser.add_argument("--model", default=str(paths.TFLITE_MODEL), metavar="MODEL",
                        help="a TFLite file (default: models/model.tflite, written by `dvc repro`) or a registered "
                             "MLflow model, e.g. models:/igfake@champion or models:/igfake/3 (from the project's "
                             "store, or MLFLOW_TRACKING_URI's)")
    parser.add_argument("--threshold", type=float,
                        help="P(authentic) from which a profile counts as authentic, strictly between 0 and 1 "
                             "(default: the threshold the model ships with, which evaluate chose by "
                             "evaluate.threshold_rule: decision.json beside a TFLite file, a registered model's own)")


REGISTRY_SCHEMES = ("models:/", "runs:/")


def check_threshold(threshold: float | None) -> None:
    if threshold is not None and not (math.isfinite(threshold) and 0 < threshold < 1):
        raise ParamsError(f"--threshold: expected a number strictly between 0 and 1, got {threshold!r}")


def model_files(model: str, into: Path) -> tuple[Path, Path]:
    """(TFLite file, decision file) of ``--model``: a file and the ``decision.json`` beside it, or a
    registered model's own, downloaded into ``into``."""
    if model.startswith(REGISTRY_SCHEMES):
        import mlflow

        from pipeline.tracking import registry, runs, store  # MLflow (no TensorFlow): only for a registry URI

        uri = runs.tracking_uri()
        mlflow.set_tracking_uri(uri)
        store.check(uri)  # a store MLflow cannot use is not a model "not found in the registry"
        with store.reported(uri):
            files = registry.download(model, into)
            if model.startswith("models:/"):
                print(registry.describe(mlflow.MlflowClient(), model), file=sys.stderr)
        return files
    path = Path(model)
    return path, path.parent / decision.FILE


def render(users: list[dict], probs: np.ndarray, threshold: float, fmt: str) -> str:
    rows = [{"pk": u["pk"], "username": u["username"], "p_authentic": round(float(p), 6),
             "authentic": bool(p >= threshold)} for u, p in zip(users, probs, strict=True)]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def resolve_model(args: argparse.Namespace, into: Path) -> tuple[Path, litert.Model, float]:
    """(TFLite file, the model loaded, decision threshold) of :func:`add_model_arguments`' options: the
    model is checked before its threshold is read; the threshold is ``--threshold``, else the one the model
    ships with. A registered model's files are downloaded into ``into``."""
    check_threshold(args.threshold)
    tflite, decision_file = model_files(args.model, into)
    model = litert.Model.load(tflite)
    return tflite, model, args.threshold if args.threshold is not None else decision.read(decision_file).threshold


def check_output(output: Path | None) -> None:
    """``--output`` names a file to write, checked before the model runs."""
    if output is None:
        return
    if output.is_dir():
        raise ParamsError(f"--output {output}: is a directory; name the file to write the predictions to")
    folder = next((p for p in output.parents if p.exists()), None)
    if folder is not None and not folder.is_dir():
        raise ParamsError(f"--output {output}: {folder} is a file, not a directory")


def run(args: argparse.Namespace) -> int:
    check_output(args.output)
    with tempfile.TemporaryDirectory(prefix="igfake-model-") as into:
        _, model, threshold = resolve_model(args, Path(into))
    records = read_users(args.records)
    print(f"{records.name}: read {len(records.users)} profiles ({records.shape})", file=sys.stderr)
    probs = model.run(features.to_matrix(features.compute(records.users, FEATURE_SET), FEATURE_SET))
    text = render(records.users, probs, threshold, args.format)
    if args.output is not None:
        from pipeline.core import atomic

        try:
            atomic.write_text(args.output, text)
        except OSError as exc:  # a directory created meanwhile, a parent that is a file, no permission
            raise ParamsError(f"--output {args.output}: cannot write: {exc.strerror or exc}") from None
    else:
        sys.stdout.write(text)
    share = float(np.mean(probs >= threshold))
    print(f"{share:.1%} of {len(records.users)} profiles predicted authentic (threshold {threshold:g})",
          file=sys.stderr)
    return 0


COMMAND = (add_arguments, run)  # its help: pipeline.cli.COMMANDS
