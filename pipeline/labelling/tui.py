"""The labelling terminal (``igfake label``): label the crawled profiles in the terminal, one key per decision.

Shows the crawled profiles (``data/raw/profiles.jsonl``, in crawl order) that the annotator has not
decided yet, one at a time, with their relation to the seed accounts (``data/raw/graph.jsonl``). Every
decision goes straight to ``data/labels/<annotator>.csv`` through :class:`DecisionLog` (written and
fsynced before the next profile is drawn), so quitting in any way loses at most the profile on screen,
and a restart resumes at the first profile without a decision. Undo appends an ``undo`` row rather than
editing the file: the log stays an append-only record of what was decided when.

``--review`` puts the profiles ``reports/label_issues.json`` flags (:mod:`pipeline.labelling.issues`)
first, worst first, then the rest in crawl order. The screen says a profile is flagged but not its
label nor the model's: a second look is a blind vote, and it is one like any other: it goes to the
reviewer's own log, and label-import resolves it with the other annotators' through the voting policy
(:mod:`pipeline.labelling.policy`).
"""

from __future__ import annotations

import getpass
import os
import sys
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipeline.core import paths
from pipeline.core.errors import FieldError, InputError
from pipeline.core.vocabulary import AUTHENTIC, FAKE, UNSURE
from pipeline.instagram.records import read_jsonl, read_profiles, relationships
from pipeline.labelling import issues
from pipeline.labelling.formats import UNDO, Decision, DecisionLog, check_annotator, last_wins, read_own_log

SKIP, QUIT = "skip", "quit"
# Swipe right: authentic, left: fake; letters for the same, so any keyboard works.
KEYMAP = {
    "a": AUTHENTIC, "KEY_RIGHT": AUTHENTIC,
    "f": FAKE, "KEY_LEFT": FAKE,
    "u": UNSURE, "KEY_UP": UNSURE,
    "s": SKIP, "KEY_DOWN": SKIP, " ": SKIP,
    "z": UNDO, "KEY_BACKSPACE": UNDO,
    "q": QUIT,
}
LEGEND = "→/a authentic   ←/f fake   ↑/u unsure   ↓/s skip   z undo   q quit"
RELATIONS = {
    "fans": "follows a seed account, not followed back",
    "mutual": "follows a seed account and is followed back",
    "unrequited": "followed by a seed account, does not follow back",
    "unknown": "not in the crawled follower graph",
}
BIO_LINES = 6


def now_utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def printable(text: str) -> str:
    """Profile text with control characters blanked: a biography must not drive the terminal."""
    return "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text)


class Session:
    """Which profile is on screen, and the decisions: the in-memory mirror of the annotator's log."""

    def __init__(self, users: Sequence[Mapping[str, Any]], relations: Mapping[int, str], annotator: str,
                 log: DecisionLog, decided: dict[int, Decision], flagged: Sequence[int] = ()) -> None:
        self.users = {u["pk"]: u for u in users}
        # The flagged profiles (worst first) that are in the crawl, by rank among those; they come first.
        self.flagged = {pk: rank for rank, pk in enumerate((pk for pk in flagged if pk in self.users), start=1)}
        self.order = [*self.flagged, *(u["pk"] for u in users if u["pk"] not in self.flagged)]
        self.relations = relations
        self.annotator = annotator
        self.log = log
        self.decided = decided
        self.skipped: set[int] = set()
        self.current = self._next()

    def _next(self) -> int | None:
        todo = [pk for pk in self.order if pk not in self.decided]
        fresh = [pk for pk in todo if pk not in self.skipped]
        if todo and not fresh:  # only skipped profiles are left: go round them again
            self.skipped.clear()
            return todo[0]
        return fresh[0] if fresh else None

    def _record(self, pk: int, label: str) -> Decision:
        decision = Decision(pk, self.users[pk]["username"], label, self.annotator, now_utc())
        self.log.append(decision)
        return decision

    def decide(self, label: str) -> str:
        pk = self.current
        if pk is None:
            return "nothing left to label"
        self.decided.pop(pk, None)
        self.decided[pk] = self._record(pk, label)
        self.current = self._next()
        return f"@{self.users[pk]['username']}: {label}"

    def skip(self) -> str:
        if self.current is not None:
            self.skipped.add(self.current)
            self.current = self._next()
        return ""

    def undo(self) -> str:
        """Retract the latest decision on a crawled profile and show that profile again."""
        pk = next((pk for pk in reversed(self.decided) if pk in self.users), None)
        if pk is None:
            return "nothing to undo"
        label = self.decided.pop(pk).label
        self._record(pk, UNDO)
        self.skipped.discard(pk)
        self.current = pk
        return f"undone: @{self.users[pk]['username']} was {label}"

    def progress(self) -> str:
        mine = [d.label for pk, d in self.decided.items() if pk in self.users]
        return (f"{len(mine)}/{len(self.order)} labelled · {mine.count(FAKE)} {FAKE} · "
                f"{mine.count(UNSURE)} {UNSURE}")


