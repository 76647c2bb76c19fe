"""A JSON report read back at the edge: the one parse every reader of a report starts with.

Each reader (the gate's verdict, the CI report's inputs, the drift report, the label issues) then checks its
own fields; what they share is the first step, so a file that is not JSON, or JSON but not an object, gets
the same one line wherever it is read: the file, what it should have been, why not, and what rewrites it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.core.errors import InputError


def json_object(text: str, shown: str, what: str, fix: str) -> dict[str, Any]:
    """The JSON object in ``text`` (the file ``shown``, which should be ``what``, e.g. "a gate verdict"), or an
    :class:`InputError`: ``<shown>: not <what> (<why>); <fix>``."""
    try:
        found = json.loads(text)
    except (ValueError, RecursionError) as exc:
        reason = str(exc) if isinstance(exc, ValueError) else "nested too deeply"
        raise InputError(f"{shown}: not {what} ({reason}); {fix}") from None
    if not isinstance(found, dict):
        raise InputError(f"{shown}: not {what} (expected a JSON object, got {type(found).__name__}); {fix}")
    return found


def read_text(path: Path, shown: str, fix: str) -> str | None:
    """The text of the file at ``path`` (``shown`` in messages); None when there is no such file."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        raise InputError(f"{shown}: not UTF-8 text (byte {exc.start}); {fix}") from None
    except OSError as exc:
        raise InputError(f"{shown}: cannot read: {exc.strerror or exc}") from None


def read_json_object(path: Path, shown: str, what: str, fix: str) -> dict[str, Any] | None:
    """:func:`json_object` of the file at ``path``; None when there is no such file (the caller decides whether
    that is "not measured" or an error)."""
    text = read_text(path, shown, fix)
    return None if text is None else json_object(text, shown, what, fix)
