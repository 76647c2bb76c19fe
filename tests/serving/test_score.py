"""``igfake score``: Parquet files, partitioned directories and JSON Lines in; partitioned Parquet out,
atomically, bad records quarantined with predict's reasons, one-line errors for bad input."""

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import cli
from pipeline.serving.batch import OUTPUT_SCHEMA
from tests.serving.conftest import adversarial_users


def score(*args, model):
    return cli.main(["score", *map(str, args), "--model", str(model), "--threshold", "0.5"])


def read_manifest(out):
    return json.loads((out / "_manifest.json").read_text())


def quarantine(out):
    return [json.loads(line) for line in (out / "_quarantine.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def records(users):
    return users + adversarial_users(users)


@pytest.fixture(scope="module")
def predicted(tmp_path_factory, records, tflite):
    """igfake predict's answer for the records, the reference the batch path must equal."""
    import contextlib
    import io

    path = tmp_path_factory.mktemp("predict") / "profiles.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["predict", str(path), "--model", str(tflite), "--threshold", "0.5"]) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def assert_matches_predict(table, predicted):
    rows = table.to_pylist()
    assert [r["pk"] for r in rows] == [p["pk"] for p in predicted]
    np.testing.assert_allclose([r["p_authentic"] for r in rows], [p["p_authentic"] for p in predicted], atol=5e-7)
    assert [r["authentic"] for r in rows] == [p["authentic"] for p in predicted]


def test_a_partitioned_parquet_directory_scores_like_predict_on_two_workers_as_on_one(tmp_path, records, predicted,
                                                                                      tflite, capsys, caplog):
    caplog.set_level("INFO", logger="igfake.score")
    source = tmp_path / "profiles"
    # Hive-style partitions, several row groups each, a hidden and an underscore file that are no data.
    for i, part in enumerate((records[:25], records[25:])):
        (source / f"day={i}").mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(part), source / f"day={i}" / "data.parquet", row_group_size=10)
    (source / "_SUCCESS").write_text("")
    (source / ".crc").write_text("x")
    assert score(source, tmp_path / "one", "--workers", "1", "--batch-rows", "7", model=tflite) == 0
    assert score(source, tmp_path / "two", "--workers", "2", model=tflite) == 0
    one, two = pq.read_table(tmp_path / "one"), pq.read_table(tmp_path / "two")
    assert one.schema == OUTPUT_SCHEMA and one.equals(two)
    assert_matches_predict(one, predicted)
    manifest = read_manifest(tmp_path / "two")
    assert (manifest["rows"], manifest["scored"], manifest["quarantined"]) == (len(records), len(records), 0)
    assert manifest["parts"] == sorted(p.name for p in (tmp_path / "two").glob("*.parquet"))
    assert len(manifest["parts"]) == 3 + (len(records) - 25 + 9) // 10  # one part per input row group
    err = capsys.readouterr().err
    assert f"{len(records)} profiles scored, 0 quarantined" in err
    # The progress as log lines, stderr being no terminal.
    assert f"rows {len(records)}/{len(records)}" in [r.getMessage() for r in caplog.records]


def test_bad_records_are_quarantined_with_predicts_reasons_and_the_batch_is_kept(tmp_path, records, tflite,
                                                                                 predicted):
    rows = [dict(r) for r in records]
    rows[3]["follower_count"] = None
    rows[10]["pk"] = 0
    rows[11]["username"] = ""
    path = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)  # one row group, one batch: the good rows must survive it
    assert score(path, tmp_path / "out", model=tflite) == 0
    entries = quarantine(tmp_path / "out")
    assert [(e["pk"], e["where"], e["field"], e["reason"]) for e in entries] == [
        (rows[3]["pk"], str(path), "follower_count", "expected an integer, got None"),
        (0, str(path), "pk", "expected a positive integer, got 0"),
        (rows[11]["pk"], str(path), "username", "empty"),
    ]
    assert entries[0]["record"]["username"] == rows[3]["username"]
    manifest = read_manifest(tmp_path / "out")
    assert (manifest["rows"], manifest["scored"], manifest["quarantined"]) == (len(rows), len(rows) - 3, 3)
    kept = [p for i, p in enumerate(predicted) if i not in (3, 10, 11)]
    assert_matches_predict(pq.read_table(tmp_path / "out"), kept)


