"""Disposal end to end against both WORM stores, with real expiry: locks of a few seconds that
the store itself sees run out by the wall clock."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta, timezone

import pytest

from archive.domain.errors import IdentityError, InputError
from archive.domain.model import Description
from retention import disposal, flags
from tests.support.retention import make_team

OLD = datetime(2025, 1, 2, 1, 0, tzinfo=timezone.utc)
LOCK_S = 4


@pytest.fixture
def team(tmp_path, catalog, store):
    return make_team(tmp_path, catalog, store)


def old_item(team, data: bytes | None = None, **fields) -> str:
    """An item recorded and archived in January 2025 (routine 6 months: long expired) whose
    store lock runs out in a few seconds."""
    d = Description(kind="video", unit="market-001", device_id="DSJ-1", officers=["OF1"],
                    recorded_start=OLD, recorded_end=OLD + timedelta(minutes=5),
                    party=fields.pop("party", "王五"), cause=fields.pop("cause", "无照经营"),
                    **fields)
    until = datetime.now(timezone.utc) + timedelta(seconds=LOCK_S)
    item = team.archive.archive_stream([data or os.urandom(2000)], d, team.setup.actor,
                                       until).item
    item.ingested_at = OLD + timedelta(days=1)
    team.catalog.save_state(item)
    return item.id


def test_dispose_end_to_end_with_real_expiry(team):
    shared = os.urandom(3000)
    gone = old_item(team)
    kept_by_other = old_item(team, data=shared, party="赵六")
    other = team.put(data=shared)  # fresh: needs the shared bytes for months yet
    flagged_later = old_item(team)
    held = old_item(team)
    flags.raise_flag(team.engine, team["OF1"], held, "objection")
    with pytest.raises(InputError, match="nothing is due"):
        disposal.propose(team.engine, team["AR1"])  # the locks have not run out yet
    time.sleep(LOCK_S + 1)

    doc = disposal.propose(team.engine, team["AR1"])
    listed = {e["item"] for e in doc["items"]}
    assert listed == {gone, kept_by_other, flagged_later}  # held and fresh items never listed
    with pytest.raises(IdentityError, match="other people"):
        disposal.approve(team.engine, team["AR1"], doc["id"], None)
    with pytest.raises(IdentityError, match="takes the role"):
        disposal.approve(team.engine, team["AU1"], doc["id"], None)
    disposal.approve(team.engine, team["AP1"], doc["id"], "同意")
    with pytest.raises(IdentityError, match="1 valid appraisal approvals of 2"):
        disposal.execute(team.engine, team["AR2"], doc["id"], ["AU1", "AU2"])
    disposal.approve(team.engine, team["AP2"], doc["id"], "同意")
    with pytest.raises(IdentityError, match="has not signed"):
        disposal.execute(team.engine, team["AR2"], doc["id"], ["AU1", "AU2"])
    disposal.witness(team.engine, team["AU1"], doc["id"])
    disposal.witness(team.engine, team["AU2"], doc["id"])
    with pytest.raises(IdentityError, match="cannot witness"):
        disposal.execute(team.engine, team["AR2"], doc["id"], ["AR2", "AU1"])
    flags.raise_flag(team.engine, team["OF1"], flagged_later, "complaint")  # after the list

    result = disposal.execute(team.engine, team["AR2"], doc["id"], ["AU1", "AU2"])
    destroyed = {t["id"] for t in result["destroyed"]}
    assert destroyed == {gone, kept_by_other}
    assert [x["item"] for x in result["left"]] == [flagged_later]
    assert "held" in result["left"][0]["reason"]

    g = team.archive.item(gone)
    assert g.status == "disposed"
    obj = g.storage["object"]
    assert obj["version_id"] not in team.store.versions(obj["key"])  # the bytes are gone
    for m in g.storage["manifests"]:
        assert m["version_id"] not in team.store.versions(m["key"])
    k = team.archive.item(kept_by_other)
    kobj = k.storage["object"]
    assert kobj["version_id"] in team.store.versions(kobj["key"])  # still needed by `other`
    assert team.archive.fixity(other)["digests_match"]
    f = team.archive.item(flagged_later)
    assert f.status == "archived" and team.archive.fixity(flagged_later)["digests_match"]

    tomb = team.catalog.get_record("tombstones", kept_by_other)
    assert tomb["party"] == "赵*" and tomb["cause"] == "无***" and tomb["object_kept_for"]
    assert tomb["sha256"] == k.sha256 and tomb["state"] == "destroyed"

    reg = json.loads(team.store.read_bytes(result["register"]["key"],
                                           result["register"]["version_id"]))
    assert team.archive.archive_keys.verify(reg["register"], reg["archive_signature"]["key_id"],
                                            reg["archive_signature"]["signature"])
    assert "销毁清册" in reg["register"]["text_zh"] and "王*" in reg["register"]["text_zh"]
    assert team.archive.verify_ledger().ok
    actions = [e.action for e in team.catalog.ledger_entries()]
    assert actions.count("deletion") == 2 and "dispose-execute" in actions

    # a second execution of the same list destroys nothing more and breaks nothing
    again = disposal.execute(team.engine, team["AR2"], doc["id"], ["AU1", "AU2"])
    assert again["destroyed"] == []
    assert {x["reason"] for x in again["left"]} >= {"already destroyed"}


def test_a_list_altered_in_the_catalog_is_refused(team):
    old_item(team)
    time.sleep(LOCK_S + 1)
    doc = disposal.propose(team.engine, team["AR1"])
    doc["items"][0]["item"] = "someone-else"
    team.catalog.put_record("disposals", doc["id"], doc)
    with pytest.raises(IdentityError, match="altered"):
        disposal.approve(team.engine, team["AP1"], doc["id"], None)


class Crash(Exception):
    pass


def test_an_execution_that_dies_midway_is_finished_and_registered_by_the_next(team,
                                                                               monkeypatch):
    from archive.catalog.base import Query
    from archive.verification import lot_ids

    ids = [old_item(team) for _ in range(2)]
    time.sleep(LOCK_S + 1)
    doc = disposal.propose(team.engine, team["AR1"])
    for p in ("AP1", "AP2"):
        disposal.approve(team.engine, team[p], doc["id"], None)
    for p in ("AU1", "AU2"):
        disposal.witness(team.engine, team[p], doc["id"])
    real_delete = team.store.delete_version
    calls = []

    def dies_on_the_third_delete(key, vid):
        calls.append(key)
        if len(calls) == 3:  # the first item done (manifest, object), the second half-way
            raise Crash("power cut")
        real_delete(key, vid)

    monkeypatch.setattr(team.store, "delete_version", dies_on_the_third_delete)
    with pytest.raises(Crash):
        disposal.execute(team.engine, team["AR2"], doc["id"], ["AU1", "AU2"])
    monkeypatch.setattr(team.store, "delete_version", real_delete)
    states = {team.catalog.get_record("tombstones", i)["state"] for i in ids}
    assert states == {"destroyed", "destroying"}  # one done, one named as under way

    result = disposal.execute(team.engine, team["AR2"], doc["id"], ["AU1", "AU2"])
    assert {t["id"] for t in result["destroyed"]} == set(ids)  # both in this register
    for i in ids:
        item = team.archive.item(i)
        assert item.status == "disposed"
        assert item.storage["object"]["version_id"] not in team.store.versions(
            item.storage["object"]["key"])
    assert not set(ids) & set(lot_ids(team.archive, Query()))  # verification skips them
    assert team.archive.verify_ledger().ok


def test_what_is_due_comes_from_the_due_date_index_not_from_every_item(team, monkeypatch):
    """The disposal page asks what is due on every load: the items whose locks have ended,
    from the due-date index, never a walk of the whole archive."""
    gone = old_item(team)
    fresh = [team.put() for _ in range(3)]
    time.sleep(LOCK_S + 1)

    def everything(*_args, **_kwargs):
        raise AssertionError("walked every item")

    monkeypatch.setattr(team.engine, "items", everything)
    monkeypatch.setattr(team.catalog, "iter_items", everything)
    read = []
    real = team.catalog.iter_due_items
    monkeypatch.setattr(team.catalog, "iter_due_items",
                        lambda *a, **k: [read.append(i.id) or i for i in real(*a, **k)])
    doc = disposal.propose(team.engine, team["AR1"])
    assert [e["item"] for e in doc["items"]] == [gone]
    assert gone in read and not set(fresh) & set(read)
    later = disposal.propose(team.engine, team["AR1"],
                             datetime.now(timezone.utc) + timedelta(days=3650))
    assert set(fresh) <= {e["item"] for e in later["items"]} | {h["item"] for h in later["held"]}
