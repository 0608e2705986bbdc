"""Copies between WORM stores, every pair of backends: digests checked on the way, locks
never weaker than the source's, resumable, nothing copied twice."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime, timedelta, timezone

import pytest

from archive.copies.sync import copy_version, sync_store
from archive.domain.errors import ProblemFound
from archive.worm.base import metadata_key
from tests.support.pairs import PAIRS, store_pair


@pytest.fixture(params=PAIRS)
def pair(request, tmp_path):
    with store_pair(request.param, tmp_path) as stores:
        yield stores


def _later(**kw):
    return datetime.now(timezone.utc) + timedelta(**kw)


def _fill(src):
    data = [os.urandom(n) for n in (10, 70_000, 300_000)]
    objs = [src.put_object([d], hashlib.sha256(d).hexdigest(), len(d), _later(days=5 + i),
                           i == 1) for i, d in enumerate(data)]
    blob = src.put_blob(metadata_key(objs[0].key.rsplit("/", 1)[1], "item-1", 1),
                        '{"说明": "元数据"}'.encode(), _later(days=9))
    return data, objs, blob


def test_sync_copies_everything_with_locks_and_is_resumable(pair):
    src, dst = pair
    data, objs, blob = _fill(src)
    first = sync_store(src, dst, stop_after=2)  # interrupted
    assert len(first.copied) == 2 and not first.failed
    rest = sync_store(src, dst)
    assert rest.present == 2 and len(rest.copied) == 2 and not rest.failed
    for v, d in zip(objs, data, strict=True):
        (vid,) = dst.versions(v.key)
        assert hashlib.sha256(dst.read_bytes(v.key, vid)).digest() == hashlib.sha256(d).digest()
        there, here = dst.lock(v.key, vid), src.lock(v.key, v.version_id)
        assert there.retain_until >= here.retain_until - timedelta(seconds=1)
        assert there.legal_hold == here.legal_hold
    (bvid,) = dst.versions(blob.key)
    assert dst.read_bytes(blob.key, bvid) == src.read_bytes(blob.key, blob.version_id)
    again = sync_store(src, dst)
    assert again.copied == [] and again.present == 4


def test_lock_changes_follow_to_the_copy(pair):
    src, dst = pair
    _data, objs, _blob = _fill(src)
    sync_store(src, dst)
    v = objs[0]
    src.extend_retention(v.key, v.version_id, _later(days=400))
    src.set_legal_hold(v.key, v.version_id, True)
    src.set_legal_hold(objs[1].key, objs[1].version_id, False)
    sync_store(src, dst)
    (vid,) = dst.versions(v.key)
    assert dst.lock(v.key, vid).retain_until >= _later(days=399)
    assert dst.lock(v.key, vid).legal_hold
    (vid1,) = dst.versions(objs[1].key)
    assert not dst.lock(objs[1].key, vid1).legal_hold


def test_a_document_with_other_bytes_at_the_copy_is_reported_not_overwritten(pair):
    src, dst = pair
    key = metadata_key("d" * 64, "item-9", 1)
    src.put_blob(key, b"good", _later(days=3))
    other = dst.put_blob(key, b"evil", _later(days=3))
    report = sync_store(src, dst)
    assert [f["key"] for f in report.failed] == [key]
    assert dst.versions(key) == [other.version_id]


def test_copy_version_refuses_bytes_that_lost_their_address(pair):
    src, dst = pair
    d = os.urandom(5000)
    v = src.put_object([d], hashlib.sha256(d).hexdigest(), len(d), _later(days=2))
    with pytest.raises(ProblemFound):
        copy_version(src, v.key, v.version_id, dst, expected_sha256="0" * 64)
    assert dst.versions(v.key) == []
