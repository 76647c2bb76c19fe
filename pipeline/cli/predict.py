"""``igfake predict``: P(authentic) for user-info records, with the shipped TFLite model.

It runs the model with LiteRT (:mod:`pipeline.litert`), as a phone would, on features computed by the
code training used.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from pipeline import litert, paths
from pipeline.errors import InputError
from pipeline.instagram.records import read_profiles


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("records", type=Path, help="JSON Lines of user-info records")
    parser.add_argument("--model", type=Path, default=paths.TFLITE_MODEL)
    parser.add_argument("--threshold", type=float, default=0.5)


def run(args: argparse.Namespace) -> int:
    if not args.model.is_file():
        raise InputError(f"{args.model}: no model; run `dvc repro` first")
    users = read_profiles(args.records)
    probs = litert.predict(users, args.model.read_bytes(), "seed16") if users else np.zeros(0)
    for user, p in zip(users, probs, strict=True):
        print(json.dumps({"pk": user["pk"], "username": user["username"], "p_authentic": round(float(p), 6),
                          "authentic": bool(p >= args.threshold)}, ensure_ascii=False))
    if len(users):
        share = float(np.mean(probs >= args.threshold))
        print(f"{share:.1%} of {len(users)} profiles predicted authentic", file=sys.stderr)
    return 0


COMMAND = ("P(authentic) for user-info records with the shipped TFLite model", add_arguments, run)
