"""custody replicate in proportion to what changed (issue 17): its own cursor, the items written
since the last complete run and those it left behind, records the replica lacks or whose lock
was renewed; a full sweep on --all, a first run and another replica; on both catalogs."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pytest

from archive.copies import replica as rep_mod
from archive.domain.model import Description
from archive.ledger.chain import CHECKPOINT_PREFIX
from archive.worm.local import LocalWormStore
from retention.renewal import renew_records
from tests.support.archives import make_archive
from tests.support.damage import damage
from tests.support.worm import release_all_for_tests

T0 = datetime(2026, 3, 1, 1, tzinfo=timezone.utc)


def _later(**kw):
    return datetime.now(timezone.utc) + timedelta(**kw)


@pytest.fixture
def setup(tmp_path, catalog):
    s = make_archive(tmp_path, catalog, LocalWormStore(tmp_path / "primary"))
    s.replica = LocalWormStore(tmp_path / "replica")
    yield s
    release_all_for_tests(tmp_path)


def _ingest(s, n=1):
    ids = []
    for _ in range(n):
        start = T0  # the random bytes make each item new
        d = Description(kind="photo", unit="market-001", device_id="D1", officers=["P1"],
                        recorded_start=start, recorded_end=start)
        ids.append(s.archive.archive_stream([os.urandom(2000)], d, s.actor,
                                            _later(days=30)).item.id)
    s.archive.finish_command()
    return ids


def _settle(s):
    """Writes that take change numbers and touch no item: a Mongo catalog reads the last
    ``cursor_overlap`` numbers again, so a run after these reads no item twice."""
    for n in range(s.catalog.cursor_overlap + 1):
        s.catalog.put_record("meta", "test-padding", {"id": "test-padding", "n": n})


def _steady(s):
    """Two complete runs: the second reads the first one's own writes to its items."""
    rep_mod.replicate(s.archive, s.replica, s.actor)
    _settle(s)
    rep_mod.replicate(s.archive, s.replica, s.actor)
    _settle(s)


def test_first_run_sweeps_then_only_what_changed_is_read(setup):
    s = setup
    old = _ingest(s, 3)
    first = rep_mod.replicate(s.archive, s.replica, s.actor)
    c = first["coverage"]
    assert c["mode"] == "full" and c["reason"] == "no earlier run"
    assert c["items_read"] == 3 and c["last_full_sweep"] == first["started_at"]
    _settle(s)
    rep_mod.replicate(s.archive, s.replica, s.actor)
    _settle(s)
    quiet = rep_mod.replicate(s.archive, s.replica, s.actor)
    c = quiet["coverage"]
    assert c["mode"] == "incremental" and c["items_read"] == 0
    assert c["last_full_sweep"] == first["started_at"]  # the sweep it stands on
    assert quiet["versions"]["copied"] == 0 and not quiet["failed"]
    assert c["since_seq"] < c["to_seq"]
    _settle(s)
    (new,) = _ingest(s, 1)
    after = rep_mod.replicate(s.archive, s.replica, s.actor)
    c = after["coverage"]
    assert c["mode"] == "incremental" and c["items_read"] == 1
    assert after["items_copied"] == 1 and after["items_pending"] == 0
    item = s.archive.item(new)
    assert rep_mod.complete(item)
    ref = item.storage["replica"]["object"]
    assert s.replica.versions(ref["key"]) == [ref["version_id"]]
    # the records written since (the ingest's checkpoint) came along without a full sweep
    src = {k for k, _v, _n in s.store.list_keys(CHECKPOINT_PREFIX)}
    assert src <= {k for k, _v, _n in s.replica.list_keys(CHECKPOINT_PREFIX)}
    for item_id in old:
        assert rep_mod.complete(s.archive.item(item_id))


