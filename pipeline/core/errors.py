"""Every error a user can act on, under one base: :class:`IgfakeError`.

A stage (:func:`pipeline.stages.run`) or a command (:mod:`pipeline.cli`) that meets one prints its
message as one line on stderr and exits with status 2 instead of a traceback; so each message names the
file, the record and the field (or the params key) and, where it helps, what to do.
"""

from __future__ import annotations


class IgfakeError(Exception):
    """An error whose message is meant for the user: one line, no traceback."""


class ParamsError(IgfakeError, ValueError):
    """A params.yaml value (or a command-line option standing in for one) is missing, unknown or invalid."""


class InputError(IgfakeError, ValueError):
    """Bad input data: the message names the file, the record and the field."""


class FieldError(IgfakeError, ValueError):
    """One field of one record (a user-info record, a label row) cannot be used, and why.

    It names the field but not the file or record: the reader that knows them either quarantines the
    record with ``field`` and ``reason`` or raises an :class:`InputError` that adds where it was.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class CrawlError(IgfakeError, RuntimeError):
    """The crawl cannot go on (bad seed account, login required, API refuses)."""


class AccountBlocked(CrawlError):
    """Instagram wants a person (log in again, pass a checkpoint) before it answers again."""


class RequestFailed(CrawlError):
    """A definitive answer about one request (e.g. 404 user not found), not worth retrying."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class CompareError(IgfakeError):
    """Two runs cannot be compared, or a run's results cannot be read: the message says why and what to do."""


class GateError(IgfakeError):
    """A step that needs a blessed model (``igfake promote``) refused one: the message names the failed rule."""
