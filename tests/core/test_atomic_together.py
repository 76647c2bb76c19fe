"""Groups of atomic writes (:func:`pipeline.core.atomic.together`) on real files: renamed as one commit at
the block's end, nothing left by an exception, a kill between two renames noticed and finished."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.core import atomic
from pipeline.core.errors import InputError
from tests.conftest import REPO, run_env


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_the_renames_wait_for_the_end_of_the_block_and_the_journal_goes(tmp_path):
    a, b, journal = tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "stage.commit"
    a.write_text("old a")
    with atomic.together(journal):
        atomic.write_text(a, "new a")
        atomic.write_text(b, "new b")
        assert a.read_text() == "old a" and not b.exists()  # held back until every output is on disk
        assert not journal.exists()
        assert len(listing(tmp_path)) == 3  # a.txt and two hidden temporaries
    assert (a.read_text(), b.read_text()) == ("new a", "new b")
    assert listing(tmp_path) == ["a.txt", "b.txt"]  # no journal, no temporary
    # Outside a group a write is renamed at once.
    atomic.write_text(a, "newer a")
    assert a.read_text() == "newer a"


def test_an_exception_inside_the_group_replaces_nothing_and_leaves_no_temporary(tmp_path):
    a, b, journal = tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "stage.commit"
    a.write_text("old a")
    with pytest.raises(RuntimeError, match="half way"), atomic.together(journal):
        atomic.write_text(a, "new a")
        atomic.write_json(b, {"new": "b"})
        raise RuntimeError("half way")
    assert a.read_text() == "old a" and not b.exists()
    assert listing(tmp_path) == ["a.txt"]
    # The group is over: the next write outside it is renamed at once, not held for a group that ended.
    atomic.write_text(b, "b")
    assert b.read_text() == "b"


KILLED_COMMIT = """
import os, signal, sys
from pathlib import Path
from pipeline.core import atomic
directory = Path(sys.argv[1])
real, calls = os.replace, []
def replace(src, dst):
    calls.append(dst)
    if len(calls) == 3:  # the journal, a.txt, then killed before b.txt
        os.kill(os.getpid(), signal.SIGKILL)
    real(src, dst)
os.replace = replace
with atomic.together(directory / "stage.commit"):
    atomic.write_text(directory / "a.txt", "new a")
    atomic.write_text(directory / "b.txt", "new b")
"""


def test_a_kill_between_two_renames_is_noticed_then_finished(tmp_path, monkeypatch):
    for name in ("a", "b"):
        (tmp_path / f"{name}.txt").write_text(f"old {name}")
    killed = subprocess.run([sys.executable, "-c", KILLED_COMMIT, str(tmp_path)], cwd=REPO, env=run_env())
    assert killed.returncode == -signal.SIGKILL
    a, b, journal = tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "stage.commit"
    assert (a.read_text(), b.read_text()) == ("new a", "old b") and journal.exists()  # half replaced
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=re.escape(
            "a.txt, b.txt: the stage stage was killed while replacing these files together, so they may not "
            "belong together: run `dvc repro stage` (journal: stage.commit)")):
        atomic.check_together(journal)
    atomic.finish_together(journal)
    assert (a.read_text(), b.read_text()) == ("new a", "new b")
    assert listing(tmp_path) == ["a.txt", "b.txt"]
    atomic.check_together(journal)  # finished: nothing to stop for


def test_the_next_group_finishes_a_killed_commit_before_it_starts(tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.txt").write_text(f"old {name}")
    subprocess.run([sys.executable, "-c", KILLED_COMMIT, str(tmp_path)], cwd=REPO, env=run_env())
    journal = tmp_path / "stage.commit"
    with atomic.together(journal):
        assert (tmp_path / "b.txt").read_text() == "new b" and not journal.exists()
        atomic.write_text(tmp_path / "c.txt", "c")
    assert listing(tmp_path) == ["a.txt", "b.txt", "c.txt"]


@pytest.mark.parametrize("torn", ['{"renames": [["/tmp/x", ', "", '{"renames": 5}', "{}", "[1]"])
def test_a_torn_journal_is_a_commit_that_never_started_not_an_absent_one(tmp_path, torn):
    """A journal cut short (or not one at all) was being written when the kill came, before any rename:
    the outputs still belong together, so readers go on, and the next writer clears it away (a journal
    taken for none would stay for ever)."""
    a, journal = tmp_path / "a.txt", tmp_path / "stage.commit"
    a.write_text("a")
    journal.write_text(torn)
    atomic.check_together(journal)
    atomic.finish_together(journal)
    assert not journal.exists() and a.read_text() == "a"


def test_no_journal_is_nothing_to_finish(tmp_path):
    journal = tmp_path / "stage.commit"
    atomic.check_together(journal)
    atomic.finish_together(journal)
    assert listing(tmp_path) == []


def test_a_journaled_rename_already_done_is_skipped(tmp_path, monkeypatch):
    """The kill came after the first rename: its temporary is gone, the second is still there."""
    monkeypatch.chdir(tmp_path)
    done, pending = tmp_path / "a.txt", tmp_path / "b.txt"
    done.write_text("new a")
    pending.write_text("old b")
    tmp = tmp_path / ".b.txt.x.tmp"
    tmp.write_text("new b")
    journal = tmp_path / "stage.commit"
    journal.write_text(json.dumps({"renames": [[str(tmp_path / ".a.txt.y.tmp"), str(done)], [str(tmp), str(pending)]]}))
    with pytest.raises(InputError, match=r"^a\.txt, b\.txt: the stage stage was killed"):
        atomic.check_together(journal)
    atomic.finish_together(journal)
    assert (done.read_text(), pending.read_text()) == ("new a", "new b") and listing(tmp_path) == ["a.txt", "b.txt"]


def test_a_directory_is_replaced_whole_or_kept(tmp_path):
    target = tmp_path / "parts"
    with atomic.atomic_directory(target) as tmp:
        (tmp / "0.parquet").write_text("zero")
        assert not target.exists()
    assert listing(target) == ["0.parquet"]
    with atomic.atomic_directory(target) as tmp:
        (tmp / "1.parquet").write_text("one")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "2.parquet").write_text("two")
    assert listing(target) == ["1.parquet", "sub"] and listing(tmp_path) == ["parts"]  # the old one is gone
    assert target.stat().st_mode & 0o777 == 0o777 & ~_umask()
    with pytest.raises(RuntimeError), atomic.atomic_directory(target) as tmp:
        (tmp / "half.parquet").write_text("half")
        raise RuntimeError("killed")
    assert listing(target) == ["1.parquet", "sub"] and listing(tmp_path) == ["parts"]


def test_a_dead_writers_temporaries_are_swept_by_the_next_write_and_no_one_elses(tmp_path):
    target = tmp_path / "out[1].json"  # a glob character in the name must not widen the sweep
    stale_file, stale_dir = tmp_path / ".out[1].json.abc.tmp", tmp_path / ".out[1].json.def.tmp.old"
    stale_file.write_text("dead")
    stale_dir.mkdir()
    (stale_dir / "x").write_text("dead")
    other = tmp_path / ".out1.json.abc.tmp"
    other.write_text("another output's")
    atomic.write_json(target, {"v": 1})
    assert listing(tmp_path) == [".out1.json.abc.tmp", "out[1].json"]
    assert json.loads(target.read_text()) == {"v": 1}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
