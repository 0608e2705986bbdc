"""Carrier migration: the embedded default (SQLite + local WORM directory) to MongoDB (mongomock)
+ S3 Object Lock (moto), compared on everything; resumed after dying midway; and through the
command line, killed with SIGKILL and run again."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import bootstrap
from archive.catalog.base import Query
from archive.catalog.sqlite import SQLiteCatalog
from archive.copies.migrate import migrate
from archive.copies.rebuild import rebuild
from archive.domain.errors import InputError
from archive.people import people_keyring
from archive.service import Archive
from archive.verification import verify_item
from archive.worm.local import LocalWormStore
from config import settings
from tests.support.catalogs import CATALOG_FACTORIES
from tests.support.cli import run, run_json  # noqa: F401
from tests.support.pairs import store_pair
from tests.support.retention import fill, make_team, snapshot
from tests.support.worm import release_all_for_tests

REPO = Path(__file__).resolve().parents[1]


def without_places(snap: dict) -> dict:
    """A snapshot less where the bytes live (the version ids the new store gave them)."""
    out = copy.deepcopy(snap)
    for item in out["items"]:
        obj = item["storage"].get("object")
        if obj:
            for k in ("backend", "location", "version_id", "lock", "migrated_from"):
                obj.pop(k, None)
        for m in item["storage"].get("manifests", []):
            m.pop("version_id")
    out["objects"] = sorted(o[:2] for o in out["objects"])
    return out


@pytest.fixture
def source(tmp_path):
    catalog = SQLiteCatalog(tmp_path / "source.sqlite")
    team = make_team(tmp_path, catalog, LocalWormStore(tmp_path / "source-worm"))
    fill(team, tmp_path)
    yield team
    catalog.close()
    release_all_for_tests(tmp_path)


@pytest.fixture
def target(tmp_path, source):
    with store_pair("local-s3", tmp_path / "pair") as (_unused, s3), \
            CATALOG_FACTORIES["mongomock"](tmp_path / "target") as cat:
        yield Archive(cat, s3, source.archive.key, source.archive.archive_keys)


def test_default_to_mongodb_and_s3_equal_on_everything(source, target, tmp_path):
    before = snapshot(source.catalog)
    src_keys = sorted((k, n) for k, _v, n in source.store.list_keys(""))
    report = migrate(source.archive, target, source["AR1"])
    assert report.failed == [] and report.items == 4
    assert report.verified_objects == 4 and report.verified_versions == 5
    after = snapshot(target.catalog)
    assert without_places(after)["items"] == without_places(before)["items"]
    assert after["versions"] == before["versions"] and after["records"] == before["records"]
    assert after["ledger"][:-1] == before["ledger"]  # as they were, hashes and signatures
    assert after["ledger"][-1]["action"] == "migration"
    assert without_places(after)["objects"] == without_places(before)["objects"]
    for item in target.catalog.iter_items(Query()):
        assert item.storage["object"]["backend"] == "s3"
        got = verify_item(target, item)
        assert got["ok"], got["problems"]
        src_lock = source.archive.item(item.id).storage["object"]["lock"]
        assert item.storage["object"]["lock"]["legal_hold"] == src_lock["legal_hold"]
        assert item.storage["object"]["lock"]["retain_until"] >= src_lock["retain_until"]
    verdict = target.ledger.verify(target.archive_keys, people_keyring(target.catalog))
    assert verdict.ok, verdict.problems
    assert sorted((k, n) for k, _v, n in source.store.list_keys("")) == src_keys  # untouched
    signed = json.loads(target.store.read_bytes(report.stored_at["key"],
                                                report.stored_at["version_id"]))
    assert target.archive_keys.verify(signed["report"], signed["archive_signature"]["key_id"],
                                      signed["archive_signature"]["signature"])
    assert "载体转换" in signed["report"]["text_zh"]
    # the target store alone rebuilds the target catalog
    target.finish_command()
    with CATALOG_FACTORIES["sqlite"](tmp_path / "again") as fresh:
        rebuilt = rebuild(target, fresh)
        assert rebuilt.problems == [] and rebuilt.ledger_ok
        assert snapshot(fresh) == snapshot(target.catalog)


def test_a_migration_that_died_midway_resumes(source, target, monkeypatch):
    import archive.copies.migrate as m

    calls = {"n": 0}
    real = m._item

    def dies_on_the_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("power cut")
        return real(*args, **kwargs)

    monkeypatch.setattr(m, "_item", dies_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        migrate(source.archive, target, source["AR1"])
    monkeypatch.setattr(m, "_item", real)
    report = migrate(source.archive, target, source["AR1"])
    assert report.failed == [] and report.store["copied"] == 0  # nothing copied twice
    assert without_places(snapshot(target.catalog))["items"] == \
        without_places(snapshot(source.catalog))["items"]


def test_same_backends_refused(source):
    with pytest.raises(InputError, match="same catalog or store"):
        migrate(source.archive, source.archive, source["AR1"])


def _cli(home: Path, env: dict, *args: str, fault: int | None = None):
    e = dict(env, CUSTODY_HOME=str(home), PYTHONPATH=str(REPO))
    if fault is not None:
        e.update(CUSTODY_FAULT="migrate-item", CUSTODY_FAULT_AFTER=str(fault))
    return subprocess.run([sys.executable, "-m", "cli", *args], env=e, capture_output=True,
                          text=True, timeout=300, cwd=REPO)


def test_cli_migrate_killed_and_resumed(tmp_path, monkeypatch):
    home = tmp_path / "data"
    env = dict(os.environ, HOME=str(tmp_path / "user"), CUSTODY_TESTING="1",
               CUSTODY_TEST_PEOPLE_DIR=str(tmp_path / "people"))
    env.pop("CUSTODY_CONFIG", None)
    env.pop("CUSTODY_ACT_AS", None)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("CUSTODY_HOME", str(home))
    run("init")
    archive = bootstrap.open_archive(settings.load())
    from datetime import datetime, timedelta, timezone

    from archive import people
    from archive.domain.model import Description
    from tests.support.retention import TEAM  # noqa: F401

    actor = people.acting_person(archive.catalog)
    until = datetime.now(timezone.utc) + timedelta(days=30)
    for n in range(6):
        archive.archive_stream([os.urandom(3000)], Description(
            kind="photo", unit="market-001", device_id="D1", officers=["P1"],
            recorded_start=datetime(2026, 3, 1, 1, n, tzinfo=timezone.utc)), actor, until)
    archive.finish_command()
    archive.catalog.close()
    conf = tmp_path / "new.toml"
    conf.write_text(f'[catalog]\npath = "{tmp_path / "new.sqlite"}"\n'
                    f'[store]\npath = "{tmp_path / "new-worm"}"\n', encoding="utf-8")
    died = _cli(home, env, "migrate", "--to", str(conf), fault=3)
    assert died.returncode == -9, died.stderr
    done = _cli(home, env, "migrate", "--to", str(conf), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["failed"] == [] and report["verified_objects"] == 6
    src = SQLiteCatalog(home / "catalog.sqlite")
    dst = SQLiteCatalog(tmp_path / "new.sqlite")
    try:
        assert without_places(snapshot(dst))["items"] == without_places(snapshot(src))["items"]
        assert [e.hash for e in dst.ledger_entries()][:len(list(src.ledger_entries()))] == \
            [e.hash for e in src.ledger_entries()]
    finally:
        src.close()
        dst.close()
        release_all_for_tests(tmp_path)


def test_a_restored_object_migrates_its_good_version_and_leaves_the_damaged_as_evidence(
        source, target):
    from tests.support.damage import damage

    item = next(i for i in source.catalog.iter_items(Query()) if i.status != "disposed")
    obj = item.storage["object"]
    damage(source.store, obj["key"], obj["version_id"])
    data = source.store.read_bytes(obj["key"], obj["version_id"])
    good = bytes([data[0] ^ 0xFF]) + data[1:]  # undo the flip: the bytes as archived
    v2 = source.store.put_object([good], item.sha256, len(good), item.retain_until,
                                 item.legal_hold, new_version=True)
    item.storage["failed_versions"] = [{"copy": "primary", "key": obj["key"],
                                        "version_id": obj["version_id"],
                                        "problem": "digest-mismatch"}]
    item.storage["object"] = {**obj, "version_id": v2.version_id}
    source.catalog.save_state(item)

    report = migrate(source.archive, target, source["AR1"])
    assert report.failed == [], report.failed
    assert report.left_as_evidence == [{"key": obj["key"], "version_id": obj["version_id"]}]
    moved = target.item(item.id)
    assert len(target.store.versions(obj["key"])) == 1
    assert verify_item(target, moved)["ok"]
    assert moved.storage["failed_versions"][0]["left_in"].startswith("local ")
    again = migrate(source.archive, target, source["AR1"])  # resumed: nothing twice
    assert again.store["copied"] == 0 and len(target.store.versions(obj["key"])) == 1
