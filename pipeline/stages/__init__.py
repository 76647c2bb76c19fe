"""One module per DVC stage, mirroring dvc.yaml: a thin ``main()`` over domain code.

Every stage's ``main`` goes through :func:`run`, which turns the errors a user can fix (a bad
params.yaml value, a malformed input file, an unreachable API: every :class:`~pipeline.core.errors.IgfakeError`)
into one line on stderr and exit status 2 instead of a traceback. Each body starts with one
:func:`pipeline.core.params.load` (the whole params.yaml, validated once) and hands the sections it needs
down; a stage that uses TensorFlow imports it inside the body, after that, so a bad value is reported at once.
Nothing outside this package imports it: the stages are entry points, and what they do lives in the domain
modules they call.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from pipeline.core.errors import IgfakeError


def run(stage: str, body: Callable[[], None]) -> None:
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {stage}: %(message)s", datefmt="%H:%M:%S")
    try:
        body()
    except IgfakeError as exc:
        print(f"igfake {stage}: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
