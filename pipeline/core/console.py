"""Keep a stage's output to the stage's own lines.

TensorFlow's converter, LiteRT and MLflow print progress and diagnostics from Python and from native
code (straight to file descriptors 1 and 2, where ``contextlib.redirect_stdout`` cannot reach). A
stage log should say what the stage did, so :func:`quiet` sets that chatter aside, and shows it only
when the block fails, where it may explain why.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator

# Libraries whose Python loggers narrate routine work at INFO.
CHATTY_LOGGERS = ("tensorflow", "absl", "mlflow", "alembic", "urllib3")


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Capture everything written to stdout and stderr in the block, by any code; replay it on failure."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    levels = {name: logging.getLogger(name).level for name in CHATTY_LOGGERS}
    with tempfile.TemporaryFile() as captured:
        try:
            for fd in saved:
                os.dup2(captured.fileno(), fd)
            for name in CHATTY_LOGGERS:
                logging.getLogger(name).setLevel(logging.WARNING)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield
        except BaseException:
            _restore(saved)
            captured.seek(0)
            sys.stderr.buffer.write(captured.read())
            sys.stderr.flush()
            raise
        finally:
            _restore(saved)
            for copy in saved.values():
                os.close(copy)
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)


def _restore(saved: dict[int, int]) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    for fd, copy in saved.items():
        with contextlib.suppress(OSError):
            os.dup2(copy, fd)
