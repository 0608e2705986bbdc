"""Error paths of moving files aside and of reconcile that the end-to-end tests do not reach."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pytest

from archive.catalog.sqlite import SQLiteCatalog
from archive.copies.reconcile import reconcile
from archive.domain.errors import ProblemFound
from archive.domain.model import Description
from archive.integrity.fixity import digest_bytes
from archive.worm.local import LocalWormStore
from ingest.moves import move_verified, read_report
from tests.support.archives import make_archive
from tests.support.worm import release_all_for_tests


def test_a_copy_that_does_not_match_leaves_the_original(tmp_path):
    src = tmp_path / "in" / "a.mp4"
    src.parent.mkdir()
    src.write_bytes(b"what was read")
    wrong = digest_bytes(b"what was scanned")  # the file changed between read and move
    with pytest.raises(ProblemFound, match="left in place"):
        move_verified(src, tmp_path / "area", "a.mp4", wrong, {"state": "quarantined"})
    assert src.read_bytes() == b"what was read"
    assert not any(p.is_file() for p in (tmp_path / "area").rglob("*"))  # no partial copy


def test_a_second_move_of_the_same_name_never_overwrites(tmp_path):
    area = tmp_path / "area"
    for content in (b"first", b"second"):
        src = tmp_path / "x.bin"
        src.write_bytes(content)
        move_verified(src, area, "x.bin", digest_bytes(content), {"n": content.decode()})
    assert (area / "x.bin").read_bytes() == b"first"
    assert (area / "x.bin.1").read_bytes() == b"second"
    assert read_report(area / "x.bin.1") == {"n": "second"}


@pytest.fixture
def setup(tmp_path):
    cat = SQLiteCatalog(tmp_path / "catalog.sqlite")
    s = make_archive(tmp_path, cat, LocalWormStore(tmp_path / "worm"))
    yield s
    cat.close()
    release_all_for_tests(tmp_path)


def test_reconcile_takes_up_a_signed_version_the_catalog_missed(setup):
    until = datetime.now(timezone.utc) + timedelta(days=10)
    d = Description(kind="photo", unit="market-001", device_id="D", officers=["P1"])
    item = setup.archive.archive_stream([b"photo"], d, setup.actor, until).item
    # a correction died after storing its signed version, before cataloguing it
    from archive.domain.model import MetadataVersion

    fixed = Description(kind="photo", unit="market-001", device_id="D", officers=["P1"],
                        party="王五")
    v2 = setup.archive.sign_version(MetadataVersion(item.id, 2, fixed, item.current.digests,
                                                    datetime.now(timezone.utc), "P000", "fix"))
    setup.archive.store_version(v2, until, False)
    report = reconcile(setup.archive, setup.actor)
    assert report["versions_adopted"] == [{"item": item.id, "version": 2}]
    assert setup.catalog.get_item(item.id).description.party == "王五"
    assert reconcile(setup.archive, setup.actor)["versions_adopted"] == []


def test_reconcile_keeps_live_uploads_unless_told(setup):
    pending = setup.store.begin_object(datetime.now(timezone.utc) + timedelta(days=1))
    pending.write(os.urandom(100))  # this process is alive: its upload may still finish
    assert reconcile(setup.archive, setup.actor)["pending_kept"] == setup.store.pending()
    report = reconcile(setup.archive, setup.actor, discard_pending=True)
    assert len(report["pending_discarded"]) == 1 and setup.store.pending() == []
    dead = setup.store.root / "tmp" / "999999999-deadwriter.part"
    dead.write_bytes(b"left by a crash")
    assert reconcile(setup.archive, setup.actor)["pending_discarded"] == [dead.name]