def profile_lines(term: Any, user: Mapping[str, Any], relation: str, width: int) -> list[str]:
    flags = [name for name, on in (("private", user["is_private"]), ("verified", user["is_verified"]),
                                   ("no profile picture", user["has_anonymous_profile_picture"])) if on]
    lines = [term.bold(f"@{printable(user['username'])}") + (f"   [{'] ['.join(flags)}]" if flags else ""),
             f"name       {printable(user['full_name']) or '—'}"]
    bio = [w for para in (user["biography"] or "—").splitlines() for w in term.wrap(printable(para), width - 11)]
    if len(bio) > BIO_LINES:
        bio = [*bio[:BIO_LINES - 1], bio[BIO_LINES - 1] + " …"]
    lines += [("bio        " if i == 0 else " " * 11) + line for i, line in enumerate(bio or ["—"])]
    lines += [
        f"counts     {user['follower_count']:,} followers · {user['following_count']:,} following · "
        f"{user['media_count']:,} posts · {user['usertags_count']:,} tagged",
        f"relation   {relation}: {RELATIONS.get(relation, '')}",
    ]
    if user.get("external_url"):
        lines.append(f"link       {printable(str(user['external_url']))}")
    return lines


def screen(term: Any, session: Session, message: str) -> str:
    width = max(40, min(term.width, 110))
    lines = [term.reverse(f" igfake label · {session.annotator} ".ljust(width)), session.progress(), ""]
    if session.current is None:
        lines.append("Every crawled profile has a decision. Press q to quit (z undoes the last one).")
    else:
        user = session.users[session.current]
        lines += profile_lines(term, user, session.relations.get(session.current, "unknown"), width)
        rank = session.flagged.get(session.current)
        if rank is not None:
            lines.append(f"review     flagged {rank}/{len(session.flagged)}: its label may be wrong")
    lines += ["", term.dim(LEGEND), message]
    return term.home + term.clear + "\n".join(lines)


def label_loop(term: Any, session: Session, message: str = "") -> None:
    """Draw, read one key, act, until q (Ctrl-C raises KeyboardInterrupt; the log is already on disk)."""
    with term.fullscreen(), term.cbreak(), term.hidden_cursor():
        drawn_size = (term.width, term.height)
        print(screen(term, session, message), end="", flush=True)
        while True:
            key = term.inkey(timeout=0.5)
            if not key:  # no key: only a resized window needs a redraw
                if (term.width, term.height) != drawn_size:
                    drawn_size = (term.width, term.height)
                    print(screen(term, session, message), end="", flush=True)
                continue
            action = KEYMAP.get(key.name if key.is_sequence else str(key).lower())
            if action == QUIT:
                return
            if action is None:
                message = f"unknown key {str(key)!r}"
            elif action == SKIP:
                message = session.skip()
            elif action == UNDO:
                message = session.undo()
            else:
                message = session.decide(action)
            print(screen(term, session, message), end="", flush=True)


def default_annotator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        raise InputError("cannot tell who you are; pass --annotator NAME") from None


def load_crawl() -> tuple[list[dict[str, Any]], dict[int, str]]:
    if not paths.RAW_PROFILES.is_file():
        raise InputError(f"{paths.RAW_PROFILES}: no crawl yet; run `dvc repro crawl` first")
    users = read_profiles(paths.RAW_PROFILES)
    if not users:
        raise InputError(f"{paths.RAW_PROFILES}: no profiles to label")
    graph = read_jsonl(paths.RAW_GRAPH) if paths.RAW_GRAPH.is_file() else iter(())
    return users, relationships(row for _, row in graph)


def label(annotator: str | None, review: bool = False) -> str:
    """Label the crawled profiles as ``annotator`` (default: the login name) until q; the closing line.
    ``review``: the profiles reports/label_issues.json flags first, worst first."""
    import blessed  # only labelling needs a terminal library

    try:
        annotator = check_annotator(annotator or default_annotator())
    except FieldError as exc:
        raise InputError(f"--annotator: {exc.reason}") from None
    flagged = issues.read(paths.LABEL_ISSUES, os.path.relpath(paths.LABEL_ISSUES, paths.ROOT)) if review else []
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise InputError("needs a terminal (stdin and stdout must be a TTY)")
    users, relations = load_crawl()
    path = paths.LABELS_DIR / f"{annotator}.csv"
    name = os.path.relpath(path, paths.ROOT)
    with DecisionLog(path) as log:
        message = f"discarded an unfinished last line of {name} (cut off by a crash)" if log.torn else ""
        session = Session(users, relations, annotator, log, last_wins(read_own_log(Path(path), annotator, name)),
                          flagged)
        label_loop(blessed.Terminal(), session, message)
    return f"{annotator}: {session.progress()} → {name}"