def test_json_lines_are_scored_and_bad_lines_quarantined_by_line(tmp_path, records, tflite, predicted, capsys):
    path = tmp_path / "in.jsonl"
    lines = [json.dumps(r) for r in records[:5]]
    lines[1] = json.dumps({"user": records[1], "status": "ok"})  # an API answer, as predict reads it
    lines.insert(2, "{not json")
    lines.insert(3, "")
    lines.insert(4, json.dumps(dict(records[2], media_count="12")))
    path.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert cli.main(["predict", str(path), "--model", str(tflite), "--threshold", "0.5"]) == 2
    predict_error = capsys.readouterr().err
    assert score(path, tmp_path / "out", "--workers", "1", model=tflite) == 0
    entries = quarantine(tmp_path / "out")
    assert [(e["where"], e["field"]) for e in entries] == [(f"{path}:3", "<record>"), (f"{path}:5", "media_count")]
    assert entries[1]["reason"] == "expected an integer, got '12'"
    assert f"{path}:3: not valid JSON" in predict_error  # predict stops at the line score quarantines
    assert_matches_predict(pq.read_table(tmp_path / "out"), predicted[:5])  # line 5's fixed twin is line 6


@pytest.mark.parametrize("case", ["missing", "wrong type", "missing column", "not parquet in dir", "output is a file",
                                  "output is someone's directory", "workers"])
def test_bad_input_is_one_line_naming_it_and_exit_2(case, tmp_path, records, tflite, capsys):
    good = tmp_path / "good.parquet"
    pq.write_table(pa.Table.from_pylist(records[:3]), good)
    args, expected = {
        "missing": ([tmp_path / "nope.parquet", tmp_path / "out"], f"{tmp_path / 'nope.parquet'}: no such file"),
        "wrong type": ([_with(tmp_path, records, follower_count=["1", "2", "3"]), tmp_path / "out"],
                       "column 'follower_count' is string, expected an integer type"),
        "missing column": ([_without(tmp_path, records, "is_verified"), tmp_path / "out"], "no column 'is_verified'"),
        "not parquet in dir": ([_dir_with_text(tmp_path, good), tmp_path / "out"], "notes.txt: not a Parquet file"),
        "output is a file": ([good, good], f"{good}: is a file"),
        "output is someone's directory": ([good, _someones_dir(tmp_path)], "is not an igfake score output"),
        "workers": ([good, tmp_path / "out", "--workers", "0"], "--workers: expected at least 1"),
    }[case]
    assert score(*args, model=tflite) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and "\n" not in err.split("igfake score: error:")[-1], err
    assert not (tmp_path / "out").exists()


def _with(tmp_path, records, **columns):
    table = pa.Table.from_pylist(records[:3])
    for name, values in columns.items():
        table = table.set_column(table.schema.get_field_index(name), name, pa.array(values))
    pq.write_table(table, tmp_path / "typed.parquet")
    return tmp_path / "typed.parquet"


def _without(tmp_path, records, column):
    pq.write_table(pa.Table.from_pylist(records[:3]).drop_columns([column]), tmp_path / "less.parquet")
    return tmp_path / "less.parquet"


def _dir_with_text(tmp_path, good):
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "a.parquet").write_bytes(good.read_bytes())
    (tmp_path / "parts" / "notes.txt").write_text("hello")
    return tmp_path / "parts"


def _someones_dir(tmp_path):
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "thesis.tex").write_text("precious")
    return tmp_path / "theirs"


def test_a_run_that_fails_midway_leaves_the_previous_output_whole(tmp_path, records, tflite, capsys):
    source = tmp_path / "in"
    source.mkdir()
    pq.write_table(pa.Table.from_pylist(records[:20]), source / "a.parquet")
    pq.write_table(pa.Table.from_pylist(records[20:]), source / "b.parquet")
    out = tmp_path / "out"
    assert score(source, out, model=tflite) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    # b.parquet keeps its footer (so the plan accepts it) but its data pages are garbage: reading it fails
    # after a.parquet's part is written.
    data = bytearray((source / "b.parquet").read_bytes())
    data[8:-2000] = os.urandom(len(data) - 2008)
    (source / "b.parquet").write_bytes(bytes(data))
    assert score(source, out, "--workers", "1", model=tflite) == 2
    assert "b.parquet" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left behind
