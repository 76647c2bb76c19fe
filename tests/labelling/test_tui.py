"""``igfake label`` driven in a real pseudo-terminal, and its log file on disk.

The process is killed with SIGKILL mid-session: what is in data/labels/<annotator>.csv must be exactly
the decisions made up to the profile on screen, and a restart must resume where they stop.
"""

from __future__ import annotations

import csv
import json
import re
import signal
import sys
from datetime import datetime
from pathlib import Path

import pexpect
import pytest

from pipeline.core.errors import InputError
from pipeline.labelling.formats import Decision, DecisionLog, last_wins, read_csv, read_own_log
from tests.conftest import run_env, sh
from tests.stages.test_label_import import write_crawl

RIGHT, LEFT = "\x1b[C", "\x1b[D"  # arrow keys as a terminal sends them


def spawn(project: Path, annotator: str = "alice") -> pexpect.spawn:
    # pexpect does not answer blessed's terminal queries; blessed's documented setting for automation
    # stops it waiting for the replies.
    env = run_env(TERM="xterm-256color", BLESSED_QUERY_TIMEOUT_SECONDS="0")
    return pexpect.spawn(sys.executable, ["-m", "pipeline.cli", "label", "--annotator", annotator], cwd=str(project),
                         env=env, encoding="utf-8", dimensions=(30, 100), timeout=15)


def shows(child: pexpect.spawn, progress: str, username: str) -> None:
    """Wait for a screen with this progress line and this profile (the username as a whole word)."""
    child.expect_exact(progress)
    child.expect(re.escape(f"@{username}") + r"(?![\w.])")


