"""Delete the catalog, rebuild it from the WORM store alone, and compare: everything equal.
Both stores, both catalogs."""

from __future__ import annotations

import json
import os
from datetime import date

import pytest

from archive.catalog.base import RECORD_COLLECTIONS, Query
from archive.copies.rebuild import rebuild
from archive.domain.errors import InputError
from archive.domain.model import Description
from retention import cases, flags
from tests.support.catalogs import CATALOG_FACTORIES
from tests.support.retention import make_team


@pytest.fixture
def team(tmp_path, catalog, store):
    return make_team(tmp_path, catalog, store)


def snapshot(catalog) -> dict:
    items = sorted((i.to_record() for i in catalog.iter_items(Query())), key=lambda d: d["id"])
    return {
        "items": items,
        "versions": {d["id"]: [v.to_dict() for v in catalog.versions(d["id"])] for d in items},
        "objects": sorted((o.sha256, o.storage.key, o.storage.version_id)
                          for o in catalog.iter_objects()),
        "records": {c: catalog.list_records(c) for c in RECORD_COLLECTIONS if c != "meta"},
        "ledger": [e.to_dict() for e in catalog.ledger_entries()],
    }


def fill(team, tmp_path) -> None:
    """Items, a correction, a pending item, a case, a confirmed flag: every kind of state."""
    path = tmp_path / "cases.json"
    path.write_text(json.dumps([{"id": "SJ-1", "type": "general", "unit": "market-001",
                                 "opened": "2026-01-05"}]), encoding="utf-8")
    cases.import_register(team.engine, team["AR1"], path)
    a = team.put(activity_id="ACT-1", party="王五")
    b = team.put(activity_id="ACT-1", party="某某食品有限公司")
    team.put(case_id="SJ-1")
    pending = team.archive.archive_stream([os.urandom(900)], Description(kind="video"),
                                          team.setup.actor, team.archive.item(a).retain_until)
    assert pending.item.status == "pending-metadata"
    old = team.archive.item(b).description
    fixed = Description.from_dict({**old.to_dict(), "cause": "销售过期食品"})
    team.archive.correct(b, fixed, team["AR1"], "cause added")
    flags.confirm(team.engine, team["AP1"],
                  flags.raise_flag(team.engine, team["OF1"], a, "assault")["id"])
    cases.close(team.engine, team["AR1"], "SJ-1", date(2026, 5, 10))
    team.archive.finish_command()


def test_rebuilt_catalog_equals_the_lost_one(team, tmp_path, catalog):
    fill(team, tmp_path)
    before = snapshot(team.catalog)
    assert len(before["items"]) == 4 and len(before["ledger"]) > 10
    kind = "sqlite" if "sqlite" in type(catalog).__name__.lower() else "mongomock"
    with CATALOG_FACTORIES[kind](tmp_path / "rebuilt") as fresh:
        report = rebuild(team.archive, fresh)
        assert report.problems == [] and report.ledger_ok
        assert report.items == 4 and report.states_from_journal == 4
        after = snapshot(fresh)
        assert after == before
        with pytest.raises(InputError, match="not empty"):
            rebuild(team.archive, fresh)


def test_without_the_journal_the_store_still_gives_every_item(team, tmp_path, catalog):
    """Segments lost or forged: items come back from their signed metadata and locks alone,
    and the problem is named."""
    fill(team, tmp_path)
    before = snapshot(team.catalog)
    real_list = team.store.list_keys

    def no_journal(prefix=""):
        return (k for k in real_list(prefix) if not k[0].startswith("journal/"))

    team.store.list_keys = no_journal
    kind = "sqlite" if "sqlite" in type(catalog).__name__.lower() else "mongomock"
    with CATALOG_FACTORIES[kind](tmp_path / "rebuilt") as fresh:
        report = rebuild(team.archive, fresh)
        assert report.items == 4 and report.states_from_store == 4
        after = snapshot(fresh)
        assert [i["id"] for i in after["items"]] == [i["id"] for i in before["items"]]
        assert after["versions"] == before["versions"]
        by_id = {i["id"]: i for i in after["items"]}
        for i in before["items"]:  # the store's own lock says how long and whether held
            assert by_id[i["id"]]["legal_hold"] == i["legal_hold"]
            assert by_id[i["id"]]["retain_until"] >= i["retain_until"]
        assert after["ledger"] == []
        assert report.ledger_ok is False  # the checkpoints name entries no segment carries


def test_a_forged_journal_segment_is_named_and_left_out(team, tmp_path, catalog):
    """Somebody with write access to the store adds a segment claiming a person and a case:
    it is not signed by an archive key, so the rebuild leaves it out and says so."""
    from datetime import datetime, timedelta, timezone

    from archive.domain.canonical import canonical
    from archive.integrity.signing import SigningKey

    fill(team, tmp_path)
    before = snapshot(team.catalog)
    forger = SigningKey.generate(tmp_path / "forger.key")
    body = {"type": "custody.catalog-journal", "at": "2026-11-22T00:00:00Z", "catalog": "x",
            "ledger": [], "items": [], "records": [
                {"collection": "people", "id": "EVIL", "doc": {"id": "EVIL", "roles": [
                    "administrator"]}}]}
    team.store.put_blob("journal/zzzz-forged.json", canonical(
        {"segment": body, "key_id": forger.key_id, "signature": forger.sign(body)}),
        datetime.now(timezone.utc) + timedelta(days=1))
    kind = "sqlite" if "sqlite" in type(catalog).__name__.lower() else "mongomock"
    with CATALOG_FACTORIES[kind](tmp_path / "rebuilt") as fresh:
        report = rebuild(team.archive, fresh)
        assert [p["code"] for p in report.problems] == ["bad-segment"]
        assert fresh.get_record("people", "EVIL") is None
        assert snapshot(fresh) == before
