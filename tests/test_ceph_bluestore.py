"""The BlueStore variant of the Ceph test cluster (tests/support/ceph.py), on which the ingest
benchmark compares Ceph RGW with the local store (benchmarks/ingest_bench.py --store both).

It must be a real disk-backed OSD, not memstore under another name: the objects live in one
file under the cluster's directory and survive a restart of the OSD, and the gateway keeps its
Object Lock promises there as on memstore. A cluster of its own (not the session's memstore
one), started and stopped here: about 10 s in all.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from archive.worm.s3 import S3WormStore, init_bucket
from tests.support.ceph import BINARIES, MIB, PACKAGES, CephCluster, installed
from tests.support.servers import require_server


@pytest.fixture
def bluestore_cluster() -> Iterator[CephCluster]:
    if not installed():
        missing = [name for name in BINARIES if not shutil.which(name)]
        require_server(f"Ceph RGW is not installed ({', '.join(missing)} missing): apt-get "
                       f"install {PACKAGES}, or bash scripts/install-test.sh")
    # mkdtemp, not tmp_path: the admin sockets' paths must stay short (108 bytes at most), and
    # BlueStore needs a real filesystem (O_DIRECT), which /tmp is here and in CI
    cluster = CephCluster(Path(tempfile.mkdtemp(prefix="custody-ceph-")),
                          objectstore="bluestore", bluestore_bytes=2048 * MIB)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)


def test_bluestore_osd_keeps_locked_objects_on_disk_across_a_restart(
        bluestore_cluster: CephCluster) -> None:
    cluster = bluestore_cluster
    meta = json.loads(cluster._ceph("osd", "metadata", cluster.osd_id, "-f", "json"))
    block = cluster.root / "osd" / cluster.osd_id / "block.file"
    assert (meta["osd_objectstore"], meta["bluestore_bdev_access_mode"]) == ("bluestore", "file")
    assert Path(meta["bluestore_bdev_path"]).resolve() == block
    assert block.stat().st_size == 2048 * MIB

    client = cluster.client()
    bucket = cluster.new_bucket()
    init_bucket(client, bucket)
    store = S3WormStore(client, bucket, part_size=5 * MIB)
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    # a multipart upload (two parts, as ingest streams a recording) and a single PutObject
    data = os.urandom(6 * MIB + 123)
    big = store.put_object([data[:4 * MIB], data[4 * MIB:]], hashlib.sha256(data).hexdigest(),
                           len(data), until)
    small = store.put_blob("records/a.json", b'{"a": 1}', until)
    allocated = block.stat().st_blocks * 512

    cluster.restart_osd()

    assert store.read_bytes(big.key, big.version_id) == data
    assert store.read_bytes(small.key, small.version_id) == b'{"a": 1}'
    for stored in (big, small):
        lock = store.lock(stored.key, stored.version_id)
        assert (lock.mode, lock.retain_until, lock.legal_hold) == ("COMPLIANCE", until, False)
        with pytest.raises(ClientError) as refused:  # the server itself, not custody's check
            client.delete_object(Bucket=bucket, Key=stored.key, VersionId=stored.version_id)
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert allocated >= len(data)  # the bytes went into the file on disk
