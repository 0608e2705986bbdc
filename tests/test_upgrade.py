"""Upgrading an archive that exists: the catalog's schema version, refused when older (until
'custody upgrade') or newer, and the upgrade of a catalog the code before versions made
(tests/fixtures/archive-v1.tar.gz, see its README), after which everything old verifies."""

from __future__ import annotations

import hashlib
import re
import sqlite3
import tarfile
from pathlib import Path

import mongomock
import pytest

from archive.catalog import schema
from archive.catalog.base import Query
from archive.catalog.consistency import check_catalog
from archive.catalog.mongo import MongoCatalog
from archive.catalog.sqlite import SQLiteCatalog
from archive.copies.upgrade import upgrade_catalog
from archive.domain.errors import IdentityError
from archive.domain.model import dedupe_key
from archive.service import Archive
from tests.support.archives import make_archive
from tests.support.builders import make_item
from tests.support.cli import run, run_json
from tests.support.mongo import atomic_mongomock_writes
from tests.support.stores import local_store
from tests.support.worm import release_all_for_tests

FIXTURE = Path(__file__).parent / "fixtures" / "archive-v1.tar.gz"
CORRECTED = "01a233b6-4fa8-7286-af8f-5e6cca8203e7"  # clip.mp4: pending, then completed (v2)
VIDEO = "01a233b6-4fcc-72f1-bc46-bc1e7b107b83"  # case SJ-2026-0042, flagged, exported
REQUEST = "01a233b6-529e-73bb-b012-cdc0c845e02a"  # approved for one extract, exported once


@pytest.fixture
def v1(tmp_path, monkeypatch):
    """The archive of custody 0ab446f, unpacked, with its people's keys held for the test."""
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(tmp_path)  # our own fixture: no path leads outside it
    root = tmp_path / "archive-v1"
    monkeypatch.setenv("HOME", str(root / "user"))
    monkeypatch.setenv("CUSTODY_HOME", str(root / "data"))
    monkeypatch.setenv("CUSTODY_CONFIG", str(root / "custody.toml"))
    monkeypatch.setenv("CUSTODY_TESTING", "1")
    monkeypatch.setenv("CUSTODY_TEST_PEOPLE_DIR", str(root / "people"))
    monkeypatch.delenv("CUSTODY_ACT_AS", raising=False)
    yield root
    release_all_for_tests(tmp_path)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _as(monkeypatch, person: str | None) -> None:
    if person is None:
        monkeypatch.delenv("CUSTODY_ACT_AS", raising=False)
    else:
        monkeypatch.setenv("CUSTODY_ACT_AS", person)


def _sqlite_schema(path: Path) -> set[tuple[str, str, str]]:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL "
                          "AND name NOT LIKE 'sqlite_%'").fetchall()
    db.close()
    return {(t, n, re.sub(r"\s+", "", sql)) for t, n, sql in rows}


