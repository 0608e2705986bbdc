"""Delete the catalog, rebuild it from the WORM store alone, and compare: everything equal.
Both stores, both catalogs."""

from __future__ import annotations

import pytest

from archive.copies.rebuild import rebuild
from archive.domain.errors import InputError
from tests.support.catalogs import CATALOG_FACTORIES
from tests.support.retention import fill, make_team, snapshot


@pytest.fixture
def team(tmp_path, catalog, store):
    return make_team(tmp_path, catalog, store)


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


def test_items_go_in_by_batches_and_a_refused_batch_goes_in_item_by_item(
        team, tmp_path, catalog, monkeypatch):
    """Items with one signed version are written a batch at a time, whole with their state;
    when the catalog refuses a batch, each of its items not already written is written alone:
    the one at fault is named once, the others are rebuilt, and nothing is counted twice."""
    from archive.copies import rebuild as rebuild_module
    from archive.domain.errors import DuplicateItem

    fill(team, tmp_path)
    before = snapshot(team.catalog)
    singles = [i["id"] for i in before["items"] if len(before["versions"][i["id"]]) == 1]
    assert len(singles) == 3  # and one corrected item, written version by version
    bad = singles[1]
    monkeypatch.setattr(rebuild_module, "BATCH", 2)
    kind = "sqlite" if "sqlite" in type(catalog).__name__.lower() else "mongomock"
    with CATALOG_FACTORIES[kind](tmp_path / "rebuilt") as fresh:
        real, calls = fresh.add_items, []

        def add_items(items):
            ids = [i.id for i in items]
            calls.append(ids)
            if bad in ids:
                real(items[:ids.index(bad)])  # as MongoDB does: those before it stay
                raise DuplicateItem("the other one")
            real(items)

        monkeypatch.setattr(fresh, "add_items", add_items)
        report = rebuild(team.archive, fresh)
        after = snapshot(fresh)
    assert [c for c in calls if len(c) > 1] == [singles[:2]]  # the batch, refused
    assert [(p["code"], p["key"]) for p in report.problems] == [("duplicate-item", bad)]
    assert report.items == 3 and report.states_from_journal == 4
    assert report.versions == sum(len(v) for v in before["versions"].values()) - 1
    assert after["items"] == [i for i in before["items"] if i["id"] != bad]
