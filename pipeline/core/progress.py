"""Progress a person can watch: a bar on a terminal, a plain log line every few seconds otherwise.

``dvc repro`` in a terminal shows the bar; CI, ``dvc exp run --queue`` and redirected logs get lines
they can read afterwards instead of carriage-return noise.
"""

from __future__ import annotations

import logging
import sys
import time

from tqdm import tqdm

LOG_EVERY_SECONDS = 10.0


class ProgressReporter:
    """Call it with ``(done, total)``; :meth:`close` when the work is over. ``unit`` is plural ("profiles")."""

    def __init__(self, desc: str, unit: str, logger: logging.Logger,
                 log_every_seconds: float = LOG_EVERY_SECONDS) -> None:
        self.desc = desc
        self.unit = unit
        self.log = logger
        self.log_every_seconds = log_every_seconds
        self.bar: tqdm | None = None
        self.terminal = sys.stderr.isatty()
        self.last_log = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        if self.terminal:
            if self.bar is None:
                self.bar = tqdm(total=total, unit=self.unit, desc=self.desc, file=sys.stderr)
            self.bar.update(done - self.bar.n)
        elif done == total or time.monotonic() - self.last_log >= self.log_every_seconds:
            self.last_log = time.monotonic()
            self.log.info("%s %d/%d", self.unit, done, total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
