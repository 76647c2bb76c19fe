"""label-import on real label files: two annotators' CSVs plus a legacy JSON, through the real stage.

The crawl is a small simulated one (eight profiles). Who said what, per profile (A authentic, F fake,
U unsure, - nothing):

    profile  alice        bob  carol (legacy JSON)
    p0       A            A    A
    p1       F            A    F        conflict, majority F
    p2       U            F    -        U counts as A: tie; dropped: F
    p3       A, then F    F    -        duplicate within alice: last (F) wins
    p4       F            A    -        tie
    p5       A, undone    -    -        retracted: unlabelled
    p6       -            -    F, then T (duplicate key: last wins)
    p7       U            -    (record without is_authentic: unlabelled)
    999      A (not in the crawl)
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from pipeline.core.errors import InputError, ParamsError
from pipeline.core.params import load
from pipeline.core.vocabulary import AUTHENTIC
from pipeline.instagram.world import World
from pipeline.labelling import policy, sources
from pipeline.labelling.formats import read_label_file
from pipeline.labelling.table import SCHEMA
from tests.conftest import sh

STAGE = [sys.executable, "-m", "pipeline.stages.label_import"]


def write_crawl(root: Path, n: int = 8, seed: int = 5) -> list[dict]:
    """A small simulated crawl in ``root/data/raw``, as the crawl stage writes it; returns the users by pk."""
    world = World(seed=seed, seed_usernames=("seed.account",), accounts_per_seed=n, mistake_rate=0.0)
    users = [world.profiles[pk].user for pk in sorted(world.profiles)]
    (seed_account,) = world.seeds.values()
    linked = sorted(set(seed_account.followers) | set(seed_account.following))
    graph = [{"seed": "seed.account", "seed_pk": seed_account.user["pk"], "pk": pk,
              "follows_seed": pk in seed_account.followers, "followed_by_seed": pk in seed_account.following}
             for pk in linked]
    raw = root / "data" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    (raw / "profiles.jsonl").write_text("".join(json.dumps(u) + "\n" for u in users))
    (raw / "graph.jsonl").write_text("".join(json.dumps(g) + "\n" for g in graph))
    return users


def set_label_params(root: Path, **values) -> None:
    path = root / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params["label_import"].update(values)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def csv_text(header: str, rows: list[tuple]) -> str:
    return header + "\n" + "".join(",".join(str(v) for v in row) + "\n" for row in rows)


@pytest.fixture
def labelled_project(project: Path) -> tuple[Path, list[dict]]:
    """The project with the crawl and the three label files of the module docstring."""
    users = write_crawl(project)
    pk = [u["pk"] for u in users]
    name = [u["username"] for u in users]
    at = [f"2026-11-01T10:00:{s:02d}Z" for s in range(60)]
    d = project / "data" / "labels"
    d.mkdir(parents=True)
    (d / "alice.csv").write_text(csv_text("pk,username,label,annotator,labelled_at", [
        (pk[0], name[0], "authentic", "alice", at[0]),
        (pk[1], name[1], "fake", "alice", at[1]),
        (pk[2], name[2], "unsure", "alice", at[2]),
        (pk[3], name[3], "authentic", "alice", at[3]),
        (pk[4], name[4], "fake", "alice", at[4]),
        (pk[3], name[3], "fake", "alice", at[5]),
        (pk[5], name[5], "authentic", "alice", at[6]),
        (pk[5], name[5], "undo", "alice", at[7]),
        (999, "ghost", "authentic", "alice", at[8]),
        (pk[7], name[7], "unsure", "alice", "2026-11-01T11:00:00+00:00"),
    ]))
    # Columns in another order: the header names them.
    (d / "bob.csv").write_text(csv_text("annotator,pk,label,username,labelled_at", [
        ("bob", pk[0], "authentic", name[0], at[0]),
        ("bob", pk[1], "authentic", name[1], at[1]),
        ("bob", pk[2], "fake", name[2], at[2]),
        ("bob", pk[3], "fake", name[3], at[3]),
        ("bob", pk[4], "authentic", name[4], at[4]),
    ]))
    legacy = [(pk[0], {**users[0], "is_authentic": True}), (pk[1], {**users[1], "is_authentic": False}),
              (pk[6], {**users[6], "is_authentic": False}), (pk[7], users[7]),
              (pk[6], {**users[6], "is_authentic": True})]
    (d / "carol.json").write_text("{" + ",\n".join(f'"{k}": {json.dumps(v)}' for k, v in legacy) + "}\n")
    set_label_params(project, source="files", files=["data/labels/*.csv", "data/labels/carol.json"])
    return project, users


def run_stage(project: Path, check: bool = True):
    return sh(STAGE, cwd=project, check=check)


def outputs(project: Path) -> tuple[dict[int, tuple[int, str]], dict]:
    table = pq.read_table(project / "data/interim/labelled.parquet")
    assert table.schema.equals(SCHEMA)
    rows = {r["pk"]: (r["label"], r["label_source"]) for r in table.to_pylist()}
    return rows, json.loads((project / "reports/labels.json").read_text())


def by_index(users: list[dict], expected: dict[int, tuple[int, str]]) -> dict[int, tuple[int, str]]:
    return {users[i]["pk"]: v for i, v in expected.items()}


# Hand computation of Cohen's kappa, alice vs bob on p0..p4 (their common profiles; p5 was undone):
#   alice A F U F F, bob A A F F A: observed agreement p_o = 2/5 (p0, p3)
#   marginals alice A1 F3 U1, bob A3 F2 U0: chance p_e = (1*3 + 3*2 + 1*0) / 25 = 9/25
#   kappa = (2/5 - 9/25) / (1 - 9/25) = (1/25) / (16/25) = 0.0625
# alice vs carol on p0, p1: A F vs A F, kappa 1. bob vs carol on p0, p1: A A vs A F: p_o = 1/2,
#   p_e = (2*1 + 0*1) / 4 = 1/2, kappa 0.
AGREEMENT = [
    {"annotators": ["alice", "bob"], "profiles": 5, "agreed": 2, "cohen_kappa": 0.0625},
    {"annotators": ["alice", "carol"], "profiles": 2, "agreed": 2, "cohen_kappa": 1.0},
    {"annotators": ["bob", "carol"], "profiles": 2, "agreed": 1, "cohen_kappa": 0.0},
]


def test_unsure_as_authentic_and_ties_to_fake(labelled_project):
    project, users = labelled_project
    set_label_params(project, unsure="authentic", tie="fake")
    run_stage(project)
    rows, report = outputs(project)
    assert rows == by_index(users, {
        0: (1, "alice+bob+carol"), 1: (0, "alice+carol"), 2: (0, "bob"), 3: (0, "alice+bob"), 4: (0, "alice"),
        6: (1, "carol"), 7: (1, "alice"),
    })
    assert (report["labelled"], report["authentic"], report["fake"]) == (7, 3, 4)
    assert (report["crawled_unlabelled"], report["labels_not_in_crawl"]) == (1, 1)  # p5; 999
    assert report["unsure"] == {"policy": "authentic", "decisions": 2, "profiles_labelled_authentic": 1,
                                "profiles_dropped": 0}
    assert report["unsure_labelled_authentic"] == 1
    assert report["conflicts"] == {"profiles": 3, "ties": 2, "tie_rule": "fake", "ties_dropped": 0}
    assert report["agreement"] == AGREEMENT
    assert report["annotators"] == {
        "alice": {"rows": 10, "undo_rows": 1, "superseded": 2, "decisions": 7, "authentic": 2, "fake": 3,
                  "unsure": 2},
        "bob": {"rows": 5, "undo_rows": 0, "superseded": 0, "decisions": 5, "authentic": 3, "fake": 2, "unsure": 0},
        "carol": {"rows": 4, "undo_rows": 0, "superseded": 1, "decisions": 3, "authentic": 2, "fake": 1,
                  "unsure": 0},
    }
    assert report["files"]["data/labels/carol.json"] == {"format": "legacy-json", "decisions": 4, "bad_rows": 0,
                                                         "unlabelled_records": 1}
    assert report["bad_rows"]["count"] == 0
    assert (project / "data/interim/label_quarantine.jsonl").read_text() == ""
    # The joined rows carry the crawl's fields: featurize reads them.
    table = pq.read_table(project / "data/interim/labelled.parquet").to_pylist()
    assert table[0]["username"] == users[0]["username"]
    assert table[0]["follower_count"] == users[0]["follower_count"]


def test_unsure_and_ties_dropped(labelled_project):
    project, users = labelled_project
    set_label_params(project, unsure="drop", tie="drop")
    run_stage(project)
    rows, report = outputs(project)
    assert rows == by_index(users, {
        0: (1, "alice+bob+carol"), 1: (0, "alice+carol"), 2: (0, "bob"), 3: (0, "alice+bob"), 6: (1, "carol"),
    })
    assert report["crawled_unlabelled"] == 3  # p4 (tie dropped), p5 (undone), p7 (only unsure)
    assert report["unsure"] == {"policy": "drop", "decisions": 2, "profiles_labelled_authentic": 0,
                                "profiles_dropped": 1}
    assert report["conflicts"] == {"profiles": 2, "ties": 1, "tie_rule": "drop", "ties_dropped": 1}
    assert report["agreement"] == AGREEMENT  # raw decisions: the policy does not change the annotators


def test_ties_to_authentic_mark_unsure_rows(labelled_project):
    """In-process on the same files: a tie broken to authentic follows the authentic voters."""
    project, users = labelled_project
    files = [read_label_file(p, p.name) for p in sorted((project / "data/labels").iterdir())]
    standing = policy.standing_decisions(files)
    resolution = policy.resolve(standing, policy.Policy(unsure="authentic", tie="authentic"))
    pk = [u["pk"] for u in users]
    assert resolution.labels[pk[2]] == resolution.labels[pk[4]] == AUTHENTIC
    assert (resolution.sources[pk[2]], resolution.sources[pk[4]]) == ("alice", "bob")
    assert resolution.unsure_authentic == {pk[2], pk[7]}


BAD_BOB_ROWS = [  # in bob.csv's column order: annotator,pk,label,username,labelled_at
    "bob,{p5},maybe,{n5},2026-11-01T10:00:09Z",  # line 7: unknown label
    "bob,{p6},fake,{n6},yesterday",  # line 8: bad timestamp
    "bob,{p6},fake",  # line 9: malformed, three fields
    "bob,x12,fake,someone,2026-11-01T10:00:10Z",  # line 10: pk not a number
    "bob,{p6},fake,{n6},2026-11-01T10:00:11",  # line 11: no UTC offset
]


def add_bad_rows(project: Path, users: list[dict]) -> None:
    fill = {"p5": users[5]["pk"], "n5": users[5]["username"], "p6": users[6]["pk"], "n6": users[6]["username"]}
    with open(project / "data/labels/bob.csv", "a") as fh:
        fh.write("".join(row.format(**fill) + "\n" for row in BAD_BOB_ROWS))
    carol = project / "data/labels/carol.json"
    carol.write_text(carol.read_text().rstrip()[:-1] + f',\n"{users[5]["pk"]}": {{"is_authentic": "yes"}}}}\n')


def test_bad_rows_stop_the_stage_naming_file_line_and_field(labelled_project):
    project, users = labelled_project
    add_bad_rows(project, users)
    set_label_params(project, on_bad_row="error")
    result = run_stage(project, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "igfake label-import: error: data/labels/bob.csv:7: label: expected one of authentic, fake, unsure, undo, "
        "got 'maybe' (6 bad row(s) in all; label_import.on_bad_row: quarantine sets them aside)"]
    assert not (project / "data/interim/labelled.parquet").exists()


def test_bad_rows_quarantined_and_counted(labelled_project):
    project, users = labelled_project
    add_bad_rows(project, users)
    set_label_params(project, on_bad_row="quarantine", unsure="authentic", tie="fake")
    result = run_stage(project)
    assert "6 bad rows quarantined" in result.stderr
    quarantined = [json.loads(line) for line in
                   (project / "data/interim/label_quarantine.jsonl").read_text().splitlines()]
    assert [(q["file"], q["line"] or q["key"], q["field"]) for q in quarantined] == [
        ("data/labels/bob.csv", 7, "label"), ("data/labels/bob.csv", 8, "labelled_at"),
        ("data/labels/bob.csv", 9, "<row>"), ("data/labels/bob.csv", 10, "pk"),
        ("data/labels/bob.csv", 11, "labelled_at"), ("data/labels/carol.json", str(users[5]["pk"]), "is_authentic"),
    ]
    assert all(q["reason"] for q in quarantined)
    assert quarantined[2]["reason"] == "expected 5 fields, got 3"
    rows, report = outputs(project)
    assert report["bad_rows"] == {"count": 6, "on_bad_row": "quarantine",
                                  "quarantine": "data/interim/label_quarantine.jsonl"}
    assert report["files"]["data/labels/bob.csv"]["bad_rows"] == 5
    # The good rows resolve exactly as without the bad ones.
    assert rows == by_index(users, {
        0: (1, "alice+bob+carol"), 1: (0, "alice+carol"), 2: (0, "bob"), 3: (0, "alice+bob"), 4: (0, "alice"),
        6: (1, "carol"), 7: (1, "alice"),
    })


def test_a_wrong_header_is_an_error_in_either_mode(labelled_project):
    project, _ = labelled_project
    (project / "data/labels/dave.csv").write_text("pk,label\n1,fake\n")
    set_label_params(project, on_bad_row="quarantine")
    result = run_stage(project, check=False)
    assert result.returncode == 2
    assert "data/labels/dave.csv:1: header: expected the columns pk,username,label,annotator,labelled_at" \
        in result.stderr


def test_globs_must_match_and_stay_in_the_tracked_directory(tmp_path):
    labels_dir = tmp_path / "data" / "labels"
    labels_dir.mkdir(parents=True)
    (labels_dir / "a.csv").write_text("")
    (tmp_path / "elsewhere.json").write_text("{}")
    assert sources.find_label_files(["data/labels/*.csv", "data/labels/a.csv"], tmp_path, labels_dir) == [
        labels_dir / "a.csv"]
    with pytest.raises(InputError, match=re.escape("'data/labels/typo.csv' matches no file")):
        sources.find_label_files(["data/labels/typo.csv"], tmp_path, labels_dir)
    with pytest.raises(InputError, match=re.escape("elsewhere.json: outside data/labels/")):
        sources.find_label_files(["*.json"], tmp_path, labels_dir)


def test_simulator_source_refuses_label_files_it_would_ignore(project):
    write_crawl(project)
    set_label_params(project, files=["data/labels/*.csv"])
    result = run_stage(project, check=False)
    assert result.returncode == 2
    assert "label_import.files: read only with label_import.source 'files'" in result.stderr


@pytest.mark.parametrize(("key", "value", "message"), [
    ("unsure", "fake", "label_import.unsure: expected one of 'authentic', 'drop', got 'fake'"),
    ("tie", "majority", "label_import.tie: expected one of 'fake', 'authentic', 'drop', got 'majority'"),
    ("on_bad_row", "skip", "label_import.on_bad_row: expected one of 'error', 'quarantine', got 'skip'"),
])
def test_policy_params_are_checked(project, key, value, message):
    set_label_params(project, **{key: value})
    with pytest.raises(ParamsError, match=message):
        load(project / "params.yaml")