def test_the_v1_catalog_is_refused_then_upgraded_and_everything_old_verifies(
        v1, monkeypatch, tmp_path):
    catalog = v1 / "data" / "catalog.sqlite"
    before = _digest(catalog)
    # refused, naming both versions and what to do; nothing written to it
    err = run("search", code=3).stderr
    assert "schema version 1" in err and f"uses {schema.current()}" in err
    assert "custody upgrade" in err
    refused = run_json("audit", "verify", code=3)
    assert refused["error"] == "catalog-version" and refused["catalog_version"] == 1
    assert _digest(catalog) == before
    # the upgrade is an archivist's or administrator's
    _as(monkeypatch, "O1")
    assert "may not upgrade the catalog" in run("upgrade", code=2).stderr
    _as(monkeypatch, "AR1")
    out = run_json("upgrade", "--backup-to", str(tmp_path / "backups"))
    assert (out["from"], out["to"], out["upgraded"]) == (1, schema.current(), True)
    assert [s["version"] for s in out["steps"]] == list(range(2, schema.current() + 1))
    backup = tmp_path / "backups" / out["backup"]["file"]
    assert backup.exists() and _digest(backup) == out["backup"]["sha256"]
    with sqlite3.connect(backup) as db:  # the backup is the catalog as it was: version 1
        assert db.execute("PRAGMA user_version").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM items").fetchone()[0] == 4
    db.close()
    assert "nothing to do" in run("upgrade").stdout  # idempotent, and says so
    # each step and the backup in the ledger, signed by the archivist
    _as(monkeypatch, None)
    audit = run_json("audit", "verify")
    assert audit["ok"] is True, audit
    assert audit["items_checked"] == 4 and audit["index_problems"] == []
    with sqlite3.connect(catalog) as db:
        actions = [r for r in db.execute("SELECT action, actor FROM ledger WHERE action LIKE "
                                         "'catalog-%' ORDER BY seq")]
        assert db.execute("PRAGMA user_version").fetchone()[0] == schema.current()
    db.close()
    assert actions == [("catalog-backup", "AR1")] + [("catalog-upgrade", "AR1")] * (
        schema.current() - 1)
    # the upgraded schema is the schema a new catalog gets
    fresh = tmp_path / "fresh.sqlite"
    SQLiteCatalog(fresh).close()
    assert _sqlite_schema(catalog) == _sqlite_schema(fresh)
    # old signed versions verify; old items read back; the old correction is two versions
    _as(monkeypatch, "AU1")
    verified = run_json("verify", "--year", "2026", "--all", "--seed", "1")
    assert verified["summary"]["checked"] == 4 and verified["summary"]["failed"] == []
    _as(monkeypatch, None)
    shown = run_json("show", CORRECTED, "--lock")
    assert shown["signature_valid"] and len(shown["versions"]) == 2
    assert shown["description"]["party"] == "赵六" and shown["problems"] == []
    # searches, and the case linked by hand before the upgrade is now found by its case
    assert len(run_json("search", "--party", "王五")["items"]) == 2
    assert [r["id"] for r in run_json("search", "--case", "SJ-2026-0050")["items"]] == [
        CORRECTED]
    assert run_json("search", "--count-by", "case_id")["counts"]["SJ-2026-0042"] == 2
    # the old approval (no use count) and its export package
    requests = run_json("access", "list")["requests"]
    assert [r["id"] for r in requests] == [REQUEST]
    pem = next((v1 / "data" / "keys" / "public").glob("*.pem"))
    assert run_json("verify-export", str(v1 / "export"), "--key", str(pem))["ok"] is True


def test_a_newer_catalog_is_refused_and_never_written(v1, monkeypatch):
    catalog = v1 / "data" / "catalog.sqlite"
    _as(monkeypatch, "AR1")
    run("upgrade")
    with sqlite3.connect(catalog) as db:
        db.execute(f"PRAGMA user_version={schema.current() + 1}")
    db.close()
    before = _digest(catalog)
    err = run("search", code=3).stderr
    assert f"schema version {schema.current() + 1}, newer" in err
    assert "never goes back" in run("upgrade", code=3).stderr
    assert _digest(catalog) == before


def test_a_new_catalog_is_made_at_the_current_version(tmp_path):
    cat = SQLiteCatalog(tmp_path / "c.sqlite")
    assert cat.schema_version == schema.current()
    cat.close()
    with sqlite3.connect(tmp_path / "c.sqlite") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == schema.current()
    db.close()
    assert SQLiteCatalog(tmp_path / "c.sqlite").schema_version == schema.current()


def test_every_step_has_a_function_for_every_backend():
    assert schema.check_registry() == []
    assert schema.current() >= 2
    for s in schema.STEPS.values():
        for backend in schema.BACKENDS:
            assert callable(s.function(backend))


