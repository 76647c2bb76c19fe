"""console.quiet: chatter from Python and native code is set aside, and shown only when the block fails."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import os, sys
from pipeline.core import console
fail = sys.argv[1] == "fail"
print("before", flush=True)
try:
    with console.quiet():
        print("python chatter")
        os.write(1, b"native stdout chatter\\n")
        os.write(2, b"native stderr chatter\\n")
        if fail:
            raise RuntimeError("conversion failed")
except RuntimeError:
    print("caught", file=sys.stderr)
print("after", flush=True)
"""


def run(mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True)


def test_quiet_hides_what_the_block_prints_when_it_succeeds():
    done = run("ok")
    assert done.stdout == "before\nafter\n"
    assert "chatter" not in done.stderr


def test_quiet_replays_what_the_block_printed_when_it_fails():
    done = run("fail")
    assert done.stdout == "before\nafter\n"
    for line in ("python chatter", "native stdout chatter", "native stderr chatter"):
        assert line in done.stderr, line
    assert done.stderr.index("native stderr chatter") < done.stderr.index("caught")
