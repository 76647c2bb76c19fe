"""``igfake score --engine ray`` on a real local Ray: the same output as the local engine.

Ray is an optional extra (``pip install -e ".[ray]"``): without it these tests skip, unless
``IGFAKE_CI=1`` (``.ci/run`` sets it and installs the extra), where a missing Ray fails them. Ray's
start-up costs seconds, so one Ray (2 CPUs) serves the whole module and is shut down after it.
"""

import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import cli

if os.environ.get("IGFAKE_CI") == "1":
    import ray  # CI installs the extra: a missing Ray is a failure there
else:
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]')")


@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


def _score(source, out, tflite, *extra):
    return cli.main(["score", str(source), str(out), "--model", str(tflite), "--threshold", "0.5", *extra])


def test_ray_engine_writes_what_the_local_engine_writes(tmp_path, users, tflite, local_ray, capsys):
    rows = [dict(u) for u in users]
    rows[4]["media_count"] = -3
    rows[40]["is_verified"] = None
    source = tmp_path / "in"
    source.mkdir()
    schema = pa.Table.from_pylist(rows).schema  # one schema for both partitions, as a dataset has
    for i, part in enumerate((rows[:30], rows[30:])):
        pq.write_table(pa.Table.from_pylist(part, schema=schema), source / f"part-{i}.parquet", row_group_size=8)
    assert _score(source, tmp_path / "local", tflite, "--workers", "1") == 0
    assert _score(source, tmp_path / "ray", tflite, "--engine", "ray", "--workers", "2", "--batch-rows", "16") == 0
    local, on_ray = pq.read_table(tmp_path / "local"), pq.read_table(tmp_path / "ray")
    assert on_ray.num_rows == len(rows) - 2
    assert on_ray.equals(local) and on_ray.schema == local.schema
    manifests = [json.loads((tmp_path / d / "_manifest.json").read_text()) for d in ("local", "ray")]
    for key in ("rows", "scored", "quarantined", "model_sha256", "threshold"):
        assert manifests[0][key] == manifests[1][key], key
    assert (manifests[1]["rows"], manifests[1]["quarantined"]) == (len(rows), 2)

    def entries(d):  # Ray's arrive in no set order: the same entries, compared sorted
        lines = (tmp_path / d / "_quarantine.jsonl").read_text().splitlines()
        return sorted((e["pk"], e["where"], e["field"], e["reason"]) for e in map(json.loads, lines))

    assert entries("ray") == entries("local") == sorted([
        (rows[4]["pk"], str(source / "part-0.parquet"), "media_count",
         "expected an integer from 0 to 2**63 - 1, got -3"),
        (rows[40]["pk"], str(source / "part-1.parquet"), "is_verified", "expected bool, got None")])
    assert local_ray.is_initialized()  # a Ray the caller started is left running


def test_ray_engine_refuses_json_lines_in_one_line(tmp_path, users, tflite, local_ray, capsys):
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(users[0]) + "\n")
    assert _score(path, tmp_path / "out", tflite, "--engine", "ray") == 2
    assert "--engine ray reads Parquet" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
