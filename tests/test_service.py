"""The archive service against both catalogs and both stores."""

from __future__ import annotations

import errno
import os
import subprocess
from datetime import datetime, timedelta, timezone

import pytest

from archive.domain.errors import InputError, StorageFull
from archive.domain.model import Description
from archive.worm.base import metadata_key, object_key
from archive.worm.local import LocalWormStore
from tests.support.archives import make_archive
from tests.support.builders import T0


def _desc(**kw) -> Description:
    base = dict(kind="video", unit="market-001", device_id="DSJ-1", officers=["P1"],
                recorded_start=T0, recorded_end=T0 + timedelta(minutes=5), party="王五",
                cause="无照经营", source={"original_name": "a.mp4", "batch": "b1"})
    base.update(kw)
    return Description(**base)


def _until(days=30):
    return datetime.now(timezone.utc) + timedelta(days=days)


@pytest.fixture
def setup(tmp_path, catalog, store):
    return make_archive(tmp_path, catalog, store)


def test_archive_locks_signs_catalogs_and_records(setup):
    data = os.urandom(300_000)
    res = setup.archive.archive_stream([data[:100_000], data[100_000:]], _desc(), setup.actor,
                                       _until())
    item = res.item
    assert not res.duplicate and item.status == "archived"
    obj = setup.catalog.get_object(item.sha256)
    assert obj.digests.size == len(data)
    lock = setup.store.lock(object_key(item.sha256), obj.storage.version_id)
    assert lock.retain_until >= _until(29)
    # the signed metadata version sits next to the object and proves it without the catalog
    m = item.storage["manifests"][0]
    assert m["key"] == metadata_key(item.sha256, item.id, 1)
    import json

    stored = json.loads(setup.store.read_bytes(m["key"], m["version_id"]))
    assert setup.archive.archive_keys.verify(stored["manifest"], stored["key_id"],
                                             stored["signature"])
    assert stored["manifest"]["object"]["sha256"] == item.sha256
    fix = setup.archive.fixity(item.id)
    assert fix["digests_match"] and fix["signature_valid"]
    entries = list(setup.catalog.ledger_entries())
    assert entries[-1].action == "ingestion" and entries[-1].subject == item.id
    assert setup.archive.verify_ledger().ok


def test_duplicates_and_same_bytes_other_metadata(setup):
    data = os.urandom(10_000)
    a = setup.archive.archive_stream([data], _desc(), setup.actor, _until())
    again = setup.archive.archive_stream([data], _desc(source={"batch": "re-run"}), setup.actor,
                                         _until())
    assert again.duplicate and again.item.id == a.item.id
    assert setup.catalog.get_item(a.item.id).events[-1]["type"] == "duplicate"
    other = setup.archive.archive_stream([data], _desc(case_id="C-2"), setup.actor,
                                         _until(60), legal_hold=True)
    assert not other.duplicate and other.item.id != a.item.id
    assert len(setup.catalog.items_of_object(a.item.sha256)) == 2
    key = object_key(a.item.sha256)
    assert len(setup.store.versions(key)) == 1  # one object, its lock raised for the longer need
    lock = setup.store.lock(key, setup.store.versions(key)[0])
    assert lock.legal_hold and lock.retain_until >= _until(59)


def test_verdict_before_commit_leaves_nothing(setup):
    class Infected(Exception):
        pass

    def verdict(digests):
        raise Infected(digests.sha256)

    data = os.urandom(7 * 1024 * 1024)
    with pytest.raises(Infected):
        setup.archive.archive_stream([data[:6 << 20], data[6 << 20:]], _desc(), setup.actor,
                                     _until(), before_commit=verdict)
    assert setup.store.pending() == []
    assert list(setup.store.list_keys("objects/")) == []
    assert setup.catalog.count(__import__("archive.catalog.base").catalog.base.Query()) == 0


def test_missing_metadata_is_preserved_as_pending(setup):
    res = setup.archive.archive_stream([b"bytes first"], _desc(officers=[], device_id=None),
                                       setup.actor, _until())
    assert res.item.status == "pending-metadata"
    assert setup.store.versions(object_key(res.item.sha256))


def test_non_utf8_names_are_refused_in_metadata():
    with pytest.raises(InputError, match="not valid Unicode"):
        _desc(source={"original_name": os.fsdecode(b"DSJ\xff.mp4")})
    from archive.domain.model import safe_name

    d = _desc(source=safe_name(b"DSJ\xff.mp4"))
    assert d.source["name_bytes_hex"] == b"DSJ\xff.mp4".hex()


def test_full_disk_leaves_nothing_visible(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
                             capture_output=True).returncode == 0
    try:
        store = LocalWormStore(mnt / "worm", immutable=False)
        if not mounted:  # no permission to mount: the kernel's answer, injected
            real_write = os.write

            def full(fd, data):
                if len(data) > 100_000:
                    raise OSError(errno.ENOSPC, "No space left on device")
                return real_write(fd, data)

            os.write = full
        try:
            with pytest.raises(StorageFull):
                store.put_object([os.urandom(1 << 20) for _ in range(4)], "a" * 64, 4 << 20,
                                 _until())
        finally:
            if not mounted:
                os.write = real_write
        assert store.pending() == []
        assert list(store.list_keys("")) == []
        small = os.urandom(1000)
        import hashlib

        v = store.put_object([small], hashlib.sha256(small).hexdigest(), 1000, _until())
        assert store.read_bytes(v.key, v.version_id) == small
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(mnt)])