def test_all_and_another_replica_sweep_everything(setup, tmp_path):
    s = setup
    _ingest(s, 2)
    _steady(s)
    full = rep_mod.replicate(s.archive, s.replica, s.actor, full=True)
    assert full["coverage"]["mode"] == "full" and full["coverage"]["reason"] == "--all"
    assert full["coverage"]["items_read"] == 2
    assert full["versions"]["copied"] == 0  # everything was there
    _settle(s)
    later = rep_mod.replicate(s.archive, s.replica, s.actor)
    assert later["coverage"]["last_full_sweep"] == full["started_at"]
    other = LocalWormStore(tmp_path / "replica-2")
    moved = rep_mod.replicate(s.archive, other, s.actor)
    assert moved["coverage"]["mode"] == "full"
    assert moved["coverage"]["reason"] == "another replica"


def test_a_failed_copy_is_retried_until_it_succeeds(setup, monkeypatch):
    s = setup
    _ingest(s, 1)
    _steady(s)
    (new,) = _ingest(s, 1)

    def unplugged(*_a, **_kw):
        raise OSError("replica disk unplugged")

    monkeypatch.setattr(s.replica, "begin_object", unplugged)
    failing = rep_mod.replicate(s.archive, s.replica, s.actor)
    assert failing["failed"] and failing["items_pending"] == 1
    assert failing["pending_ids"] == [new]
    cursor = s.catalog.get_record("meta", rep_mod.CURSOR)
    assert cursor["retry"] == [new]
    monkeypatch.undo()
    _settle(s)  # nothing of the item changes: only the kept id brings it back
    again = rep_mod.replicate(s.archive, s.replica, s.actor)
    assert again["coverage"]["items_read"] == 1
    assert again["items_copied"] == 1 and not again["failed"]
    assert rep_mod.complete(s.archive.item(new))
    assert s.catalog.get_record("meta", rep_mod.CURSOR)["retry"] == []


def test_a_stopped_run_does_not_move_the_cursor(setup):
    s = setup
    _ingest(s, 3)
    stopped = rep_mod.replicate(s.archive, s.replica, s.actor, stop_after=2)
    assert stopped["interrupted"] and s.catalog.get_record("meta", rep_mod.CURSOR) is None
    resumed = rep_mod.replicate(s.archive, s.replica, s.actor)
    assert resumed["coverage"]["mode"] == "full" and resumed["items_pending"] == 0


def test_a_lock_recorded_in_the_catalog_reaches_the_replica_alone(setup):
    s = setup
    a, b = _ingest(s, 2)
    _steady(s)
    item = s.archive.item(a)
    obj = item.storage["object"]
    lock = s.store.extend_retention(obj["key"], obj["version_id"], _later(days=400))
    lock = s.store.set_legal_hold(obj["key"], obj["version_id"], True)
    s.catalog.update_object_lock(item.sha256, lock)  # as custody's own lock changes do
    out = rep_mod.replicate(s.archive, s.replica, s.actor)
    assert out["coverage"]["items_read"] == 1  # the item of that object, not the other
    ref = item.storage["replica"]["object"]
    there = s.replica.lock(ref["key"], ref["version_id"])
    assert there.legal_hold and there.retain_until >= _later(days=399)
    refb = s.archive.item(b).storage["replica"]["object"]
    assert not s.replica.lock(refb["key"], refb["version_id"]).legal_hold


def test_a_change_behind_the_catalogs_back_waits_for_all(setup):
    """The store drifts where no cursor sees it (a lock set with the store's own tools): an
    incremental run does not read it, --all does. What it is for."""
    s = setup
    (a,) = _ingest(s, 1)
    _steady(s)
    obj = s.archive.item(a).storage["object"]
    s.store.set_legal_hold(obj["key"], obj["version_id"], True)
    ref = s.archive.item(a).storage["replica"]["object"]
    rep_mod.replicate(s.archive, s.replica, s.actor)
    assert not s.replica.lock(ref["key"], ref["version_id"]).legal_hold
    rep_mod.replicate(s.archive, s.replica, s.actor, full=True)
    assert s.replica.lock(ref["key"], ref["version_id"]).legal_hold


