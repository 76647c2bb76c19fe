"""What the atomic writers put on disk, byte for byte, and where their temporaries live."""

from __future__ import annotations

import os
import shutil

import pytest

from pipeline.core import atomic


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_json_lines_are_canonical_compact_utf8_and_counted(tmp_path):
    target = tmp_path / "a" / "b" / "records.jsonl"  # parents made as needed
    records = [{"b": 1, "a": "Zoë ✨"}, {"x": [1, 2], "k": None}, {}]
    assert atomic.write_jsonl(target, iter(records)) == 3
    assert target.read_bytes() == ('{"a":"Zoë ✨","b":1}\n{"k":null,"x":[1,2]}\n{}\n').encode()
    assert atomic.write_jsonl(target, []) == 0 and target.read_bytes() == b""


def test_a_record_utf8_cannot_hold_is_written_with_ascii_escapes_still_canonical(tmp_path):
    target = tmp_path / "quarantine.jsonl"
    assert atomic.jsonl_line({"z": "é", "a": "\ud800"}) == '{"a":"\\ud800","z":"\\u00e9"}\n'
    assert atomic.write_jsonl(target, [{"z": "é", "a": "\ud800"}, {"b": "é"}]) == 2
    assert target.read_bytes() == b'{"a":"\\ud800","z":"\\u00e9"}\n{"b":"\xc3\xa9"}\n'


def test_json_is_indented_sorted_utf8_and_refuses_nan(tmp_path):
    assert atomic.dumps_json({"b": 1, "a": ["é", 2]}) == '{\n  "a": [\n    "é",\n    2\n  ],\n  "b": 1\n}\n'
    assert atomic.dumps_json({"b": 1, "a": 2}, sort_keys=False) == '{\n  "b": 1,\n  "a": 2\n}\n'
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        atomic.dumps_json({"x": float("nan")})
    target = tmp_path / "x" / "out.json"
    atomic.write_json(target, {"b": 1, "a": "é"})
    assert target.read_bytes() == '{\n  "a": "é",\n  "b": 1\n}\n'.encode()
    atomic.write_json(target, {"b": 1, "a": 2}, sort_keys=False)
    assert target.read_text(encoding="utf-8") == '{\n  "b": 1,\n  "a": 2\n}\n'
    atomic.write_text(target, "naïve")
    assert target.read_bytes() == "naïve".encode()


def test_temporaries_are_hidden_siblings_named_after_the_target(tmp_path):
    target = tmp_path / "deep" / "er" / "model.tflite"
    with atomic.atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".model.tflite.") and tmp.name.endswith(".tmp")
    with atomic.atomic_path(target, suffix=".parquet") as tmp:
        assert tmp.name.startswith(".model.tflite.") and tmp.name.endswith(".tmp.parquet")
        tmp.write_bytes(b"x")
    assert target.read_bytes() == b"x"
    parts = tmp_path / "new" / "scores" / "parts"
    with atomic.atomic_directory(parts) as tmp:
        assert tmp.parent == parts.parent and tmp.name.startswith(".parts.") and tmp.name.endswith(".tmp")
        (tmp / "0.parquet").write_bytes(b"0")
    assert sorted(p.name for p in parts.iterdir()) == ["0.parquet"]


def test_a_directory_set_aside_and_not_yet_removed_is_a_hidden_temporary_the_next_write_sweeps(tmp_path,
                                                                                               monkeypatch):
    """Killed after the new directory is in place but before the old one is removed: what is left is a
    hidden sibling named after the target, so the next write of it sweeps it away."""
    parts = tmp_path / "parts"
    with atomic.atomic_directory(parts) as tmp:
        (tmp / "old.parquet").write_bytes(b"old")
    removed, rmtree = [], shutil.rmtree
    monkeypatch.setattr(atomic.shutil, "rmtree", lambda path, ignore_errors=False: removed.append(path))
    with atomic.atomic_directory(parts) as tmp:
        (tmp / "new.parquet").write_bytes(b"new")
    monkeypatch.setattr(atomic.shutil, "rmtree", rmtree)
    (aside,) = [p for p in tmp_path.iterdir() if p.name != "parts"]
    assert aside.name.startswith(".parts.") and aside.name.endswith(".tmp.old") and removed == [aside]
    assert [p.name for p in aside.iterdir()] == ["parts"] and (aside / "parts" / "old.parquet").read_bytes() == b"old"
    assert sorted(p.name for p in parts.iterdir()) == ["new.parquet"]
    with atomic.atomic_directory(parts) as tmp:
        (tmp / "newer.parquet").write_bytes(b"newer")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parts"]


def test_an_append_only_file_gets_the_usual_mode_and_its_folders(tmp_path):
    path = tmp_path / "logs" / "crawl" / "responses.jsonl"
    log = atomic.AppendOnly(path)
    log.write(b"a\n")
    log.close()
    again = atomic.AppendOnly(path, durable=True)
    again.write(b"b\n")
    again.close()
    assert path.read_bytes() == b"a\nb\n"
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask()
