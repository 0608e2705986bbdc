"""The two-station run (issue 13): two ingest stations -- two processes, each from a data
home of its own with its own station id and key -- write at once into one MongoDB catalog
(the mongoeco wire server) and one Ceph RGW bucket, each its own small offload plus one file
both have. Every file ends in one state, nothing is doubled, the ledger is intact and
verifies from either station, both stations' signatures verify from either home, and the
catalog rebuilt from the bucket alone equals the live one."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
import uuid
from datetime import datetime, timedelta, timezone

import pymongo
import pytest
from bson import json_util

from archive.catalog.base import Query
from archive.catalog.mongo import MongoCatalog
from archive.catalog.sqlite import SQLiteCatalog
from archive.worm.base import object_key
from archive.worm.s3 import S3WormStore
from tests.support import ceph
from tests.support.retention import snapshot
from tests.support.stations import (
    RUN_TIMEOUT,
    SHARED_NAME,
    cli,
    cli_json,
    offload,
    pem_body,
    private_key_texts,
    shared_file,
    spawn,
    station_env,
)


@pytest.fixture
def shared_archive(tmp_path, wire_server, ceph_cluster, clamd_scanner):
    """A config naming one catalog database on the wire server and one fresh Ceph bucket;
    the credentials are the environment's, as boto3 reads them."""
    database = f"custody_two_{uuid.uuid4().hex[:12]}"
    cfg = tmp_path / "custody.toml"
    bucket = ceph_cluster.new_bucket("stations")
    cfg.write_text(f'[catalog]\nbackend = "mongodb"\nuri = "{wire_server.uri}"\n'
                   f'database = "{database}"\n'
                   f'[store]\nbackend = "s3"\nendpoint_url = "{ceph_cluster.endpoint}"\n'
                   f'bucket = "{bucket}"\n'
                   f'region = "{ceph.REGION}"\n'
                   f'[scanner]\nsocket = "{clamd_scanner.socket_path}"\n')
    creds = {"AWS_ACCESS_KEY_ID": ceph.ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": ceph.SECRET_KEY,
             "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
    yield cfg, creds, wire_server.uri, database, bucket
    client = pymongo.MongoClient(wire_server.uri, serverSelectionTimeoutMS=5000)
    try:
        client.drop_database(database)
    finally:
        client.close()


def _live(uri: str, database: str) -> MongoCatalog:
    return MongoCatalog(uri, database=database)


def test_two_stations_at_once_on_one_mongodb_catalog_and_one_ceph_bucket(tmp_path,
                                                                          shared_archive):
    cfg, creds, uri, database, bucket = shared_archive
    a, b = station_env(tmp_path, "WS-A", **creds), station_env(tmp_path, "WS-B", **creds)
    first = cli_json(cfg, a, "init")
    joined = cli_json(cfg, b, "init")
    assert joined["joined"] and not first["joined"]
    keys = {"WS-A": first["archive_key"], "WS-B": joined["archive_key"]}

    both = shared_file(tmp_path / "shared" / SHARED_NAME)
    offloads = {"WS-A": offload(tmp_path / "offload-A", "DSJ-0511", 2, both),
                "WS-B": offload(tmp_path / "offload-B", "DSJ-0512", 2, both)}
    gate = tmp_path / "gate"
    procs = {name: spawn(cfg, env, "ingest", str(root), "--manifest", str(manifest), "--json",
                         gate=gate)
             for (name, (root, manifest)), env in zip(offloads.items(), (a, b), strict=True)}
    outs = {}
    try:
        for name, proc in procs.items():
            outs[name] = proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        for proc in procs.values():
            proc.kill()
            proc.communicate()
        pytest.fail(f"an ingest station did not finish within {RUN_TIMEOUT} s")
    reports = {}
    for name, proc in procs.items():
        out, err = outs[name]
        assert proc.returncode in (0, 1), (out, err)  # 1: offloaded late (README)
        assert "Traceback" not in err, err
        reports[name] = json.loads(out)
        assert reports[name].get("station") == name, (out, err)
    ra, rb = reports.values()  # at once: each batch began before the other ended
    assert ra["started_at"] < rb["finished_at"] and rb["started_at"] < ra["finished_at"]

    # every file in one state; the shared file one item, whoever archived it first
    files = {name: {f["file"]: f for f in r["files"]} for name, r in reports.items()}
    for name, (root, _m) in offloads.items():
        assert sorted(files[name]) == sorted(p.name for p in root.iterdir())
        assert {f["state"] for f in files[name].values()} == {"archived"}, files[name]
    shared_ids = {files[name][SHARED_NAME]["item_id"] for name in files}
    assert len(shared_ids) == 1
    assert sum(files[name][SHARED_NAME]["duplicate"] for name in files) == 1
    expected = {f["item_id"] for fs in files.values() for f in fs.values()}
    assert len(expected) == 7  # 4 + 4 files, the shared one once

    live = _live(uri, database)
    try:
        items = list(live.iter_items(Query()))
        assert {i.id for i in items} == expected and len(items) == 7
        assert len({i.dedupe for i in items}) == 7  # no two items for one file
        for item in items:  # signed by the key of the station its provenance names
            assert item.current.key_id == keys[item.description.source["station"]]
        stations_of = {e.details.get("station") for e in live.ledger_entries()
                       if e.action in ("ingestion", "batch")}
        assert stations_of == {"WS-A", "WS-B"}
        before = snapshot(live)
        registered = live.list_records("meta", kind="archive-key")
    finally:
        live.close()
    assert {r["station"] for r in registered} == {"WS-A", "WS-B"}
    assert {item.current.key_id for item in items} == set(keys.values())

    for env in (a, b):  # the ledger and both stations' signatures, verified from either home
        assert cli_json(cfg, env, "audit", "verify")["ok"]
        for item_id in sorted(expected):
            assert cli_json(cfg, env, "show", item_id)["signature_valid"], item_id
        listed = cli_json(cfg, env, "key", "list")["keys"]
        assert {(k["station"], k["state"]) for k in listed} == {
            ("WS-A", "active"), ("WS-B", "active")}

    # the catalog rebuilt from the bucket alone equals the live one
    into = tmp_path / "rebuilt.sqlite"
    out = cli_json(cfg, b, "rebuild-catalog", "--into", str(into))
    assert out["items"] == 7 and out["problems"] == [], out["problems"]
    with SQLiteCatalog(into) as fresh:
        assert snapshot(fresh) == before
        assert sorted(fresh.list_records("meta", kind="archive-key"),
                      key=lambda r: r["key_id"]) == sorted(registered,
                                                           key=lambda r: r["key_id"])
    cli(cfg, a, "reconcile")
    _no_private_key(tmp_path, uri, database, bucket)


def _no_private_key(tmp_path, uri: str, database: str, bucket: str) -> None:
    """Neither the bucket nor the catalog holds a private key: each station's stays home."""
    secrets = [pem_body(k) for k in private_key_texts(tmp_path / "WS-A", tmp_path / "WS-B",
                                                      tmp_path / "user")]
    assert len(secrets) == 3  # two stations' keys and the administrator's
    store = S3WormStore(ceph.shared_cluster().client(), bucket)
    held = [store.read_bytes(key, vid) for key, vid, _ in store.list_keys("")]
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    try:
        db = client[database]
        held += [json_util.dumps(list(db[name].find())).encode()
                 for name in db.list_collection_names()]
    finally:
        client.close()
    assert held and not [b for b in held if b"PRIVATE KEY" in b]
    assert not [b for b in held for secret in secrets if secret in b]



def test_the_same_bytes_stored_by_two_stations_at_once_name_one_version(tmp_path,
                                                                         ceph_cluster):
    """Ceph RGW ignores If-None-Match: two stations storing the same new bytes at once both
    write a version. Both must name the first one (the catalog's object record names one
    version, and every item of the object must name that one), not each its own."""
    with ceph.ceph_store(tmp_path) as store:
        real = store.versions
        barrier = threading.Barrier(2, timeout=30)
        seen = threading.local()

        def versions(key: str) -> list[str]:
            found = real(key)
            if not getattr(seen, "once", False):  # both look before either writes
                seen.once = True
                barrier.wait()
            return found

        store.versions = versions
        data = os.urandom(4096)
        sha = hashlib.sha256(data).hexdigest()
        until = datetime.now(timezone.utc) + timedelta(days=2)
        stored, failures = [], []

        def station() -> None:
            try:
                pending = store.begin_object(until, False)
                with pending:
                    pending.write(data)
                    stored.append(pending.commit(sha, len(data)))
            except BaseException as exc:  # noqa: BLE001 - reported below
                failures.append(exc)

        threads = [threading.Thread(target=station) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not failures and len(stored) == 2
        written = real(object_key(sha))
        assert len(written) == 2  # the server let both in: the race really happened
        assert [s.version_id for s in stored] == [written[0], written[0]]
