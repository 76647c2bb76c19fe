"""`igfake --help` lists every command with the line of help the command's own `--help` shows."""

import re

import pytest

from pipeline import cli
from tests.conftest import REPO

# The commands are the modules of pipeline/cli that export COMMAND (read from the files, not from the registry).
MODULES = sorted(p.stem.replace("_", "-") for p in (REPO / "pipeline" / "cli").glob("*.py")
                 if re.search(r"^COMMAND = ", p.read_text(encoding="utf-8"), re.M))


def _help(argv, capsys) -> str:
    with pytest.raises(SystemExit) as done:
        cli.main([*argv, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def _listed(text: str) -> dict[str, str]:
    """name -> help of the commands block of ``igfake --help`` (argparse puts a long name's help on its next
    line, further indented)."""
    block = text.split("positional arguments:\n", 1)[1].split("\n\n", 1)[0]
    listed: dict[str, list[str]] = {}
    for line in block.splitlines()[1:]:  # the first line is the COMMAND metavar
        entry = re.match(r"^    (\S+)(?:\s{2,}(.*))?$", line)
        if entry:
            listed[entry[1]] = [entry[2] or ""]
        else:
            listed[list(listed)[-1]].append(line.strip())
    return {name: " ".join(" ".join(parts).split()) for name, parts in listed.items()}


def test_every_command_is_listed_with_the_help_its_own_help_shows(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")  # narrow enough that argparse wraps, as on a terminal
    listed = _listed(_help([], capsys))
    assert sorted(listed) == MODULES
    for name in MODULES:
        own = _help([name], capsys).split("\n\n")[1]  # usage, then the description
        assert " ".join(own.split()) == listed[name], name
        assert listed[name] and "%%" not in listed[name]
