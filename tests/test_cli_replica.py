"""replicate, status, verify --copy and restore through the command line, with a local replica
and with an S3 replica (moto)."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone

import pytest

import bootstrap
from archive import people
from archive.catalog.base import Query
from archive.catalog.sqlite import SQLiteCatalog
from archive.domain.errors import ConfigError
from archive.domain.model import Description
from config import settings
from tests.support.cli import run, run_json  # noqa: F401
from tests.support.damage import damage

T0 = datetime(2026, 3, 1, 1, tzinfo=timezone.utc)


def _config(tmp_path, body: str):
    path = tmp_path / "custody.toml"
    path.write_text(body, encoding="utf-8")
    return path


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("CUSTODY_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("CUSTODY_TESTING", "1")
    monkeypatch.setenv("CUSTODY_TEST_PEOPLE_DIR", str(tmp_path / "people"))
    monkeypatch.delenv("CUSTODY_ACT_AS", raising=False)
    cfg = _config(tmp_path, f'[replica]\nbackend = "local"\npath = "{tmp_path / "replica"}"\n')
    monkeypatch.setenv("CUSTODY_CONFIG", str(cfg))
    yield monkeypatch
    from tests.support.worm import release_all_for_tests

    release_all_for_tests(tmp_path)


def _ingest(n: int, offset: int = 0) -> list[str]:
    archive = bootstrap.open_archive(settings.load())
    actor = people.acting_person(archive.catalog)
    until = datetime.now(timezone.utc) + timedelta(days=30)
    ids = []
    for i in range(offset, offset + n):
        start = T0 + timedelta(hours=i)
        ids.append(archive.archive_stream([os.urandom(2000)], Description(
            kind="photo", unit="market-001", device_id="D1", officers=["P1"],
            recorded_start=start, recorded_end=start, party="王五"), actor, until).item.id)
    archive.finish_command()
    archive.catalog.close()
    return ids


def _item(item_id: str):
    archive = bootstrap.open_archive(settings.load())
    try:
        return archive.item(item_id), archive.store
    finally:
        archive.catalog.close()


def _team():
    run("people", "add", "A01", "--name", "审计员甲", "--account", "auditor1",
        "--role", "auditor")


def test_init_replicate_status_verify_restore(home, tmp_path):
    out = run_json("init")
    assert out["replica"] == {"backend": "local", "location": str(tmp_path / "replica")}
    _team()
    ids = _ingest(3)
    st = run_json("status")
    assert st["replica"]["backend"] == "local" and st["items"]["total"] == 3
    assert st["lag"]["last_run"] is None and st["lag"]["items_behind"] == 3
    assert "never replicated; 3 items" in run("status").stdout

    home.setenv("CUSTODY_ACT_AS", "A01")
    assert "takes the role archivist or administrator" in run("replicate", code=2).stderr
    home.delenv("CUSTODY_ACT_AS")
    rep = run_json("replicate", "--rate", "50")
    assert rep["items_copied"] == 3 and rep["items_pending"] == 0 and rep["failed"] == []
    text = run("replicate").stdout
    assert "0 newly copied" in text and "0 failed" in text
    st = run_json("status")
    assert st["lag"]["up_to_date"] and st["lag"]["items_behind"] == 0
    assert "(up to date)" in run("status").stdout
    late = _ingest(1, offset=10)
    st = run_json("status")
    assert st["lag"]["items_behind"] == 1 and st["lag"]["item_ids"] == late
    behind = run("status").stdout
    assert "behind: " in behind and f"（{late[0]}）" in behind  # its 题名, then its id

    # damage one primary object behind the store's back
    item, store = _item(ids[1])
    obj = item.storage["object"]
    damage(store, obj["key"], obj["version_id"])
    home.setenv("CUSTODY_ACT_AS", "A01")
    query = ["--query", "unit=market-001", "--all"]
    report = run_json("verify", *query, code=1)
    assert report["summary"]["failed"] == [ids[1]]
    (tmp_path / "report.json").write_text(json.dumps(report), encoding="utf-8")
    replica_report = run_json("verify", *query, "--copy", "replica")
    assert replica_report["summary"]["failed"] == []
    assert replica_report["summary"]["not_replicated"] == late
    assert "尚未复制" in run("verify", *query, "--copy", "replica").stdout
    assert "takes the role" in run("restore", ids[1], code=2).stderr
    home.delenv("CUSTODY_ACT_AS")

    assert "one of them" in run("restore", code=2).stderr
    out = run_json("restore", "--from-report", str(tmp_path / "report.json"))
    assert out["restored"] == [ids[1]] and out["unrecoverable"] == []
    (done,) = out["results"][0]["restored"]
    assert done["copy"] == "primary" and done["failed_version"] == obj["version_id"]
    after, store = _item(ids[1])
    assert after.storage["object"]["version_id"] == done["new_version"]
    assert obj["version_id"] in store.versions(obj["key"])  # kept as evidence
    home.setenv("CUSTODY_ACT_AS", "A01")
    assert run_json("verify", *query)["summary"]["failed"] == []
    home.delenv("CUSTODY_ACT_AS")
    again = run("restore", ids[1]).stdout
    assert "both copies are good" in again and "1 already good" in again
    assert "not yet on the replica" in run("restore", late[0]).stdout

    # both copies bad: exit 1, the item named, nothing changed
    item, store = _item(ids[2])
    damage(store, item.storage["object"]["key"], item.storage["object"]["version_id"])
    from archive.worm.local import LocalWormStore

    replica = LocalWormStore(tmp_path / "replica")
    ref = item.storage["replica"]["object"]
    damage(replica, ref["key"], ref["version_id"], "delete")
    res = run("restore", ids[2], code=1)
    assert ids[2] in res.stdout and "no good copy of object" in res.stdout
    assert _item(ids[2])[0].storage == item.storage
    assert run_json("restore", "--from-report", str(tmp_path / "nope.json"),
                    code=2)["error"] == "bad-input"


def test_write_on_ingest(home, tmp_path):
    cfg = _config(tmp_path, f'[replica]\nbackend = "local"\npath = "{tmp_path / "replica"}"\n'
                            "write_on_ingest = true\n")
    home.setenv("CUSTODY_CONFIG", str(cfg))
    run("init")
    (item_id,) = _ingest(1)
    item, _store = _item(item_id)
    ref = item.storage["replica"]
    assert ref["object"]["key"] == item.storage["object"]["key"]
    assert [e["outcome"] for e in item.events if e["type"] == "replication"] == ["success"]
    assert run_json("status")["lag"]["items_behind"] == 0
    # the replica's disk goes away: ingest goes on, the item says why it has one copy
    from tests.support.worm import release_all_for_tests

    release_all_for_tests(tmp_path / "replica")
    os.rename(tmp_path / "replica", tmp_path / "replica-unplugged")
    (other,) = _ingest(1, offset=5)
    item, _ = _item(other)
    assert item.status == "archived" and "replica" not in item.storage
    (ev,) = [e for e in item.events if e["type"] == "replication"]
    assert ev["outcome"] == "failure" and "not there" in ev["reason"]
    os.rename(tmp_path / "replica-unplugged", tmp_path / "replica")
    assert run_json("replicate")["items_copied"] == 1


def test_s3_replica_through_the_command_line(home, tmp_path):
    from moto import mock_aws

    import tests.support.s3  # noqa: F401  (fake credentials)

    cfg = _config(tmp_path, '[replica]\nbackend = "s3"\nbucket = "custody-replica"\n')
    home.setenv("CUSTODY_CONFIG", str(cfg))
    with mock_aws():
        assert run_json("init")["replica"] == {"backend": "s3", "location": "custody-replica"}
        ids = _ingest(2)
        assert run_json("replicate")["items_copied"] == 2
        item, store = _item(ids[0])
        obj = item.storage["object"]
        damage(store, obj["key"], obj["version_id"], "delete")
        out = run_json("restore", *ids)
        assert out["restored"] == [ids[0]] and out["ok"] == [ids[1]]
        assert run_json("status")["lag"]["up_to_date"]


@pytest.mark.parametrize("body, key", [
    ('[replica]\nbackend = "s3"\n', "replica.bucket"),
    ('[replica]\nbackend = "local"\n', "replica.path"),
    ('[store]\npath = "/srv/worm"\n[replica]\nbackend = "local"\npath = "/srv/worm/"\n',
     "replica.path"),
    ('[store]\nbackend = "s3"\nbucket = "a"\n[replica]\nbackend = "s3"\nbucket = "a"\n',
     "replica.bucket"),
    ('[replica]\nwrite_on_ingest = true\n', "replica.write_on_ingest"),
    ('[replica]\nbackend = "tape"\n', "replica.backend"),
])
def test_replica_contradictions_are_refused(tmp_path, body, key):
    with pytest.raises(ConfigError) as err:
        settings.load(_config(tmp_path, body), home=tmp_path)
    assert key in str(err.value)


def test_a_replica_that_is_the_primary_directory_is_refused(tmp_path):
    s = settings.load(_config(tmp_path, f'[replica]\nbackend = "local"\n'
                                        f'path = "{tmp_path / "worm"}"\n'), home=tmp_path)
    from archive.domain.errors import InputError

    with pytest.raises(InputError, match="is the primary store"):
        bootstrap.open_replica(s, create=True)
    assert settings.load(_config(tmp_path, '[store]\nbackend = "s3"\nbucket = "a"\n'
                                           '[replica]\nbackend = "s3"\nbucket = "a"\n'
                                           'endpoint_url = "https://other.example"\n'),
                         home=tmp_path).section("replica")["bucket"] == "a"


def test_catalog_rebuilt_from_the_replica_alone(home, tmp_path):
    """Primary catalog lost and the primary store unreachable: the second copy holds enough
    (objects, signed metadata, journal segments, checkpoints) to make the catalog again."""
    run("init")
    ids = _ingest(3)
    run("replicate")
    into = tmp_path / "from-replica.sqlite"
    out = run_json("rebuild-catalog", "--from", "replica", "--into", str(into))
    assert out["items"] == 3 and out["ledger_ok"] and out["problems"] == []
    assert out["store"]["location"] == str(tmp_path / "replica")
    rebuilt = SQLiteCatalog(into)
    try:
        assert sorted(i.id for i in rebuilt.iter_items(Query())) == sorted(ids)
    finally:
        rebuilt.close()
