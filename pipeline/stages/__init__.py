"""One module per DVC stage, mirroring dvc.yaml: a thin ``main()`` over domain code.

Every stage's ``main`` goes through :func:`run`, which turns the errors a user can fix (a bad
params.yaml value, a malformed input file, an unreachable API: every :class:`~pipeline.core.errors.IgfakeError`)
into one line on stderr and exit status 2 instead of a traceback; a params error run by DVC adds how to get back
the outputs DVC deleted before running the stage (:func:`restore_hint`). Each body starts with one
:func:`pipeline.core.params.load` (the whole params.yaml, validated once) and hands the sections it needs
down; a stage that uses TensorFlow imports it inside the body, after that, so a bad value is reported at once.
Nothing outside this package imports it: the stages are entry points, and what they do lives in the domain
modules they call.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

from pipeline.core.errors import IgfakeError, ParamsError


def restore_hint() -> str:
    """How to get back the outputs DVC removed: ``dvc repro`` (and ``dvc exp run``) deletes a stage's outputs
    (cached or not) before running it, so a stage stopped by a params.yaml typo leaves none (the trained model, the
    predictions). DVC names the stage it runs in ``DVC_STAGE``; run by hand, the stage removed nothing."""
    stage = os.environ.get("DVC_STAGE")
    if not stage:
        return ""
    return (f"; DVC removed the stage's outputs before running it: `dvc checkout {stage}` restores those it "
            f"caches, `dvc repro {stage}` rebuilds the rest once params.yaml is fixed")


def run(stage: str, body: Callable[[], None]) -> None:
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {stage}: %(message)s", datefmt="%H:%M:%S")
    try:
        body()
    except IgfakeError as exc:
        hint = restore_hint() if isinstance(exc, ParamsError) else ""
        print(f"igfake {stage}: error: {exc}{hint}", file=sys.stderr)
        raise SystemExit(2) from None
