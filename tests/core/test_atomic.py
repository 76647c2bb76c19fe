import os
import signal
import subprocess
import sys
import time

import pytest

from pipeline.core import atomic


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out.json"
    atomic.write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == '{\n  "v": 1\n}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_sigkill_mid_write_never_exposes_a_partial_file(tmp_path):
    target = tmp_path / "big.jsonl"
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from pipeline.core import atomic\n"
        "def rows():\n"
        "    for i in range(10**7):\n"
        "        if i == 1000: print('writing', flush=True)\n"
        "        if i > 1000: time.sleep(0.001)\n"
        "        yield {'i': i}\n"
        f"atomic.write_jsonl(Path({str(target)!r}), rows())\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not target.exists()
    leftovers = list(tmp_path.iterdir())
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".big.jsonl.")  # the temp, never the target
    # The next write of the same target sweeps the dead writer's temp away.
    atomic.write_jsonl(target, [{"i": 0}])
    assert [p.name for p in tmp_path.iterdir()] == ["big.jsonl"]


def test_files_get_umask_permissions(tmp_path):
    target = tmp_path / "x.txt"
    atomic.write_text(target, "x")
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_cut_torn_tail_keeps_whole_lines_and_returns_the_rest(tmp_path):
    path = tmp_path / "log"
    assert atomic.cut_torn_tail(path) == b""  # no file yet
    path.write_bytes(b"a\nb\nhal")
    assert atomic.cut_torn_tail(path, durable=True) == b"hal"
    assert path.read_bytes() == b"a\nb\n"
    assert atomic.cut_torn_tail(path) == b""
    path.write_bytes(b"1\nx\n2\n")
    assert atomic.cut_torn_tail(path, whole=lambda line: line.strip().isdigit()) == b"x\n2\n"
    assert path.read_bytes() == b"1\n"
    log = atomic.AppendOnly(path, durable=True)
    log.write(b"3\n")
    log.close()
    assert path.read_bytes() == b"1\n3\n"
