"""``igfake predict``: P(authentic) for user-info records, with the shipped TFLite model.

It runs the model with LiteRT (:mod:`pipeline.serving.litert`), as a phone would, on features computed by the
code training used, and never imports TensorFlow: a call costs a fraction of a second, not the seconds
and hundreds of MB TensorFlow's import alone takes.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from pathlib import Path

import numpy as np

from pipeline import features
from pipeline.core import paths
from pipeline.core.errors import ParamsError
from pipeline.core.params import load_section
from pipeline.instagram.inputs import read_users
from pipeline.serving import litert

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
    model (``igfake predict``, ``igfake score``), read back by :func:`threshold_of`."""
    parser.add_argument("--model", type=Path, default=paths.TFLITE_MODEL,
                        help="the TFLite model (default: models/model.tflite, written by `dvc repro`)")
    parser.add_argument("--threshold", type=float,
                        help="P(authentic) from which a profile counts as authentic, strictly between 0 and 1 "
                             "(default: evaluate.threshold of --params, the threshold the evaluation used)")
    parser.add_argument("--params", type=Path, default=paths.PARAMS,
                        help="params.yaml to take the default threshold from (default: the project's)")


def threshold_of(args: argparse.Namespace) -> float:
    """The decision threshold: ``--threshold``, else the pipeline's ``evaluate.threshold``."""
    if args.threshold is None:
        if not Path(args.params).is_file():
            raise ParamsError(f"{args.params}: not found, so no evaluate.threshold: pass --threshold, or --params")
        return load_section("evaluate", args.params).threshold
    if not (math.isfinite(args.threshold) and 0 < args.threshold < 1):
        raise ParamsError(f"--threshold: expected a number strictly between 0 and 1, got {args.threshold!r}")
    return args.threshold


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


def run(args: argparse.Namespace) -> int:
    threshold = threshold_of(args)
    model = litert.Model.load(args.model)
    records = read_users(args.records)
    print(f"{records.name}: read {len(records.users)} profiles ({records.shape})", file=sys.stderr)
    probs = model.run(features.to_matrix(features.compute(records.users, FEATURE_SET), FEATURE_SET))
    text = render(records.users, probs, threshold, args.format)
    if args.output is not None:
        from pipeline.core import atomic

        atomic.write_text(args.output, text)
    else:
        sys.stdout.write(text)
    share = float(np.mean(probs >= threshold))
    print(f"{share:.1%} of {len(records.users)} profiles predicted authentic (threshold {threshold:g})",
          file=sys.stderr)
    return 0


COMMAND = ("P(authentic) for user-info records, with the shipped TFLite model (no TensorFlow)", add_arguments, run)