def test_a_renewed_record_lock_reaches_the_replica(setup):
    s = setup
    _ingest(s, 1)
    _steady(s)
    key = next(k for k, _v, _n in s.store.list_keys("keys/archive/"))
    vid = s.store.versions(key)[0]
    before = s.replica.lock(key, s.replica.versions(key)[0]).retain_until
    renewed, problems = renew_records(s.archive, s.actor, _later(), within_years=200,
                                      years=60)
    assert not problems and any(r["key"] == key for r in renewed)
    target = s.store.lock(key, vid).retain_until
    assert target > before
    out = rep_mod.replicate(s.archive, s.replica, s.actor)
    assert out["coverage"]["mode"] == "incremental" and not out["failed"]
    assert s.replica.lock(key, s.replica.versions(key)[0]).retain_until >= target


def test_a_damaged_primary_version_is_kept_for_every_run(setup):
    """A version that cannot be copied is listed each run, never dropped by the cursor."""
    s = setup
    _ingest(s, 1)
    _steady(s)
    (bad,) = _ingest(s, 1)
    obj = s.archive.item(bad).storage["object"]
    damage(s.store, obj["key"], obj["version_id"])
    for _ in range(2):
        out = rep_mod.replicate(s.archive, s.replica, s.actor)
        assert [f["key"] for f in out["failed"]] == [obj["key"]]
        assert out["pending_ids"] == [bad]
        _settle(s)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("CUSTODY_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("CUSTODY_TESTING", "1")
    monkeypatch.setenv("CUSTODY_TEST_PEOPLE_DIR", str(tmp_path / "people"))
    monkeypatch.delenv("CUSTODY_ACT_AS", raising=False)
    cfg = tmp_path / "custody.toml"
    cfg.write_text(f'[replica]\nbackend = "local"\npath = "{tmp_path / "replica"}"\n',
                   encoding="utf-8")
    monkeypatch.setenv("CUSTODY_CONFIG", str(cfg))
    yield monkeypatch
    release_all_for_tests(tmp_path)


def test_the_command_states_its_coverage_and_sweeps_on_all(home):
    import bootstrap
    from archive import people
    from config import settings
    from tests.support.cli import run, run_json

    run_json("init")
    archive = bootstrap.open_archive(settings.load())
    d = Description(kind="photo", unit="market-001", device_id="D1", officers=["P1"],
                    recorded_start=T0, recorded_end=T0)
    archive.archive_stream([os.urandom(2000)], d, people.acting_person(archive.catalog),
                           _later(days=30))
    archive.finish_command()
    archive.catalog.close()
    first = run("replicate").stdout
    assert "coverage: the whole store" in first and "(no earlier run)" in first
    again = run_json("replicate")
    assert again["coverage"]["mode"] == "incremental"
    assert again["coverage"]["last_full_sweep"] == \
        run_json("replicate")["coverage"]["last_full_sweep"]
    text = run("replicate").stdout
    assert "coverage: 0 items changed since the last run" in text
    assert "--all goes through the whole store" in text
    swept = run("replicate", "--all").stdout
    assert "coverage: the whole store" in swept and "(--all)" in swept


def test_new_records_are_copied_without_a_sweep(setup):
    """Records outside objects/ written since the last run (in a folder writers use) reach the
    replica in an incremental run; a record at the top that a full sweep found is compared by
    its versions, without a listing of the whole store."""
    s = setup
    s.store.put_blob("top-record.json", b'{"n": 1}', _later(days=30))
    _ingest(s, 1)
    _steady(s)
    assert "top-record.json" in s.catalog.get_record("meta", rep_mod.CURSOR)["record_prefixes"]
    s.store.put_blob("inspections/I-1.json", b'{"id": "I-1"}', _later(days=30))
    out = rep_mod.replicate(s.archive, s.replica, s.actor)
    assert out["coverage"]["mode"] == "incremental" and out["coverage"]["items_read"] == 0
    assert not out["failed"] and out["versions"]["copied"] == 1
    assert s.replica.versions("inspections/I-1.json")
    assert len(s.replica.versions("top-record.json")) == 1
    quiet = rep_mod.replicate(s.archive, s.replica, s.actor)
    assert quiet["versions"]["copied"] == 0 and not quiet["failed"]
