"""custody backup and custody rebuild-catalog through the command line; the mongodump path as
far as it can be tested here (no MongoDB tools can be installed)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

import bootstrap
from archive import people
from archive.copies.backup import backup
from archive.domain.errors import ServiceUnavailable
from archive.domain.model import Description
from config import settings
from tests.support.catalogs import CATALOG_FACTORIES
from tests.support.cli import run, run_json  # noqa: F401
from tests.support.office import office  # noqa: F401


def _items(n: int) -> None:
    archive = bootstrap.open_archive(settings.load())
    actor = people.acting_person(archive.catalog)
    until = datetime.now(timezone.utc) + timedelta(days=30)
    for i in range(n):
        archive.archive_stream([os.urandom(2000)], Description(
            kind="photo", unit="market-001", device_id="D1", officers=["P1"], party="王五",
            recorded_start=datetime(2026, 3, 1, 1, i, tzinfo=timezone.utc)), actor, until)
    archive.finish_command()
    archive.catalog.close()


def test_backup_is_a_consistent_checked_copy(office, tmp_path):  # noqa: F811
    _items(3)
    office.setenv("CUSTODY_ACT_AS", "OF1")
    assert "may not back up" in run("backup", "--to", str(tmp_path / "b"), code=2).stderr
    office.setenv("CUSTODY_ACT_AS", "AR1")
    doc = run_json("backup", "--to", str(tmp_path / "b"))
    copy = tmp_path / "b" / doc["file"]
    assert doc["items"] == 3 and doc["integrity_check"] == "ok"
    db = sqlite3.connect(copy)
    assert db.execute("SELECT count(*) FROM items").fetchone()[0] == 3
    db.close()
    side = json.loads(copy.with_suffix(".json").read_text(encoding="utf-8"))
    assert side["sha256"] == doc["sha256"]
    assert "backed up" in run("backup", "--to", str(tmp_path / "b")).stdout


def test_rebuild_catalog_from_the_store(office, tmp_path):  # noqa: F811
    _items(4)
    office.setenv("CUSTODY_ACT_AS", "AR1")
    run("flag", run_json("search")["items"][0]["id"], "--reason", "complaint")
    before = run_json("search")["items"]
    into = tmp_path / "rebuilt.sqlite"
    out = run_json("rebuild-catalog", "--into", str(into))
    assert out["items"] == 4 and out["ledger_ok"] and out["problems"] == []
    assert "exists" in run("rebuild-catalog", "--into", str(into), code=2).stderr
    # the configured catalog is not empty: never merged into
    assert "not empty" in run("rebuild-catalog", code=2).stderr
    # lose the catalog, rebuild it where it was, and search again
    home = tmp_path / "data"
    for p in home.glob("catalog.sqlite*"):
        p.unlink()
    lost = run("search", code=3).stderr  # a lost catalog is not an empty archive
    assert "rebuild-catalog" in lost
    assert "rebuild-catalog" in run("init", code=3).stderr  # nor a new beginning
    text = run("rebuild-catalog").stdout
    assert "4 items" in text and "ledger verifies" in text
    assert run_json("search")["items"] == before
    assert run_json("audit", "verify")["ok"]


def test_mongodump_missing_is_a_service_unavailable(tmp_path):
    if shutil.which("mongodump"):
        pytest.skip("mongodump is installed here")
    with CATALOG_FACTORIES["mongomock"](tmp_path) as cat:
        with pytest.raises(ServiceUnavailable, match="mongodump"):
            backup(cat, tmp_path / "b", "mongodb://db1/?replicaSet=rs0")