def log_rows(project: Path) -> list[tuple[str, str, str, str]]:
    with open(project / "data/labels/alice.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        assert datetime.fromisoformat(row["labelled_at"]).utcoffset().total_seconds() == 0
    return [(row["pk"], row["username"], row["label"], row["annotator"]) for row in rows]


def test_label_undo_kill_and_resume(project):
    users = write_crawl(project, n=6)
    name = [u["username"] for u in users]
    assert len(set(name)) == 6
    child = spawn(project)
    shows(child, "0/6 labelled · 0 fake · 0 unsure", name[0])
    child.send("a")
    shows(child, "1/6 labelled · 0 fake · 0 unsure", name[1])
    child.send(LEFT)  # swipe left: fake
    shows(child, "2/6 labelled · 1 fake · 0 unsure", name[2])
    child.send("u")
    shows(child, "3/6 labelled · 1 fake · 1 unsure", name[3])
    child.send("z")  # undo: p2 comes back
    shows(child, "2/6 labelled · 1 fake · 0 unsure", name[2])
    child.send("f")
    shows(child, "3/6 labelled · 2 fake · 0 unsure", name[3])
    child.send("s")  # skip p3
    shows(child, "3/6 labelled · 2 fake · 0 unsure", name[4])
    child.send(RIGHT)
    shows(child, "4/6 labelled · 2 fake · 0 unsure", name[5])
    child.kill(signal.SIGKILL)  # p5 on screen, undecided
    child.close(force=True)
    assert child.signalstatus == signal.SIGKILL

    def row(i: int, label: str) -> tuple[str, str, str, str]:
        return (str(users[i]["pk"]), name[i], label, "alice")

    made = [row(0, "authentic"), row(1, "fake"), row(2, "unsure"), row(2, "undo"), row(2, "fake"),
            row(4, "authentic")]
    assert log_rows(project) == made

    # Restart: resumes at the first profile without a decision (p3, skipped), counts as before.
    child = spawn(project)
    shows(child, "4/6 labelled · 2 fake · 0 unsure", name[3])
    child.send("z")  # undo reaches back into the previous session: p4
    shows(child, "3/6 labelled · 2 fake · 0 unsure", name[4])
    child.send("q")
    child.expect_exact("alice: 3/6 labelled · 2 fake · 0 unsure → data/labels/alice.csv")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert log_rows(project) == [*made, row(4, "undo")]

    # Ctrl-C: exit status 130, nothing lost, nothing added.
    child = spawn(project)
    shows(child, "3/6 labelled · 2 fake · 0 unsure", name[3])
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    assert log_rows(project) == [*made, row(4, "undo")]


def test_annotators_get_a_file_each_and_bad_names_are_refused(project):
    users = write_crawl(project, n=3)
    child = spawn(project, annotator="bob")
    shows(child, "0/3 labelled · 0 fake · 0 unsure", users[0]["username"])
    child.send("f")
    shows(child, "1/3 labelled · 1 fake · 0 unsure", users[1]["username"])
    child.send("q")
    child.expect(pexpect.EOF)
    child.close()
    assert (project / "data/labels/bob.csv").read_text().splitlines()[1].startswith(f"{users[0]['pk']},")
    assert not (project / "data/labels/alice.csv").exists()

    bad = spawn(project, annotator="../evil")
    bad.expect(pexpect.EOF)
    bad.close()
    assert bad.exitstatus == 2
    assert "igfake label: error: --annotator: expected letters, digits" in bad.before


def test_a_torn_last_line_is_cut_off_and_the_log_stays_valid(tmp_path):
    path = tmp_path / "alice.csv"
    path.write_text("pk,username,label,annotator,labelled_at\n"
                    "11,a,fake,alice,2026-11-01T10:00:00+00:00\n"
                    "12,b,auth")  # a crash in the middle of a write
    with DecisionLog(path) as log:
        assert log.torn == b"12,b,auth"
        log.append(Decision(13, "c", "unsure", "alice", "2026-11-01T10:00:01+00:00"))
    parsed = read_csv(path, "alice.csv")
    assert parsed.bad == []
    assert [(d.pk, d.label) for d in parsed.decisions] == [(11, "fake"), (13, "unsure")]


def test_every_append_is_on_disk_before_it_returns(tmp_path):
    """Another reader sees each row as soon as append returns (what a SIGKILL right after would leave)."""
    path = tmp_path / "alice.csv"
    with DecisionLog(path) as log:
        for i in range(3):
            log.append(Decision(100 + i, f"u{i}", "fake", "alice", "2026-11-01T10:00:00Z"))
            assert len(read_csv(path, "alice.csv").decisions) == i + 1


def test_the_tool_refuses_a_log_holding_another_annotators_rows(tmp_path):
    path = tmp_path / "alice.csv"
    path.write_text("pk,username,label,annotator,labelled_at\n11,a,fake,bob,2026-11-01T10:00:00Z\n")
    with pytest.raises(InputError, match="holds decisions of annotator 'bob'"):
        read_own_log(path, "alice", "alice.csv")


def test_last_decision_wins_and_undo_retracts():
    def d(pk: int, label: str) -> Decision:
        return Decision(pk, "", label, "alice", "")

    standing = last_wins([d(1, "fake"), d(2, "authentic"), d(1, "undo"), d(3, "unsure"), d(4, "authentic"),
                          d(2, "fake"), d(1, "fake"), d(4, "undo")])
    # Ordered by when the standing decision was made: the last key is what the next undo retracts.
    assert [(pk, x.label) for pk, x in standing.items()] == [(3, "unsure"), (2, "fake"), (1, "fake")]


def spawn_review(project: Path, annotator: str = "bob") -> pexpect.spawn:
    env = run_env(TERM="xterm-256color", BLESSED_QUERY_TIMEOUT_SECONDS="0")
    return pexpect.spawn(sys.executable, ["-m", "pipeline.cli", "label", "--review", "--annotator", annotator],
                         cwd=str(project), env=env, encoding="utf-8", dimensions=(30, 100), timeout=15)


def write_issues(project: Path, ranked_pks: list[int]) -> None:
    (project / "reports").mkdir(exist_ok=True)
    # Written out of rank order: the rank decides, not the list's order.
    found = [{"rank": r, "pk": pk, "label": "fake", "suggested": "authentic", "score": 0.01 * r}
             for r, pk in enumerate(ranked_pks, start=1)]
    (project / "reports/label_issues.json").write_text(json.dumps({"flagged": len(found), "issues": found[::-1]}))


def test_review_shows_the_flagged_profiles_first_worst_first_then_the_rest(project):
    users = write_crawl(project, n=6)
    name = [u["username"] for u in users]
    pk = [u["pk"] for u in users]
    # Flagged: p4 worst, then a pk the crawl does not hold (skipped), then p1.
    write_issues(project, [pk[4], 999, pk[1]])
    child = spawn_review(project)
    shows(child, "0/6 labelled · 0 fake · 0 unsure", name[4])
    child.expect_exact("review     flagged 1/2: its label may be wrong")
    child.send("a")
    shows(child, "1/6 labelled · 0 fake · 0 unsure", name[1])
    child.expect_exact("review     flagged 2/2")
    child.send("f")
    shows(child, "2/6 labelled · 1 fake · 0 unsure", name[0])  # then the rest, in crawl order
    child.send("f")
    shows(child, "3/6 labelled · 2 fake · 0 unsure", name[2])
    child.send("q")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    with open(project / "data/labels/bob.csv", newline="") as fh:
        rows = [(int(r["pk"]), r["label"], r["annotator"]) for r in csv.DictReader(fh)]
    assert rows == [(pk[4], "authentic", "bob"), (pk[1], "fake", "bob"), (pk[0], "fake", "bob")]


def test_the_second_look_joins_the_first_through_the_voting_policy(tmp_path):
    """alice labelled p1 fake; the review flags it, bob and carol say authentic: the majority wins."""
    from pipeline.labelling import policy

    for who, label in (("alice", "fake"), ("bob", "authentic"), ("carol", "authentic")):
        with DecisionLog(tmp_path / f"{who}.csv") as log:
            log.append(Decision(1, "p1", label, who, "2026-11-01T10:00:00Z"))
    files = [read_csv(tmp_path / f"{w}.csv", f"{w}.csv") for w in ("alice", "bob", "carol")]
    resolution = policy.resolve(policy.standing_decisions(files), policy.Policy(unsure="authentic", tie="drop"))
    assert resolution.labels == {1: "authentic"} and resolution.sources == {1: "bob+carol"}
    # One second look against the first is a tie, which the tie rule decides.
    tie = policy.resolve(policy.standing_decisions(files[:2]), policy.Policy(unsure="authentic", tie="drop"))
    assert tie.labels == {} and tie.counts["ties_dropped"] == 1


@pytest.mark.parametrize(("content", "message"), [
    (None, "reports/label_issues.json: not found; run `dvc repro label-issues` first"),
    ("{not json", "reports/label_issues.json: not a label issues report (Expecting property name"),
    ('{"issues": [{"pk": 1}]}', "reports/label_issues.json: not a label issues report (issues: expected a list"),
])
def test_review_without_a_readable_issues_report_is_one_line_and_exit_2(project, content, message):
    write_crawl(project, n=3)
    if content is not None:
        (project / "reports").mkdir()
        (project / "reports/label_issues.json").write_text(content)
    result = sh([sys.executable, "-m", "pipeline.cli", "label", "--review", "--annotator", "bob"], cwd=project,
                check=False)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"igfake label: error: {message}")
    assert not (project / "data/labels/bob.csv").exists()
