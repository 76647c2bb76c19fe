"""One module per DVC stage, mirroring dvc.yaml: a thin ``main()`` over domain code.

Every stage's ``main`` goes through :func:`run`, which turns the errors a user can fix (a bad
params.yaml value, a malformed input file, an unreachable API) into one line on stderr and exit
status 2 instead of a traceback.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from pipeline.errors import InputError
from pipeline.instagram.crawler import CrawlError
from pipeline.params import ParamsError

USER_ERRORS = (ParamsError, InputError, CrawlError)


def run(stage: str, body: Callable[[], None]) -> None:
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {stage}: %(message)s", datefmt="%H:%M:%S")
    try:
        body()
    except USER_ERRORS as exc:
        print(f"igfake {stage}: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
