"""``crawl.source``: dump files and the real API's session handling, through the crawl stage itself."""

import json
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.instagram.records import normalize_user, read_profiles
from pipeline.instagram.server import serve
from pipeline.instagram.world import World
from tests.conftest import sh

SEEDS = ("owner.one", "owner_two")


@pytest.fixture(scope="module")
def world():
    return World(seed=3, seed_usernames=SEEDS, accounts_per_seed=40, mistake_rate=0.03)


def set_params(project: Path, **crawl: object) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["crawl"].update(crawl)
    (project / "params.yaml").write_text(yaml.safe_dump(params))


def stage(project: Path, check: bool = True, **env: str):
    return sh([sys.executable, "-m", "pipeline.stages.crawl"], cwd=project, check=check, **env)


def test_files_keyed_by_pk_and_jsonl_feed_the_same_path(project, world):
    users = [p.user for p in world.profiles.values()]
    truth = {p.pk: p.truth == "authentic" for p in world.profiles.values()}
    # The article's format: one object keyed by pk, records carrying is_authentic (some without their pk).
    keyed = {str(u["pk"]): {**u, "is_authentic": truth[u["pk"]]} for u in users[:50]}
    for record in list(keyed.values())[:5]:
        del record["pk"]
    bad_pk = str(users[10]["pk"])
    keyed[bad_pk]["follower_count"] = "lots"
    (project / "dumps").mkdir()
    (project / "dumps" / "labelled.json").write_text(json.dumps(keyed))
    # JSON Lines: the rest, plus an unlabelled copy of one keyed record and a conflicting copy of another.
    lines = [*users[50:], users[20], {**users[30], "media_count": 1}]
    (project / "dumps" / "more.jsonl").write_text("".join(json.dumps(u) + "\n" for u in lines))
    set_params(project, source="files", files=["dumps/labelled.json", "dumps/more.jsonl"])

    result = stage(project)

    profiles = read_profiles(project / "data/raw/profiles.jsonl")
    expected = sorted(set(world.profiles) - {int(bad_pk)})
    assert [p["pk"] for p in profiles] == expected
    by_pk = {p["pk"]: p for p in profiles}
    assert by_pk[users[0]["pk"]]["is_authentic"] == truth[users[0]["pk"]]
    assert by_pk[users[60]["pk"]] == normalize_user(users[60])
    assert by_pk[users[20]["pk"]] == normalize_user(keyed[str(users[20]["pk"])])
    assert (project / "data/raw/graph.jsonl").read_text() == ""
    quarantine = [json.loads(line) for line in (project / "data/raw/quarantine.jsonl").read_text().splitlines()]
    assert [(q["pk"], q["field"]) for q in quarantine] == sorted(
        [(int(bad_pk), "follower_count"), (users[30]["pk"], "pk")])
    by_field = {q["field"]: q for q in quarantine}
    assert by_field["follower_count"]["where"].endswith(f"labelled.json: pk {bad_pk}")
    assert "'lots'" in by_field["follower_count"]["reason"]
    assert by_field["pk"]["where"].endswith(f"more.jsonl:{len(lines)}") and "duplicate" in by_field["pk"]["reason"]
    report = json.loads((project / "reports/crawl.json").read_text())
    assert report["source"] == "files" and report["profiles"] == len(expected) and report["quarantined"] == 2
    assert "2 records quarantined" in result.stderr and "labelled.json: pk" in result.stderr


@pytest.mark.parametrize(("files", "content", "message"), [
    (["missing.jsonl"], None, "missing.jsonl: crawl.files names a file that does not exist"),
    (["bad.jsonl"], '{"pk": 1}\n{"pk": \n', "bad.jsonl:2: not valid JSON"),
    ([], None, "crawl.files is empty"),
])
def test_bad_files_stop_with_one_line_naming_the_file(project, files, content, message):
    if content is not None:
        (project / files[0]).write_text(content)
    set_params(project, source="files", files=files)
    result = stage(project, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("igfake crawl: error: ")
    assert message in result.stderr and "Traceback" not in result.stderr


def test_instagram_without_session_says_what_to_set(project):
    set_params(project, source="instagram")
    result = stage(project, check=False)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("igfake crawl: error:") and "set the environment variable IG_SESSIONID" in line


def test_instagram_source_sends_the_session_and_never_writes_it(project, world):
    secret = "7130-s3cr3t-session-value"
    with serve(world, session_id=secret) as server:
        set_params(project, source="instagram", instagram_url=server.base_url, seed_accounts=list(SEEDS),
                   max_profiles=30)
        result = stage(project, IG_SESSIONID=secret)
        refused = server.faults_served["login_required"]
    assert refused == 0  # the cookie went with every request
    assert len(read_profiles(project / "data/raw/profiles.jsonl")) == 30
    assert secret not in result.stdout + result.stderr
    for path in project.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_a_wrong_session_aborts_with_what_to_do(project, world):
    with serve(world, session_id="the-right-one") as server:
        set_params(project, source="instagram", instagram_url=server.base_url, seed_accounts=list(SEEDS))
        result = stage(project, check=False, IG_SESSIONID="an-expired-one")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "login_required" in line and "IG_SESSIONID" in line and "an-expired-one" not in line


@pytest.mark.parametrize(("section", "key", "value", "message"), [
    ("crawl", "source", "ftp", "crawl.source: expected one of 'simulator', 'instagram', 'files', got 'ftp'"),
    ("crawl", "instagram_url", "i.instagram.com", "crawl.instagram_url: expected an http:// or https:// URL"),
    ("crawl", "requests_per_minute", -1, "crawl.requests_per_minute: expected a non-negative number, got -1"),
    ("faults", "reset_rate", 2, "simulator.faults.reset_rate: expected a number between 0 and 1, got 2"),
])
def test_bad_crawl_params_are_named(project, section, key, value, message):
    params = yaml.safe_load((project / "params.yaml").read_text())
    (params["simulator"]["faults"] if section == "faults" else params[section])[key] = value
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    result = stage(project, check=False)
    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_a_json_object_that_is_not_keyed_by_pk_is_named(project):
    (project / "dump.json").write_text(json.dumps({"users": [], "status": "ok"}, indent=2))
    set_params(project, source="files", files=["dump.json"])
    result = stage(project, check=False)
    assert result.returncode == 2
    assert "dump.json: a JSON object whose keys are not pks (e.g. 'users')" in result.stderr
