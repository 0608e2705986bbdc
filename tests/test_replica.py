"""The second copy and restore, on every pair of backends: replicate (resumable, locks and
holds follow), ingest writing both copies, verification of either copy, and restore of a copy
damaged behind its store's back."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime, timedelta, timezone

import pytest

from archive import verification
from archive.catalog.sqlite import SQLiteCatalog
from archive.copies import replica as rep_mod
from archive.copies import restore as restore_mod
from archive.copies.sync import read_verified
from archive.domain.model import Description
from archive.ledger.chain import CHECKPOINT_PREFIX
from tests.support.archives import make_archive
from tests.support.damage import damage
from tests.support.pairs import PAIRS, store_pair

T0 = datetime(2026, 3, 1, 1, tzinfo=timezone.utc)


def _later(**kw):
    return datetime.now(timezone.utc) + timedelta(**kw)


@pytest.fixture(params=PAIRS)
def setup(request, tmp_path):
    with store_pair(request.param, tmp_path) as (primary, copy):
        catalog = SQLiteCatalog(tmp_path / "catalog.sqlite")
        s = make_archive(tmp_path, catalog, primary)
        s.replica = copy
        yield s
        catalog.close()


def _ingest(s, n=3, size=3000, hold=False):
    items = []
    for i in range(n):
        start = T0 + timedelta(hours=i, minutes=len(s.catalog.list_records("meta")))
        d = Description(kind="photo", unit="market-001", device_id="D1", officers=["P1"],
                        recorded_start=start, recorded_end=start, party="王五")
        items.append(s.archive.archive_stream([os.urandom(size)], d, s.actor,
                                              _later(days=30 + i), legal_hold=hold).item)
    return [s.archive.item(i.id) for i in items]


def _replica_bytes(s, item):
    ref = item.storage["replica"]["object"]
    return s.replica.read_bytes(ref["key"], ref["version_id"])


def test_replicate_copies_everything_and_records_each_item(setup):
    s = setup
    items = _ingest(s)
    s.archive.finish_command()  # a ledger checkpoint in the primary store
    out = rep_mod.replicate(s.archive, s.replica, s.actor)
    assert out["items_copied"] == 3 and out["items_pending"] == 0 and not out["failed"]
    for item in items:
        item = s.archive.item(item.id)
        assert hashlib.sha256(_replica_bytes(s, item)).hexdigest() == item.sha256
        (m,) = item.storage["replica"]["manifests"]
        assert m["key"] == item.storage["manifests"][0]["key"]
        assert [e["type"] for e in item.events].count("replication") == 1
    # everything in the primary store, not only items: keys, checkpoints
    src = {k for k, _v, _n in s.store.list_keys()}
    dst = {k for k, _v, _n in s.replica.list_keys()}
    assert src <= dst
    assert any(k.startswith("keys/archive/") for k in dst)
    assert any(k.startswith(CHECKPOINT_PREFIX) for k in dst)
    # the run's own checkpoint and journal segment are on the replica already
    assert s.replica.versions(out["checkpoint"])
    segments = {k for k, _v, _n in s.store.list_keys("journal/")}
    assert segments and segments <= {k for k, _v, _n in s.replica.list_keys("journal/")}
    assert s.catalog.get_record("meta", "replication")["items_copied"] == 3
    entries = [e for e in s.catalog.ledger_entries() if e.action == "replication"]
    assert entries and entries[-1].details["items_copied"] == 3
    assert rep_mod.lag(s.archive)["up_to_date"]


def test_replicate_is_resumable_and_copies_nothing_twice(setup):
    s = setup
    items = _ingest(s, n=4)
    first = rep_mod.replicate(s.archive, s.replica, s.actor, stop_after=3)
    assert first["interrupted"] and first["items_pending"] > 0
    copied_first = first["versions"]["copied"]
    second = rep_mod.replicate(s.archive, s.replica, s.actor)
    assert second["versions"]["present"] >= copied_first
    assert second["items_pending"] == 0
    third = rep_mod.replicate(s.archive, s.replica, s.actor)
    assert third["versions"]["copied"] <= 1  # only the second run's own checkpoint/ledger
    for item in items:
        item = s.archive.item(item.id)
        assert len(s.replica.versions(item.storage["object"]["key"])) == 1
        assert len(s.replica.versions(item.storage["manifests"][0]["key"])) == 1
        assert [e["type"] for e in item.events].count("replication") == 1


def test_lock_and_hold_changes_reach_the_replica(setup):
    s = setup
    a, b = _ingest(s, n=2)
    rep_mod.replicate(s.archive, s.replica, s.actor)
    obj = a.storage["object"]
    s.store.extend_retention(obj["key"], obj["version_id"], _later(days=400))
    s.store.set_legal_hold(obj["key"], obj["version_id"], True)
    ref = s.archive.item(a.id).storage["replica"]["object"]
    assert not s.replica.lock(ref["key"], ref["version_id"]).legal_hold
    rep_mod.replicate(s.archive, s.replica, s.actor)
    lock = s.replica.lock(ref["key"], ref["version_id"])
    assert lock.legal_hold and lock.retain_until >= _later(days=399)
    refb = s.archive.item(b.id).storage["replica"]["object"]
    assert not s.replica.lock(refb["key"], refb["version_id"]).legal_hold


def test_lag_counts_items_since_the_last_run(setup):
    s = setup
    lag0 = rep_mod.lag(s.archive)
    assert lag0["last_run"] is None and lag0["items_behind"] == 0
    _ingest(s, n=2)
    assert rep_mod.lag(s.archive)["items_behind"] == 2
    rep_mod.replicate(s.archive, s.replica, s.actor)
    assert rep_mod.lag(s.archive)["items_behind"] == 0
    (late,) = _ingest(s, n=1)
    lag = rep_mod.lag(s.archive)
    assert lag["items_behind"] == 1 and lag["item_ids"] == [late.id]
    assert lag["last_run"]["finished_at"] and not lag["up_to_date"]


def test_ingest_writes_both_copies_and_survives_a_failing_replica(setup):
    s = setup
    s.archive.replica = s.replica
    s.archive.second_copy = rep_mod.copy_item
    (item,) = _ingest(s, n=1)
    assert rep_mod.complete(item)
    assert hashlib.sha256(_replica_bytes(s, item)).hexdigest() == item.sha256
    ref = item.storage["replica"]["object"]
    want = s.store.lock(item.storage["object"]["key"], item.storage["object"]["version_id"])
    assert s.replica.lock(ref["key"], ref["version_id"]).retain_until >= \
        want.retain_until - timedelta(seconds=1)
    # a replica that refuses: the item is archived all the same, with a failure event
    broken = _Broken(s.replica)
    s.archive.replica = broken
    s.archive.second_copy = rep_mod.copy_item
    (other,) = _ingest(s, n=1)
    assert other.status == "archived" and not rep_mod.complete(other)
    assert any(e["type"] == "replication" and e["outcome"] == "failure"
               for e in other.events)
    s.archive.replica = None
    assert rep_mod.lag(s.archive)["items_behind"] >= 1
    out = rep_mod.replicate(s.archive, s.replica, s.actor)
    assert out["items_copied"] == 1 and out["items_pending"] == 0
    assert len(s.replica.versions(item.storage["object"]["key"])) == 1  # not copied again


class _Broken:
    """A replica whose every write fails (its disk is gone)."""

    def __init__(self, store):
        self._store = store
        self.backend, self.location = store.backend, store.location

    def describe(self):
        return self._store.describe()

    def __getattr__(self, name):
        def fail(*a, **k):
            raise OSError(5, "Input/output error")
        return fail


def _verify(s, items, copy="primary"):
    return verification.inspect_lot(s.archive, s.actor, [i.id for i in items], {"test": 1},
                                    everything=True, copy=copy, replica=s.replica)


@pytest.mark.parametrize("how", ["flip", "delete"])
def test_damaged_primary_object_is_restored_from_the_replica(setup, how):
    s = setup
    items = _ingest(s, n=2)
    rep_mod.replicate(s.archive, s.replica, s.actor)
    victim = items[0]
    obj = victim.storage["object"]
    damage(s.store, obj["key"], obj["version_id"], how)
    report = _verify(s, items)
    assert report["summary"]["failed"] == [victim.id]
    assert s.archive.item(victim.id).status == "attention"
    out = restore_mod.restore(s.archive, s.replica, s.actor, report["summary"]["failed"])
    assert out["restored"] == [victim.id] and not out["unrecoverable"]
    after = s.archive.item(victim.id)
    new = after.storage["object"]["version_id"]
    assert new != obj["version_id"] and after.status == "archived"
    assert read_verified(s.store, obj["key"], new, victim.sha256)
    (failed,) = after.storage["failed_versions"]
    assert failed["copy"] == "primary" and failed["version_id"] == obj["version_id"]
    # the failed version stays as evidence (unless it was the damage itself to remove it)
    if how == "flip":
        assert obj["version_id"] in s.store.versions(obj["key"])
        assert not read_verified(s.store, obj["key"], obj["version_id"], victim.sha256)
    lock = s.store.lock(obj["key"], new)
    assert lock.retain_until >= victim.retain_until
    assert any(e["type"] == "recovery" for e in after.events)
    assert any(e.action == "restore" and e.subject == victim.id
               for e in s.catalog.ledger_entries())
    assert _verify(s, items)["summary"]["failed"] == []
    # the next replication neither copies the failed version nor the restored one again
    again = rep_mod.replicate(s.archive, s.replica, s.actor)
    assert not again["failed"]
    assert len(s.replica.versions(obj["key"])) == 1


def test_damaged_replica_and_metadata_are_restored_from_the_primary(setup):
    s = setup
    items = _ingest(s, n=2, hold=True)
    rep_mod.replicate(s.archive, s.replica, s.actor)
    victim = s.archive.item(items[1].id)
    ref = victim.storage["replica"]["object"]
    man = victim.storage["manifests"][0]
    damage(s.replica, ref["key"], ref["version_id"])
    damage(s.store, man["key"], man["version_id"])  # the primary's signed metadata
    assert _verify(s, items, "replica")["summary"]["failed"] == [victim.id]
    assert _verify(s, items)["summary"]["failed"] == [victim.id]
    out = restore_mod.restore(s.archive, s.replica, s.actor, [victim.id, items[0].id])
    assert out["restored"] == [victim.id] and out["ok"] == [items[0].id]
    (res,) = [r for r in out["results"] if r["item"] == victim.id]
    assert {(r["part"], r["copy"]) for r in res["restored"]} == {
        ("object", "replica"), ("metadata v1", "primary")}
    after = s.archive.item(victim.id)
    new_ref = after.storage["replica"]["object"]["version_id"]
    assert new_ref != ref["version_id"] and s.replica.lock(ref["key"], new_ref).legal_hold
    assert set(s.replica.versions(ref["key"])) == {ref["version_id"], new_ref}
    assert after.storage["manifests"][0]["version_id"] != man["version_id"]
    assert man["version_id"] in s.store.versions(man["key"])
    assert _verify(s, items, "replica")["summary"]["failed"] == []
    assert _verify(s, items)["summary"]["failed"] == []
    again = rep_mod.replicate(s.archive, s.replica, s.actor)
    assert not again["failed"]
    assert s.archive.item(victim.id).storage["replica"]["object"]["version_id"] == new_ref


def test_both_copies_bad_changes_nothing(setup):
    s = setup
    (item,) = _ingest(s, n=1)
    rep_mod.replicate(s.archive, s.replica, s.actor)
    item = s.archive.item(item.id)
    obj, ref = item.storage["object"], item.storage["replica"]["object"]
    damage(s.store, obj["key"], obj["version_id"])
    damage(s.replica, ref["key"], ref["version_id"], "delete")
    before = (list(s.store.list_keys()), list(s.replica.list_keys()))
    out = restore_mod.restore(s.archive, s.replica, s.actor, [item.id])
    assert out["unrecoverable"] == [item.id]
    assert "no good copy of object" in out["results"][0]["message"]
    assert (list(s.store.list_keys()), list(s.replica.list_keys())) == before
    assert s.archive.item(item.id).storage == item.storage


def test_unreplicated_items_are_reported_apart_in_replica_verification(setup):
    s = setup
    items = _ingest(s, n=2)
    rep_mod.replicate(s.archive, s.replica, s.actor)
    (late,) = _ingest(s, n=1)
    report = _verify(s, items + [late], "replica")
    assert report["summary"]["failed"] == []
    assert report["summary"]["not_replicated"] == [late.id]
    assert report["summary"]["checked"] == 2
    assert s.archive.item(late.id).status == "archived"
    assert "尚未复制" in verification.render_zh(report)


def test_a_read_refused_by_the_s3_checksum_is_unreadable_not_a_crash(tmp_path):
    with store_pair("s3-local", tmp_path) as (primary, copy):
        catalog = SQLiteCatalog(tmp_path / "catalog.sqlite")
        s = make_archive(tmp_path, catalog, primary)
        s.replica = copy
        (item,) = _ingest(s, n=1)
        rep_mod.replicate(s.archive, s.replica, s.actor)
        obj = item.storage["object"]
        damage(s.store, obj["key"], obj["version_id"], keep_checksum=True)
        res = verification.verify_item(s.archive, s.archive.item(item.id))
        assert [p["code"] for p in res["problems"]] == ["object-unreadable"]
        out = restore_mod.restore(s.archive, s.replica, s.actor, [item.id])
        assert out["restored"] == [item.id]
        assert verification.verify_item(s.archive, s.archive.item(item.id))["ok"]
        catalog.close()


def test_a_new_metadata_version_reaches_the_replica(setup):
    s = setup
    (item,) = _ingest(s, n=1)
    rep_mod.replicate(s.archive, s.replica, s.actor)
    d = item.description
    fixed = Description(**{**d.__dict__, "party": "王五金店"})
    s.archive.correct(item.id, fixed, s.actor, "当事人名称更正")
    lag = rep_mod.lag(s.archive)
    assert lag["items_behind"] == 1 and lag["item_ids"] == [item.id]
    rep_mod.replicate(s.archive, s.replica, s.actor)
    after = s.archive.item(item.id)
    assert [m["version"] for m in after.storage["replica"]["manifests"]] == [1, 2]
    assert verification.verify_item(s.archive, after, copy="replica", replica=s.replica)["ok"]
    # with write_on_ingest the correction is copied at once
    s.archive.replica = s.replica
    s.archive.second_copy = rep_mod.copy_item
    again = Description(**{**fixed.__dict__, "cause": "占道经营"})
    s.archive.correct(item.id, again, s.actor, "案由补充")
    assert [m["version"] for m in s.archive.item(item.id).storage["replica"]["manifests"]] \
        == [1, 2, 3]
    assert rep_mod.lag(s.archive)["items_behind"] == 0
