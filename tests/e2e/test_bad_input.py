"""Every bad input gets one clear line and exit status 2, or is quarantined and counted; nothing crashes.

Table-driven, one table per family (params.yaml, crawl dumps, label files, degenerate data, the session
id, `igfake simulator serve`, the `igfake` command line). Stages run in-process through their real
``main()`` (the same code path ``python -m pipeline.stages.<stage>`` takes, with ``pipeline.core.paths``
pointed at a fresh project), so a crash would surface here as the exception itself; the command line
runs as a subprocess where the exit status of the real executable is the point.

Each error case asserts: ``SystemExit(2)``, exactly one line on stderr, naming the file and the record
or the params key, no traceback, and every file of the project byte-identical afterwards.
"""

from __future__ import annotations

import importlib
import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.core import paths
from pipeline.core.params import load
from pipeline.instagram.sources import world_for
from pipeline.reporting import plot_registry
from tests.conftest import BIN, REPO, run_env

SEEDS = ["insights.owner", "maya.lindqvist"]


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with the repository's params (a small world), and ``pipeline.core.paths`` pointed at it."""
    root = tmp_path / "p"
    root.mkdir()
    (root / "dvc.yaml").write_text((REPO / "dvc.yaml").read_text())
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["simulator"]["accounts_per_seed"] = 40
    params["crawl"]["seed_accounts"] = SEEDS
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    repo_root = paths.ROOT
    for name, value in list(vars(paths).items()):
        if isinstance(value, Path) and value.is_relative_to(repo_root):
            monkeypatch.setattr(paths, name, root / value.relative_to(repo_root))
    assert root / "params.yaml" == paths.PARAMS and paths.RAW_PROFILES.is_relative_to(root)
    # The plot files follow paths.PLOTS: left in the repository, evaluate would draw into its reports/.
    plot_files = [*plot_registry.data_files().values(), *plot_registry.png_files().values()]
    assert all(p.is_relative_to(root) for p in plot_files)
    monkeypatch.chdir(root)
    return root