def test_steps_are_idempotent_on_a_current_catalog(catalog):
    a = make_item(case_id="C1")
    b = make_item()
    catalog.add_items([a, b])
    b = catalog.get_item(b.id)
    b.retention = {"cases": ["C2"]}
    catalog.save_state(b)
    schema.reapply(catalog)
    schema.reapply(catalog)
    assert catalog.count_by("case_id") == {"C1": 1, "C2": 1}
    for item in (a, b):
        item = catalog.get_item(item.id)
        assert catalog.index_state(item.id) == catalog.expected_index(item)


def _downgrade_to_v1(client) -> None:
    """The MongoDB catalog as custody 0ab446f left it: no schema document, no case array on
    the items, the index on the description's case instead."""
    db = client["custody"]
    db["items"].update_many({}, {"$unset": {"cases": ""}})
    db["items"].drop_index("cases_1_sort_1")
    db["items"].create_index([("case_id", 1), ("sort", 1)])
    db["catalog_meta"].delete_many({})


def test_a_v1_mongodb_catalog_is_upgraded(tmp_path):
    with atomic_mongomock_writes(), local_store(tmp_path) as store:
        client = mongomock.MongoClient()
        setup = make_archive(tmp_path, MongoCatalog(client), store)
        named, linked = make_item(case_id="C1"), make_item()
        for i in (named, linked):  # mongomock's unique index ignores the partial filter
            i.dedupe = dedupe_key(i.sha256, i.description)
        setup.catalog.add_items([named, linked])
        item = setup.catalog.get_item(linked.id)
        item.retention = {"cases": ["C2"]}
        setup.catalog.save_state(item)
        fresh_indexes = sorted(client["custody"]["items"].index_information())
        _downgrade_to_v1(client)

        old = MongoCatalog(client)
        assert old.schema_version == 1
        assert "cases_1_sort_1" not in old.db["items"].index_information()
        with pytest.raises(schema.CatalogVersionError, match="custody upgrade"):
            schema.refuse_other_version(old)
        archive = Archive(old, store, setup.archive.key, setup.archive.archive_keys)
        report = upgrade_catalog(archive, setup.actor, tmp_path / "backups")
        assert (report["from"], report["to"]) == (1, schema.current())
        assert report["backup"]["method"] == "documents"
        assert report["backup"]["collections"]["items"] == 2
        assert (tmp_path / "backups" / report["backup"]["file"]).exists()
        assert MongoCatalog(client).schema_version == schema.current()
        assert sorted(client["custody"]["items"].index_information()) == fresh_indexes
        assert [i.id for i in old.search(Query(case_id="C2")).items] == [linked.id]
        assert check_catalog(old, None)["problems"] == []
        assert upgrade_catalog(archive, setup.actor, tmp_path / "b2")["upgraded"] is False
        steps = len(schema.missing_steps(1))  # one entry per step, after the backup
        assert [e.action for e in old.ledger_entries()][-1 - steps:] == (
            ["catalog-backup"] + ["catalog-upgrade"] * steps)
        client.close()


def test_upgrade_refused_for_who_may_not(tmp_path):
    with atomic_mongomock_writes(), local_store(tmp_path) as store:
        client = mongomock.MongoClient()
        setup = make_archive(tmp_path, MongoCatalog(client), store)
        from archive import people
        from archive.integrity.signing import SigningKey
        from archive.ledger.chain import Actor

        key = SigningKey.generate(tmp_path / "keys" / "person-O1.key")
        people.register(setup.catalog, "O1", "执法员", "o1", ["officer"], key)
        _downgrade_to_v1(client)
        old = MongoCatalog(client)
        archive = Archive(old, store, setup.archive.key, setup.archive.archive_keys)
        with pytest.raises(IdentityError):
            upgrade_catalog(archive, Actor("O1", key), tmp_path / "backups")
        assert MongoCatalog(client).schema_version == 1
        assert not (tmp_path / "backups").exists()
        client.close()
