"""``igfake score --engine ray`` on a real local Ray: the same output as the local engine.

Ray is an optional extra (``pip install -e ".[ray]"``): without it these tests skip, unless
``IGFAKE_CI=1`` (``.ci/run`` sets it and installs the extra), where a missing Ray fails them. Ray runs in
a child process, never in the test worker: Ray's gRPC threads and fork handlers, left in a worker, stay
there for every later test of that worker (a worker's fork can then deadlock, and a hang in CI is silent
until its limit). The child starts a Ray of its own (2 CPUs) first, as a notebook would, and scores on it.
"""

import importlib.util
import json
import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import cli
from tests.conftest import REPO, sh

# Found, not imported: importing Ray loads gRPC into the worker already.
if importlib.util.find_spec("ray") is None:
    if os.environ.get("IGFAKE_CI") == "1":  # CI installs the extra: a missing Ray is a failure there
        raise ImportError("Ray is not installed, and IGFAKE_CI=1 (.ci/run installs the extra)")
    pytest.skip("Ray is not installed (pip install -e '.[ray]')", allow_module_level=True)

# The child: a Ray started by the caller, `igfake score --engine ray` on it, and the caller's Ray left running.
ON_RAY = """
import sys
import ray
from pipeline import cli
ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
status = cli.main(["score", *sys.argv[1:]])
assert ray.is_initialized(), "a Ray the caller started is left running"
ray.shutdown()
sys.exit(status)
"""


def _score(source, out, tflite, *extra):
    return cli.main(["score", str(source), str(out), "--model", str(tflite), "--threshold", "0.5", *extra])


def test_ray_engine_writes_what_the_local_engine_writes(tmp_path, users, tflite):
    rows = [dict(u) for u in users]
    rows[4]["media_count"] = -3
    rows[40]["is_verified"] = None
    source = tmp_path / "in"
    source.mkdir()
    schema = pa.Table.from_pylist(rows).schema  # one schema for both partitions, as a dataset has
    for i, part in enumerate((rows[:30], rows[30:])):
        pq.write_table(pa.Table.from_pylist(part, schema=schema), source / f"part-{i}.parquet", row_group_size=8)
    assert _score(source, tmp_path / "local", tflite, "--workers", "1") == 0
    sh([sys.executable, "-c", ON_RAY, str(source), str(tmp_path / "ray"), "--model", str(tflite), "--threshold", "0.5",
        "--engine", "ray", "--workers", "2", "--batch-rows", "16"], cwd=REPO)
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


def test_ray_engine_refuses_json_lines_in_one_line(tmp_path, users, tflite, capsys):
    """Refused before Ray starts: this runs in the worker, and no Ray is started."""
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(users[0]) + "\n")
    assert _score(path, tmp_path / "out", tflite, "--engine", "ray") == 2
    assert "--engine ray reads Parquet" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert "ray" not in sys.modules or not sys.modules["ray"].is_initialized()