def set_params(root: Path, section: str, **values: object) -> None:
    path = root / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params[section].update(values)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def run_stage(stage: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    """Run ``pipeline.stages.<stage>.main()``; its exit status and its stderr lines."""
    module = importlib.import_module(f"pipeline.stages.{stage}")
    capsys.readouterr()
    try:
        module.main()
        status = 0
    except SystemExit as exc:
        status = exc.code
    return status, [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def assert_refused(root: Path, stage: str, capsys, *expected: str) -> str:
    """The stage stops: status 2, one line naming ``expected``, no traceback, no file changed."""
    before = snapshot(root)
    status, lines = run_stage(stage, capsys)
    assert status == 2, lines
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith(f"igfake {stage.replace('_', '-')}: error: "), line
    assert "Traceback" not in line
    for text in expected:
        assert text in line, line
    assert snapshot(root) == before
    return line


def world_users(root: Path, n: int) -> list[dict]:
    world = world_for(load(root / "params.yaml").simulator, SEEDS)
    return [world.profiles[pk].user for pk in sorted(world.profiles)[:n]]


def write_lines(path: Path, records: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))


# --- params.yaml ------------------------------------------------------------------------------------------

STAGE_OF = {"crawl": "crawl", "simulator": "crawl", "label_import": "label_import", "featurize": "featurize",
            "train": "train", "evaluate": "evaluate", "export_tflite": "export_tflite", "mlflow": "track"}


def _set(key: str, value: object):
    def edit(data: dict) -> None:
        *parents, last = key.split(".")
        node = data
        for part in parents:
            node = node[part]
        node[last] = value
    return edit


PARAMS_CASES = [
    # numbers at the edges
    ("crawl.timeout_seconds", float("inf"), "crawl.timeout_seconds: expected a number of seconds above 0"),
    ("crawl.timeout_seconds", 1e300, "crawl.timeout_seconds: expected a number of seconds above 0, at most 86400"),
    ("crawl.backoff_max_seconds", float("nan"), "crawl.backoff_max_seconds: expected a number of seconds"),
    ("export_tflite.tolerance", float("inf"), "export_tflite.tolerance: expected a positive number, got inf"),
    ("export_tflite.tolerance", float("nan"), "export_tflite.tolerance: expected a positive number, got nan"),
    ("export_tflite.tolerance", "-2e-05", "export_tflite.tolerance: expected a positive number"),
    ("train.seed", 2**64, "train.seed: expected an integer from 0 to 4294967295, got 18446744073709551616"),
    ("train.seed", 2**32 - 5, "train.seed: members are seeded train.seed + k"),
    ("train.split.seed", -1, "train.split.seed: expected an integer from 0 to 4294967295, got -1"),
    ("simulator.seed", 10**30, "simulator.seed: expected an integer from 0 to 4294967295"),
    ("simulator.faults.seed", 2**40, "simulator.faults.seed: expected an integer from 0 to 4294967295"),
    ("train.epochs", 10**30, "train.epochs: expected a positive integer of at most 2147483647"),
    ("crawl.max_profiles", 2**31, "crawl.max_profiles: expected a positive integer of at most 2147483647"),
    ("simulator.accounts_per_seed", -3, "simulator.accounts_per_seed: expected a positive integer, got -3"),
    ("simulator.faults.rate_limit_window_seconds", 0, "simulator.faults.rate_limit_window_seconds: expected"),
    ("simulator.faults.slow_seconds", -1, "simulator.faults.slow_seconds: expected a number of seconds from 0"),
    ("simulator.faults.server_error_rate", float("inf"), "simulator.faults.server_error_rate: expected a number "
     "between 0 and 1, got inf"),
    ("train.learning_rate", "-.5", "train.learning_rate: expected a positive number, got -0.5"),
    ("train.split.test_size", float("nan"), "train.split.test_size: expected a number strictly between 0 and 1"),
    ("train.split.folds", 1, "train.split.folds: expected an integer from 2 to 20, got 1"),
    ("evaluate.threshold", 1, "evaluate.threshold: expected a number strictly between 0 and 1, got 1"),
    ("crawl.page_size", 201, "crawl.page_size: expected an integer from 1 to 200, got 201"),
    ("train.presets.stable.validation_size", float("inf"), "train.presets.stable.validation_size: expected a number"),
    # types and names
    ("crawl.concurrency", "4", "crawl.concurrency: expected a positive integer, got '4'"),
    ("crawl.instagram_url", "ftp://x", "crawl.instagram_url: expected an http:// or https:// URL"),
    ("label_import.source", "manual", "label_import.source: expected one of 'simulator', 'files', got 'manual'"),
    ("featurize.feature_set", None, "featurize.feature_set: expected one of 'seed16', got None"),
    ("mlflow.experiment", 5, "mlflow.experiment: expected a non-empty string, got 5"),
    ("crawl.seed_accounts", [], "crawl.seed_accounts: expected a non-empty list"),
    ("train.presets", [1], "train.presets: expected a mapping of ple, stable, article"),
    ("train.calibration", "isotonic",
     "train.calibration: expected one of 'none', 'temperature', 'platt', got 'isotonic'"),
]


@pytest.mark.parametrize(("key", "value", "message"), PARAMS_CASES, ids=[c[0] + "=" + repr(c[1]) for c in PARAMS_CASES])
def test_bad_params_stop_the_stage_with_the_key(workspace, capsys, key, value, message):
    path = workspace / "params.yaml"
    data = yaml.safe_load(path.read_text())
    _set(key, value)(data)
    text = yaml.safe_dump(data, sort_keys=False)
    if isinstance(value, str) and value[:1] in "-.":  # a plain YAML number as DVC or a person writes it
        text = text.replace(f"'{value}'", value)
    path.write_text(text)
    assert_refused(workspace, STAGE_OF[key.split(".")[0]], capsys, str(path), message)


RAW_PARAMS_CASES = [
    ("duplicated key", lambda t: t.replace("  epochs: 200\n", "  epochs: 200\n  epochs: 20\n"), "train",
     "train.epochs: duplicated key (lines "),
    ("duplicated section", lambda t: t + "mlflow:\n  experiment: other\n", "train", "mlflow: duplicated key (lines "),
    ("duplicated nested key", lambda t: t.replace("    test_size: 0.2\n", "    test_size: 0.2\n    test_size: 0.3\n"),
     "train", "train.split.test_size: duplicated key"),
    ("not YAML", lambda t: t + "train: [\n", "crawl", "not valid YAML"),
    ("empty file", lambda t: "", "crawl", "expected a mapping of sections, got NoneType"),
    ("a list", lambda t: "- 1\n", "crawl", "expected a mapping of sections, got list"),
    ("not UTF-8", lambda t: t + "# \udcff\n", "crawl", "cannot read"),
    ("unknown section", lambda t: t + "trian: {}\n", "crawl", "trian: unknown section"),
]


@pytest.mark.parametrize(("edit", "stage", "message"), [c[1:] for c in RAW_PARAMS_CASES],
                         ids=[c[0] for c in RAW_PARAMS_CASES])
def test_malformed_params_file_stops_the_stage(workspace, capsys, edit, stage, message):
    path = workspace / "params.yaml"
    path.write_bytes(edit(path.read_text()).encode("utf-8", "surrogateescape"))
    line = assert_refused(workspace, stage, capsys, str(path), message)
    if "duplicated" in message:
        first, second = (int(n) for n in line.split("(lines ")[1].split(")")[0].split(" and "))
        lines = path.read_text().splitlines()
        key = message.split(":")[0].split(".")[-1]
        assert lines[first - 1].strip().startswith(f"{key}:") and lines[second - 1].strip().startswith(f"{key}:")


@pytest.mark.parametrize("written", ["2e-05", "1e-5", "1.0e-5", "2E-5", "+2e-5", "0.00002"])
def test_small_floats_as_dvc_writes_them_load_as_numbers(workspace, written):
    path = workspace / "params.yaml"
    text = re.sub(r"(?m)^  tolerance: .*$", f"  tolerance: {written}", path.read_text())
    path.write_text(text)
    assert f"tolerance: {written}\n" in text
    assert load(path).export_tflite.tolerance == pytest.approx(2e-5 if "2" in written else 1e-5)


def test_yaml_12_floats_keep_ints_and_strings_as_they_were(workspace):
    from pipeline.core.params import ParamsLoader

    loaded = yaml.load("a: 1\nb: 1_000\nc: .5\nd: -.5\ne: 1e3\nf: '1e3'\ng: 1.2.3\nh: e5\ni: 0x10\n", ParamsLoader)
    assert loaded == {"a": 1, "b": 1000, "c": 0.5, "d": -0.5, "e": 1000.0, "f": "1e3", "g": "1.2.3", "h": "e5",
                      "i": 16}
    assert isinstance(loaded["e"], float) and isinstance(loaded["a"], int)


def test_dvc_exp_run_set_param_small_float_round_trips(workspace):
    """What `dvc exp run -S export_tflite.tolerance=0.00002` writes back is read as that number."""
    from dvc.utils.serialize import modify_yaml

    with modify_yaml(workspace / "params.yaml") as data:
        data["export_tflite"]["tolerance"] = 0.00002
    assert "2e-05" in (workspace / "params.yaml").read_text()
    assert load(workspace / "params.yaml").export_tflite.tolerance == 2e-05


# --- crawl dumps ------------------------------------------------------------------------------------------

# (case, how the bad record differs from a good one, the field the quarantine names)
DUMP_RECORD_CASES = [
    ("count 10**30", lambda u: {**u, "follower_count": 10**30}, "follower_count"),
    ("pk 2**70", lambda u: {**u, "pk": 2**70}, "pk"),
    ("pk 2**63 as digits", lambda u: {**u, "pk": str(2**63)}, "pk"),
    ("pk superscript digit", lambda u: {**u, "pk": "²"}, "pk"),
    ("pk arabic-indic digits", lambda u: {**u, "pk": "٣٤"}, "pk"),
    ("pk 0", lambda u: {**u, "pk": 0}, "pk"),
    ("pk negative", lambda u: {**u, "pk": -5}, "pk"),
    ("pk true", lambda u: {**u, "pk": True}, "pk"),
    ("pk float", lambda u: {**u, "pk": 5.0}, "pk"),
    ("negative count", lambda u: {**u, "media_count": -1}, "media_count"),
    ("count as string", lambda u: {**u, "media_count": "12"}, "media_count"),
    ("count float", lambda u: {**u, "following_count": 1.5}, "following_count"),
    ("flag as string", lambda u: {**u, "is_private": "yes"}, "is_private"),
    ("lone surrogate", lambda u: {**u, "username": "\ud800x"}, "username"),
    ("archive unknown", lambda u: {**u, "reel_auto_archive": "maybe"}, "reel_auto_archive"),
    ("archive unhashable", lambda u: {**u, "reel_auto_archive": ["on"]}, "reel_auto_archive"),
    ("missing username", lambda u: {k: v for k, v in u.items() if k != "username"}, "username"),
    ("empty username", lambda u: {**u, "username": ""}, "username"),
    ("biography number", lambda u: {**u, "biography": 123}, "biography"),
    ("record is a list", lambda u: [u], "<record>"),
    ("record is null", lambda u: None, "<record>"),
]


@pytest.mark.parametrize(("mutate", "field"), [c[1:] for c in DUMP_RECORD_CASES], ids=[c[0] for c in DUMP_RECORD_CASES])
def test_bad_dump_record_is_quarantined_and_the_rest_goes_through(workspace, capsys, mutate, field):
    users = world_users(workspace, 40)
    bad = mutate(users[5])
    write_lines(workspace / "dumps" / "d.jsonl", [*users[:5], bad, *users[6:]])
    set_params(workspace, "crawl", source="files", files=["dumps/d.jsonl"])
    status, lines = run_stage("crawl", capsys)
    assert status == 0, lines
    assert lines == [line for line in lines if line.startswith("igfake crawl: 1 records quarantined")]
    (entry,) = [json.loads(line) for line in (workspace / "data/raw/quarantine.jsonl").read_text().splitlines()]
    assert entry["field"] == field and entry["where"].endswith("d.jsonl:6")
    # What passed the crawl goes through label-import and featurize: nothing left over to crash on.
    for stage in ("label_import", "featurize"):
        status, lines = run_stage(stage, capsys)
        assert status == 0, lines
    report = json.loads((workspace / "reports/labels.json").read_text())
    assert report["labelled"] == 39


def _unkeyed(user: dict, **changes: object) -> dict:
    return {k: v for k, v in user.items() if k != "pk"} | changes


KEYED_CASES = [
    ("key 0", "0", lambda u: _unkeyed(u, username="zero"), "pk"),
    ("key 2**70", str(2**70), lambda u: _unkeyed(u, username="big"), "pk"),
    ("key of 60 digits", "9" * 60, lambda u: _unkeyed(u, username="huge"), "pk"),
    ("key differs from pk", "12", lambda u: {**u, "pk": 13, "username": "thirteen"}, "pk"),
]


@pytest.mark.parametrize(("key", "record", "field"), [c[1:] for c in KEYED_CASES], ids=[c[0] for c in KEYED_CASES])
def test_bad_keyed_dump_record_is_quarantined(workspace, capsys, key, record, field):
    users = world_users(workspace, 10)
    keyed = {str(u["pk"]): u for u in users} | {key: record(users[0])}
    (workspace / "dumps").mkdir()
    (workspace / "dumps" / "d.json").write_text(json.dumps(keyed))
    set_params(workspace, "crawl", source="files", files=["dumps/d.json"])
    status, lines = run_stage("crawl", capsys)
    assert status == 0, lines
    (entry,) = [json.loads(line) for line in (workspace / "data/raw/quarantine.jsonl").read_text().splitlines()]
    assert entry["field"] == field and "d.json: pk " in entry["where"]
    assert len((workspace / "data/raw/profiles.jsonl").read_text().splitlines()) == 10


DUMP_FILE_CASES = [
    ("bad JSON line", lambda users: [users[0], "{", users[1]], "d.jsonl:2: not valid JSON"),
    ("5000-digit integer", lambda users: [users[0], '{"pk": ' + "9" * 5000 + "}"], "d.jsonl:2: not valid JSON"),
    ("nested too deeply", lambda users: [users[0], "[" * 200_000 + "]" * 200_000], "d.jsonl:2: not valid JSON"),
    ("every record bad", lambda users: [{**u, "pk": 0} for u in users[:3]], "the crawl kept no profile: 3 records"),
    ("empty file", lambda users: [], "the crawl kept no profile: 0 records"),
]


@pytest.mark.parametrize(("lines", "message"), [c[1:] for c in DUMP_FILE_CASES], ids=[c[0] for c in DUMP_FILE_CASES])
def test_unusable_dump_stops_the_crawl(workspace, capsys, lines, message):
    write_lines(workspace / "dumps" / "d.jsonl", lines(world_users(workspace, 5)))
    set_params(workspace, "crawl", source="files", files=["dumps/d.jsonl"])
    assert_refused(workspace, "crawl", capsys, message)


@pytest.mark.parametrize(("content", "message"), [
    (b'{"pk": 1, "username": "\xff"}\n', "d.jsonl: not UTF-8 text"),
    (None, "d.jsonl: crawl.files names a file that does not exist"),
    (b'{"users": []}', "d.jsonl: a JSON object whose keys are not pks"),
], ids=["not UTF-8", "missing", "not keyed by pk"])
def test_unreadable_dump_stops_the_crawl(workspace, capsys, content, message):
    if content is not None:
        (workspace / "dumps").mkdir()
        (workspace / "dumps" / "d.jsonl").write_bytes(content)
    set_params(workspace, "crawl", source="files", files=["dumps/d.jsonl"])
    assert_refused(workspace, "crawl", capsys, message)


# --- label files ------------------------------------------------------------------------------------------

HEADER = "pk,username,label,annotator,labelled_at"
WHEN = "2024-05-01T10:00:00+00:00"


@pytest.fixture
def crawled(workspace, capsys) -> list[dict]:
    """A crawl of 30 dumped profiles (crawl.source files), as label-import reads it."""
    users = world_users(workspace, 30)
    write_lines(workspace / "dumps" / "d.jsonl", users)
    set_params(workspace, "crawl", source="files", files=["dumps/d.jsonl"])
    assert run_stage("crawl", capsys)[0] == 0
    return users


def good_rows(users: list[dict], n: int = 6) -> list[str]:
    return [f"{u['pk']},{u['username']},{'fake' if i % 2 else 'authentic'},alice,{WHEN}"
            for i, u in enumerate(users[:n])]


CSV_CASES = [
    ("unknown label", "{pk},x,maybe,alice," + WHEN, "alice.csv:8: label: expected one of"),
    ("pk superscript", "²,x,fake,alice," + WHEN, "alice.csv:8: pk: expected a positive integer"),
    ("pk 0", "0,x,fake,alice," + WHEN, "alice.csv:8: pk: expected a positive integer"),
    ("pk 2**70", f"{2**70},x,fake,alice," + WHEN, "alice.csv:8: pk: expected a positive integer below 2**63"),
    ("pk negative", "-4,x,fake,alice," + WHEN, "alice.csv:8: pk:"),
    ("bad time", "{pk},x,fake,alice,yesterday", "alice.csv:8: labelled_at: expected an ISO-8601 time"),
    ("time without offset", "{pk},x,fake,alice,2024-05-01T10:00:00", "alice.csv:8: labelled_at: expected a time "
     "with a UTC offset"),
    ("bad annotator", "{pk},x,fake,al ice," + WHEN, "alice.csv:8: annotator:"),
    ("extra field", "{pk},x,fake,alice," + WHEN + ",more", "alice.csv:8: <row>: expected 5 fields, got 6"),
    ("missing field", "{pk},x,fake,alice", "alice.csv:8: <row>: expected 5 fields, got 4"),
    ("NUL byte", "{pk},x,fa\0ke,alice," + WHEN, "alice.csv:8:"),
]


@pytest.mark.parametrize(("row", "message"), [c[1:] for c in CSV_CASES], ids=[c[0] for c in CSV_CASES])
def test_bad_label_row_stops_label_import_or_is_quarantined(workspace, crawled, capsys, row, message):
    labels = workspace / "data" / "labels"
    labels.mkdir(parents=True)
    (labels / "alice.csv").write_text("\n".join([HEADER, *good_rows(crawled), row.format(pk=crawled[7]["pk"])]) + "\n")
    set_params(workspace, "label_import", source="files", files=["data/labels/*.csv"])
    assert_refused(workspace, "label_import", capsys, message, "on_bad_row: quarantine")
    set_params(workspace, "label_import", on_bad_row="quarantine")
    status, lines = run_stage("label_import", capsys)
    assert status == 0 and lines == ["igfake label-import: 1 bad rows quarantined, see "
                                     f"{workspace / 'data/interim/label_quarantine.jsonl'}"]
    report = json.loads((workspace / "reports/labels.json").read_text())
    assert report["bad_rows"]["count"] == 1 and report["labelled"] == 6


LABEL_FILE_CASES = [
    ("csv header", "alice.csv", "pk,user,label\n1,a,fake\n", "alice.csv:1: header: expected the columns"),
    ("csv not UTF-8", "alice.csv", (HEADER + "\n1,\xff,fake,alice," + WHEN + "\n").encode("latin-1"),
     "alice.csv: not UTF-8 text"),
    ("json not JSON", "bob.json", "{", "bob.json: not valid JSON"),
    ("json 5000-digit integer", "bob.json", '{"1": {"is_authentic": ' + "9" * 5000 + "}}", "bob.json: not valid JSON"),
    ("json nested too deeply", "bob.json", "[" * 200_000 + "]" * 200_000, "bob.json: not valid JSON"),
    ("json a list", "bob.json", "[]", "bob.json: expected a JSON object keyed by pk, got list"),
    ("json annotator name", "b ob.json", "{}", "b ob.json: the file name is the annotator's"),
    ("json label not bool", "bob.json", '{"{pk}": {"is_authentic": "yes"}}', "bob.json: record '{pk}': is_authentic:"),
    ("json key not a pk", "bob.json", '{"abc": {"is_authentic": true}}', "bob.json: record 'abc': pk:"),
    ("json key 2**70", "bob.json", '{"' + str(2**70) + '": {"is_authentic": true}}', "bob.json: record '118"),
    ("json record a list", "bob.json", '{"{pk}": [true]}', "bob.json: record '{pk}': <record>:"),
    ("not a label file", "notes.txt", "hello", "notes.txt: not a label file"),
]


@pytest.mark.parametrize(("name", "content", "message"), [c[1:] for c in LABEL_FILE_CASES],
                         ids=[c[0] for c in LABEL_FILE_CASES])
def test_bad_label_file_stops_label_import(workspace, crawled, capsys, name, content, message):
    labels = workspace / "data" / "labels"
    labels.mkdir(parents=True)
    (labels / "alice0.csv").write_text("\n".join([HEADER, *good_rows(crawled)]) + "\n")
    pk = str(crawled[8]["pk"])
    data = content.replace("{pk}", pk).encode() if isinstance(content, str) else content
    (labels / name).write_bytes(data)
    set_params(workspace, "label_import", source="files", files=["data/labels/*"])
    assert_refused(workspace, "label_import", capsys, name, message.replace("{pk}", pk))


@pytest.mark.parametrize(("files", "message"), [
    (["data/labels/none*.csv"], "label_import.files: 'data/labels/none*.csv' matches no file"),
    (["dumps/*.jsonl"], "label_import.files: dumps/d.jsonl: outside data/labels/"),
    ([], "label_import.files: expected at least one glob"),
], ids=["glob matches nothing", "outside data/labels", "no globs"])
def test_label_globs_are_checked(workspace, crawled, capsys, files, message):
    set_params(workspace, "label_import", source="files", files=files)
    assert_refused(workspace, "label_import", capsys, message)


# --- degenerate data --------------------------------------------------------------------------------------

def test_labels_of_one_class_stop_label_import(workspace, crawled, capsys):
    labels = workspace / "data" / "labels"
    labels.mkdir(parents=True)
    rows = [f"{u['pk']},{u['username']},fake,alice,{WHEN}" for u in crawled[:10]]
    (labels / "alice.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    set_params(workspace, "label_import", source="files", files=["data/labels/*.csv"])
    assert_refused(workspace, "label_import", capsys, "labelled.parquet: 10 labelled profiles, none of them authentic",
                   "both classes")


@pytest.mark.parametrize(("n_labels", "split", "needed"), [
    (6, {}, 9),  # test_size 0.2 and a 0.15 validation slice of the rest: one row in 0.12 of a class needs 9
    (30, {"test_size": 0.01}, 100),
    (30, {"folds": 20}, 20),
], ids=["a handful of labels", "test rows for every class", "a row of each class per fold"])
def test_too_few_labels_for_the_split_protocol_stop_train_before_fitting(workspace, crawled, capsys, n_labels,
                                                                         split, needed):
    from pipeline.training.study import rows_needed

    labels = workspace / "data" / "labels"
    labels.mkdir(parents=True)
    (labels / "alice.csv").write_text("\n".join([HEADER, *good_rows(crawled, n_labels)]) + "\n")
    set_params(workspace, "label_import", source="files", files=["data/labels/*.csv"])
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    params["train"]["split"].update(split)
    (workspace / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for stage in ("label_import", "featurize"):
        assert run_stage(stage, capsys)[0] == 0
    assert rows_needed(load(workspace / "params.yaml").train) == needed
    assert_refused(workspace, "train", capsys, "features.parquet: ", f"{n_labels // 2} authentic and "
                   f"{n_labels - n_labels // 2} fake", f"needs at least {needed} of each class", "train.split")


# --- the session id ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("session", "problem"), [
    ("abc\ndef", "holds a line break (character 4)"),
    ("abcé", "holds a non-ASCII character (character 4)"),
    ("ab€", "holds a non-ASCII character (character 3)"),
    ("a;b", "holds a space, quote, comma, semicolon"),
    ("a\tb", "holds a space, quote, comma, semicolon, backslash or control character"),
], ids=["newline", "latin-1", "not latin-1", "semicolon", "tab"])
def test_session_id_a_cookie_cannot_carry_is_named_never_printed(workspace, capsys, monkeypatch, session, problem):
    monkeypatch.setenv("IG_SESSIONID", session)
    set_params(workspace, "crawl", source="instagram", instagram_url="http://127.0.0.1:9")
    line = assert_refused(workspace, "crawl", capsys, f"IG_SESSIONID {problem}")
    assert session not in line and session.strip() not in line


# --- igfake simulator serve -------------------------------------------------------------------------------

@pytest.fixture
def busy_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


SERVE_CASES = [
    (["--port", "70000"], "--port: expected a port from 0 to 65535"),
    (["--port", "-1"], "--port: expected a port from 0 to 65535"),
    (["--port", "BUSY"], "cannot listen there: Address already in use"),
    (["--host", "no-such-host.invalid"], "--host no-such-host.invalid --port 0: cannot listen there"),
    (["--host", "203.0.113.7"], "--host 203.0.113.7 --port 0: cannot listen there"),
    (["--accounts-per-seed", "-3"], "--accounts-per-seed: expected a positive integer, got -3"),
    (["--seed", "-1"], "--seed: expected an integer from 0 to 4294967295, got -1"),
    (["--rate-limit", "5/0"], "--rate-limit N/SECONDS: expected a number of seconds above 0"),
    (["--rate-limit", "5/inf"], "--rate-limit N/SECONDS: expected a number of seconds above 0"),
    (["--rate-limit", "-5"], "--rate-limit: expected N/SECONDS such as 200/60 (or 0 to turn it off), got '-5'"),
    (["--rate-limit", "x/y"], "--rate-limit: expected N/SECONDS such as 200/60 (or 0 to turn it off), got 'x/y'"),
    (["--slow-seconds", "-1"], "--slow-seconds: expected a number of seconds from 0 to 86400, got -1.0"),
    (["--slow-seconds", "nan"], "--slow-seconds: expected a number of seconds from 0 to 86400, got nan"),
    (["--server-error-rate", "1.5"], "--server-error-rate: expected a number between 0 and 1, got 1.5"),
    (["--fault-seed", "-2"], "--fault-seed: expected an integer from 0 to 4294967295"),
    (["--login-required-after", "-1"], "--login-required-after: expected a non-negative integer"),
    (["--params", "missing.yaml"], "missing.yaml: not found"),
    (["--port", "abc"], "argument --port: invalid int value: 'abc'"),
]


@pytest.mark.parametrize(("args", "message"), SERVE_CASES, ids=[" ".join(c[0]) for c in SERVE_CASES])
def test_bad_serve_options_stop_with_one_line(workspace, capsys, busy_port, args, message):
    from pipeline.cli import main

    args = [str(busy_port) if a == "BUSY" else a for a in args]
    capsys.readouterr()
    try:
        status = main(["simulator", "serve", "--params", str(workspace / "params.yaml"), *args])
    except SystemExit as exc:  # argparse's own errors
        status = exc.code
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert status == 2 and len(lines) == 1, lines
    assert message in lines[0] and lines[0].startswith("igfake"), lines[0]


# --- the igfake command line, as a user runs it ---------------------------------------------------------------

CLI_CASES = [
    (["simulator", "serve", "--rate-limit", "5/0"], "igfake simulator: error: --rate-limit N/SECONDS"),
    (["simulator", "serve", "--port", "99999"], "igfake simulator: error: --port: expected a port"),
    (["simulator", "serve", "--port", "x"], "igfake simulator serve: error: argument --port: invalid int value"),
    (["nonsense"], "igfake: error: argument COMMAND: invalid choice: 'nonsense'"),
    (["label", "--annotator", "bad name"], "igfake label: error: --annotator: expected letters"),
    # The model is checked first: a file that is no TFLite model is named, with what to do.
    (["predict", "missing.jsonl", "--model", "params.yaml"], "params.yaml: not a usable TFLite model"),
]


@pytest.mark.parametrize(("args", "message"), CLI_CASES, ids=[" ".join(c[0]) for c in CLI_CASES])
def test_igfake_command_exits_2_with_one_line(workspace, args, message):
    before = snapshot(workspace)
    result = subprocess.run([str(BIN / "igfake"), *args], cwd=workspace, env=run_env(), capture_output=True,
                            text=True, timeout=60, stdin=subprocess.DEVNULL)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert message in lines[0], lines[0]
    assert snapshot(workspace) == before


def test_cli_tests_run_the_installed_command():
    assert (BIN / "igfake").exists(), sys.executable
