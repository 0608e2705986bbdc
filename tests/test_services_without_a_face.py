"""The services the command line calls, driven without click, as a second face would: they
check roles themselves, record a refusal once in the ledger and the access register, and
return plain data."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone

import pytest

import bootstrap
from archive import people, verification
from archive.copies.backup import back_up
from archive.copies.replica import replicate_archive
from archive.copies.restore import restore_items
from archive.domain.errors import IdentityError, InputError
from archive.domain.model import Description
from archive.integrity.signing import SigningKey
from archive.ledger.chain import Actor
from config import settings
from tests.support.archives import make_archive
from tests.support.catalogs import sqlite_catalog
from tests.support.stores import local_store


@pytest.fixture
def office(tmp_path, monkeypatch):
    """An archive with an administrator (P000) and an auditor (A01), keys held by the test."""
    monkeypatch.setenv("CUSTODY_TESTING", "1")
    monkeypatch.setenv("CUSTODY_TEST_PEOPLE_DIR", str(tmp_path / "people"))
    monkeypatch.delenv("CUSTODY_ACT_AS", raising=False)
    with sqlite_catalog(tmp_path) as catalog, local_store(tmp_path) as store:
        setup = make_archive(tmp_path, catalog, store)
        key = SigningKey.generate(tmp_path / "people" / "person-A01.key")
        people.register(catalog, "A01", "审计员甲", "auditor1", ["auditor"], key)
        setup.auditor = Actor("A01", key)
        yield setup


def _refusals(archive) -> list:
    return [e for e in archive.catalog.ledger_entries() if e.action == "refused"]


def test_a_refused_add_person_is_recorded_once_with_the_command_words(office):
    with pytest.raises(IdentityError, match="may not add people"):
        people.add_person(office.archive, office.auditor, "X1", "某人", "x1", ["officer"])
    [entry] = _refusals(office.archive)
    assert entry.details["attempted"] == "people add" and entry.details["by"] == "A01"
    assert entry.actor == "A01"  # signed by the person who was refused
    register = office.catalog.list_records("access_register")
    assert [(r["kind"], r["person"], r["action"]) for r in register] == \
        [("refusal", "A01", "people add")]
    assert people.person_of(office.catalog, "X1") is None
    assert not (office.key_dir.parent / "people" / "person-X1.key").exists()


def test_people_services_return_plain_data(office):
    out = people.add_person(office.archive, office.actor, "L1", "法制员乙", "l1", ["legal"],
                            positions=["法制股"], clearances=["personal-privacy"])
    assert out["roles"] == ["legal"] and out["key_file"].endswith("person-L1.key")
    json.dumps(out)  # plain data, as a web face would send it
    rows = {r["id"]: r for r in people.list_people(office.catalog)}
    assert rows["L1"]["positions"] == ["法制股"] and rows["L1"]["keys"] == 1
    assert people.change_person(office.archive, office.actor, "L1", "rekey")["key_id"]
    assert {r["id"]: r["keys"] for r in people.list_people(office.catalog)}["L1"] == 2
    with pytest.raises(InputError, match="nobody disables themselves"):
        people.change_person(office.archive, office.actor, "P000", "disable")
    out = people.change_grants(office.archive, office.actor, "L1", ["personal-privacy"], [],
                               revoke=True)
    assert out == {"person": "L1", "clearances": [], "positions": ["法制股"]}
    actions = [e.action for e in office.catalog.ledger_entries()]
    assert actions[-3:] == ["person-registered", "person-rekey", "person-revoke"]
    with pytest.raises(IdentityError):
        people.change_person(office.archive, office.auditor, "L1", "disable")
    assert _refusals(office.archive)[-1].details["attempted"] == "people disable"


def _item(archive, actor) -> str:
    start = datetime(2026, 3, 1, 1, tzinfo=timezone.utc)
    return archive.archive_stream([os.urandom(2000)], Description(
        kind="photo", unit="market-001", device_id="D1", officers=["P1"],
        recorded_start=start, recorded_end=start, party="王五"), actor,
        datetime.now(timezone.utc) + timedelta(days=30)).item.id


def test_verification_and_copies_check_roles_themselves(office, tmp_path):
    s = settings.load(None, home=tmp_path / "data")
    _item(office.archive, office.actor)
    with pytest.raises(IdentityError, match="takes the role auditor or archivist"):
        verification.run_verification(office.archive, office.actor, s, year=2026)
    record = verification.run_verification(office.archive, office.auditor, s, year=2026,
                                           everything=True)
    assert record["summary"]["failed"] == [] and record["lot"] == {"year": 2026, "size": 1}
    assert [r["id"] for r in verification.list_inspections(office.catalog)] == [record["id"]]
    with pytest.raises(IdentityError):
        back_up(office.archive, office.auditor, tmp_path / "backup")
    assert not (tmp_path / "backup").exists()
    opened = []
    with pytest.raises(IdentityError):  # refused before the replica is even opened
        replicate_archive(office.archive, office.auditor, lambda: opened.append(1))
    with pytest.raises(IdentityError):
        restore_items(office.archive, office.auditor, lambda: opened.append(1), ["x"])
    assert opened == []
    assert [e.details["attempted"] for e in _refusals(office.archive)] == \
        ["verify", "backup", "replicate", "restore"]
    doc = back_up(office.archive, office.actor, tmp_path / "backup")
    assert (tmp_path / "backup" / doc["file"]).exists()
    assert list(office.catalog.ledger_entries())[-1].action == "catalog-backup"


def test_initialize_and_rotate_without_a_face(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.delenv("CUSTODY_TESTING", raising=False)
    s = settings.load(None, home=tmp_path / "data")
    first = bootstrap.initialize(s)
    assert first["created"] is True and first["administrator"] == "admin"
    again = bootstrap.initialize(s)
    assert again["created"] is False and again["archive_key"] == first["archive_key"]
    archive = bootstrap.open_archive(s)
    try:
        actor = people.identify(archive)
    finally:
        archive.catalog.close()
    rotated = bootstrap.rotate_key(s, actor)
    assert rotated["previous"] == first["archive_key"]
    archive = bootstrap.open_archive(s)
    try:
        keys = people.list_archive_keys(archive)
        assert {k["key_id"]: k["current"] for k in keys} == {
            first["archive_key"]: False, rotated["key_id"]: True}
        assert archive.verify_ledger().ok
        assert [e.action for e in archive.catalog.ledger_entries()] == [
            "person-registered", "archive-key-created", "archive-key-rotated"]
    finally:
        archive.catalog.close()
        from tests.support.worm import release_all_for_tests

        release_all_for_tests(tmp_path)