def test_correction_is_a_new_signed_version(setup):
    res = setup.archive.archive_stream([b"pending bytes"], _desc(officers=[]), setup.actor,
                                       _until())
    assert res.item.status == "pending-metadata"
    fixed = _desc(officers=["P1"], case_id="C-9")
    item = setup.archive.correct(res.item.id, fixed, setup.actor, "manifest corrected")
    assert item.version == 2 and item.status == "archived" and item.legal_hold
    versions = setup.catalog.versions(item.id)
    assert [v.description.officers for v in versions] == [[], ["P1"]]
    assert all(setup.archive.archive_keys.verify(v.manifest(), v.key_id, v.signature)
               for v in versions)
    obj = item.storage["object"]
    assert setup.store.lock(obj["key"], obj["version_id"]).legal_hold
    assert [m["version"] for m in item.storage["manifests"]] == [1, 2]
    with pytest.raises(InputError, match="changes nothing"):
        setup.archive.correct(item.id, fixed, setup.actor, "again")
    # the original offload run again is still recognised as this item
    again = setup.archive.archive_stream([b"pending bytes"], _desc(officers=[]), setup.actor,
                                         _until())
    assert again.duplicate and again.item.id == item.id


def test_complete_sees_the_item_before_its_one_catalog_write(setup):
    from archive.service import event

    seen = []

    def complete(item):
        assert setup.catalog.get_item(item.id) is None  # not catalogued yet
        assert item.current.signature and item.storage["object"]["lock"]["retain_until"]
        item.checks["judged"] = {"result": "pass"}
        item.events.append(event("judgement", setup.actor.person_id, "success"))
        seen.append(item.id)

    data = os.urandom(5000)
    res = setup.archive.archive_stream([data], _desc(), setup.actor, _until(),
                                       checks={"format": {"mime": "video/mp4"}},
                                       complete=complete)
    stored = setup.catalog.get_item(res.item.id)
    assert seen == [res.item.id]
    assert stored.checks == {"format": {"mime": "video/mp4"}, "judged": {"result": "pass"}}
    assert [e["type"] for e in stored.events] == ["message digest calculation", "ingestion",
                                                  "judgement"]
    again = setup.archive.archive_stream([data], _desc(source={"batch": "re-run"}),
                                         setup.actor, _until(), complete=complete)
    assert again.duplicate and seen == [res.item.id]  # a duplicate is not completed again


def test_the_item_records_the_ingest_time_its_lock_was_counted_from(setup):
    counted_from = datetime.now(timezone.utc) - timedelta(seconds=3)
    res = setup.archive.archive_stream([os.urandom(2000)], _desc(), setup.actor, _until(),
                                       ingested_at=counted_from)
    assert res.item.ingested_at == counted_from
    assert setup.catalog.get_item(res.item.id).ingested_at == counted_from
    # without one, the time the call began: never after the lock was asked for
    began = datetime.now(timezone.utc)
    res = setup.archive.archive_stream([os.urandom(2000)], _desc(), setup.actor, _until())
    assert began <= res.item.ingested_at <= datetime.now(timezone.utc)


def test_an_adopted_manifest_gets_the_lock_of_the_run_that_adopts_it(setup):
    """A run died after signing the metadata beside the object, before the catalog write;
    the next run adopts that signed version, and its lock reaches what the new run needs."""
    data = os.urandom(3000)

    class Died(Exception):
        pass

    def die(_item):
        raise Died

    with pytest.raises(Died):
        setup.archive.archive_stream([data], _desc(), setup.actor, _until(10), complete=die)
    res = setup.archive.archive_stream([data], _desc(), setup.actor, _until(40))
    m = res.item.storage["manifests"][0]
    assert m["version"] == 1 and len(setup.catalog.items_of_object(res.item.sha256)) == 1
    assert setup.store.lock(m["key"], m["version_id"]).retain_until >= res.item.retain_until


def test_show_names_a_missing_object_and_shows_the_rest(setup):
    res = setup.archive.archive_stream([os.urandom(2000)], _desc(), setup.actor, _until())
    assert setup.archive.show(res.item.id, read_lock=True)["problems"] == []
    item = setup.catalog.get_item(res.item.id)
    item.storage["object"]["version_id"] = "0" * 32 if setup.store.backend == "s3" else \
        "01a00000-0000-7000-8000-000000000000"
    setup.catalog.save_state(item)
    out = setup.archive.show(res.item.id, read_lock=True)
    assert out["description"]["party"] == "王五" and out["lock_in_store"] is None
    assert [p["code"] for p in out["problems"]] == ["object-missing"]
