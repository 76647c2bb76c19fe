"""Errors a user can act on: they end a stage with one line on stderr and exit status 2."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input data: the message names the file, the record and the field."""
