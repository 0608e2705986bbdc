"""custody end to end on a real S3 Object Lock server (Ceph RGW, tests/support/ceph.py), driven
through the command line as an operator would: `init` with an S3 store and an S3 replica
(two Ceph buckets) and the default settings, an ingest of the demo's offload, `verify --all`,
`replicate`, `verify --copy replica`, `restore` of an object read wrongly (a fault injected in
front of the store: a real server cannot be damaged behind its back), `retention run`,
`migrate` Ceph -> local -> Ceph with each result verified, and `rebuild-catalog` from the Ceph
bucket alone compared with the live catalog. One archive for the module; a few MB of data.
Skipped without Ceph's packages (failed under CI=true)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

import bootstrap
from archive.catalog.base import Query
from archive.catalog.sqlite import SQLiteCatalog
from cli import main
from config import settings
from ingest.demo import CAMERAS, _offload, _write_csv
from ingest.samples import make_mp4
from tests.support.ceph import ACCESS_KEY, SECRET_KEY
from tests.support.cli import run, run_json
from tests.support.faults import misread_through_bootstrap
from tests.support.retention import snapshot
from tests.support.worm import release_all_for_tests

MIB = 1024 * 1024
PART_MIB = 5  # S3's least part size: the one large file below goes up in parts
# Everything the demo's offload leaves in the catalog as an item (the infected file is
# quarantined; the unsorted one is archived pending its metadata)
ARCHIVED = ("archived", "archived-attention", "archived-pending-metadata")


def _s3(endpoint: str, bucket: str) -> str:
    return (f'backend = "s3"\nendpoint_url = "{endpoint}"\nbucket = "{bucket}"\n'
            f'region = "us-east-1"\npart_size_mib = {PART_MIB}\n')


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _open(config: Path):
    """The archive a config file names, for the test's own reading."""
    return bootstrap.open_archive(settings.load(config))


@pytest.fixture(scope="module")
def site(ceph_cluster, clamd_scanner, tmp_path_factory):
    """An archive on Ceph, initialised and filled through the command line."""
    root = tmp_path_factory.mktemp("ceph-e2e")
    mp = pytest.MonkeyPatch()
    mp.setenv("HOME", str(root / "user"))
    mp.setenv("CUSTODY_HOME", str(root / "data"))
    mp.setenv("CUSTODY_TESTING", "1")
    mp.setenv("CUSTODY_TEST_PEOPLE_DIR", str(root / "people"))
    mp.delenv("CUSTODY_ACT_AS", raising=False)
    # credentials from boto3's usual chain, as in production; never in the config file
    mp.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    mp.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE"):
        mp.delenv(name, raising=False)
    primary, replica = ceph_cluster.new_bucket("e2e"), ceph_cluster.new_bucket("e2e-replica")
    config = _write(root / "custody.toml",
                    f"[store]\n{_s3(ceph_cluster.endpoint, primary)}"
                    f"[replica]\n{_s3(ceph_cluster.endpoint, replica)}"
                    f'[scanner]\nsocket = "{clamd_scanner.socket_path}"\n')
    mp.setenv("CUSTODY_CONFIG", str(config))
    try:
        out = run_json("init")
        assert out["store"] == {"backend": "s3", "location": primary}
        assert out["replica"] == {"backend": "s3", "location": replica}
        run("people", "add", "AR1", "--name", "档案员甲", "--account", "archivist1",
            "--role", "archivist")
        mp.setenv("CUSTODY_ACT_AS", "AR1")
        for device, (officer, unit) in CAMERAS.items():
            run("devices", "add", device, "--model", "DSJ-X9", "--officer", officer,
                "--unit", unit)
        offload = root / "offload"
        day = (datetime.now(UTC) - timedelta(hours=5)).replace(minute=0, second=0,
                                                               microsecond=0)
        rows = _offload(offload, day, random.Random(20260315))  # the demo's own offload
        # one recording longer than a part: it goes up as a multipart upload
        big = f"DSJ-0101/DSJ-0101_{day:%Y%m%d_%H%M%S}_0009.MP4"
        make_mp4(offload / big, 2, creation_time=f"{day:%Y-%m-%dT%H:%M:%SZ}",
                 faststart=True)
        with open(offload / big, "r+b") as f:
            f.truncate((PART_MIB + 1) * MIB)
        rows.append({**rows[0], "file": big, "recorded_start": f"{day:%Y-%m-%dT%H:%M:%SZ}",
                     "recorded_end": f"{day + timedelta(seconds=2):%Y-%m-%dT%H:%M:%SZ}"})
        manifest = _write_csv(root / "manifest.csv", rows)
        ingest = run_json("ingest", str(offload), "--manifest", str(manifest),
                          "--station", "STATION-CEPH", code=1)  # the infected file
        states = {f["file"]: f["state"] for f in ingest["files"]}
        yield {"root": root, "config": config, "primary": primary, "replica": replica,
               "cluster": ceph_cluster, "states": states, "big": big, "mp": mp}
    finally:
        mp.undo()
        release_all_for_tests(root)


def _verify(*options: str) -> dict:
    """`custody verify --all` over every item: the lots of the years the demo's recordings
    (five hours ago) and the ingest (now) fall in, in the archive's zone."""
    zone = settings.load().unit_zone(None)
    now = datetime.now(UTC)
    years = sorted({(now - timedelta(hours=6)).astimezone(zone).year, now.astimezone(zone).year})
    reports = []
    for y in years:
        result = CliRunner().invoke(main, ["verify", "--year", str(y), "--all", *options,
                                           "--json"], catch_exceptions=False)
        reports.append(json.loads(result.stdout))
        assert result.exit_code == (1 if reports[-1]["summary"]["failed"] else 0)
    results = [x for r in reports for x in r["results"]]
    # the demo's truncated recording carries its ingest findings (archived-attention): the
    # verification names them; its bytes are as good as every other item's
    findings_only = {x["item"] for x in results if x["problems"] and all(
        p["code"] == "ingest-finding" for p in x["problems"])}
    return {"failed": [x["item"] for x in results if not x["ok"]
                       and x["item"] not in findings_only],
            "findings": sorted(findings_only),
            "passed": sum(r["summary"]["passed"] for r in reports) + len(findings_only)}


def _items(config: Path) -> list:
    archive = _open(config)
    try:
        return list(archive.catalog.iter_items(Query()))
    finally:
        archive.catalog.close()


def test_init_and_ingest_on_ceph_with_the_default_settings(site):
    states = site["states"]
    assert states["DSJ-0102/autorun.com"] == "quarantined"
    assert states[site["big"]].startswith("archived")
    items = _items(site["config"])
    assert len(items) == sum(s in ARCHIVED for s in states.values()) >= 10
    st = run_json("status")
    assert st["items"]["total"] == len(items)


def test_a_multipart_object_is_locked_as_read_back_from_ceph(site):
    """The large recording went up in parts (Ceph drops the lock headers of a multipart upload
    and of the copy into place): its lock, read from Ceph itself with GetObjectRetention, is
    COMPLIANCE to at least the item's date. (tests/test_s3_store.py reads the lock at the
    very moment each upload completes.)"""
    (item,) = [i for i in _items(site["config"])
               if i.storage["object"]["size"] == (PART_MIB + 1) * MIB]
    obj = item.storage["object"]
    client = site["cluster"].client()
    retention = client.get_object_retention(Bucket=site["primary"], Key=obj["key"],
                                            VersionId=obj["version_id"])["Retention"]
    assert retention["Mode"] == "COMPLIANCE"
    assert retention["RetainUntilDate"] >= item.retain_until
    # it came through a multipart upload under staging/, which the bucket's floor locked as
    # it completed (kept there, hidden by a delete marker, until the floor passes)
    staged = client.list_object_versions(Bucket=site["primary"], Prefix="staging/")
    assert obj["size"] in [v["Size"] for v in staged.get("Versions", [])]


def test_verify_every_item_then_retention_run_with_the_defaults(site):
    report = _verify()
    items = _items(site["config"])
    assert report["failed"] == [] and report["passed"] == len(items)
    assert len(report["findings"]) == 1  # DSJ-0207_broken.MP4
    out = run_json("retention", "run")
    assert out["problems"] == [] and out["renewed"] == []  # 50 years ahead: nothing due
    assert run_json("retention", "check")["ok"]


def test_replicate_verify_the_replica_and_restore_a_misread_object(site, monkeypatch):
    rep = run_json("replicate")
    assert rep["failed"] == [] and rep["items_pending"] == 0
    assert _verify("--copy", "replica")["failed"] == []

    item = next(i for i in _items(site["config"]) if i.status == "archived")
    obj = item.storage["object"]
    misread = {(obj["key"], obj["version_id"])}
    misread_through_bootstrap(monkeypatch, misread)
    zone = settings.load().unit_zone(None)
    year = (item.description.recorded_end or item.ingested_at).astimezone(zone).year
    report = run_json("verify", "--year", str(year), "--all", code=1)
    bad = {r["item"]: {p["code"] for p in r["problems"]} for r in report["results"]
           if not r["ok"]}
    assert item.id in bad and "ingest-finding" not in bad.pop(item.id)
    assert all(codes == {"ingest-finding"} for codes in bad.values())  # the broken MP4
    report_file = _write(site["root"] / "verify.json", json.dumps(report))
    out = run_json("restore", "--from-report", str(report_file))
    assert out["restored"] == [item.id] and out["unrecoverable"] == []
    (done,) = out["results"][0]["restored"]
    assert done["copy"] == "primary" and done["failed_version"] == obj["version_id"]
    site["restored"] = (item.sha256, obj["key"], obj["version_id"], done["new_version"])
    # the good bytes from the replica are a new version on Ceph, locked; the misread one stays
    store = bootstrap.open_store(settings.load())
    assert store.versions(obj["key"]) == [obj["version_id"], done["new_version"]]
    assert store.lock(obj["key"], done["new_version"]).retain_until >= item.retain_until
    assert _verify()["failed"] == []


def test_migrate_ceph_to_local_and_back_to_ceph_each_verified(site, monkeypatch):
    root, cluster = site["root"], site["cluster"]
    local = _write(root / "to-local.toml",
                   f'[catalog]\npath = "{root / "local.sqlite"}"\n'
                   f'[store]\nbackend = "local"\npath = "{root / "local-worm"}"\n')
    bucket = cluster.new_bucket("e2e-back")
    back = _write(root / "to-ceph.toml",
                  f'[catalog]\npath = "{root / "back.sqlite"}"\n[store]\n'
                  f"{_s3(cluster.endpoint, bucket)}")
    count = len(_items(site["config"]))
    out = run_json("migrate", "--to", str(local))
    assert not out["failed"]
    monkeypatch.setenv("CUSTODY_CONFIG", str(local))
    assert _verify()["passed"] == count
    out = run_json("migrate", "--to", str(back))
    assert not out["failed"]
    monkeypatch.setenv("CUSTODY_CONFIG", str(back))
    assert _verify()["passed"] == count
    assert run_json("audit", "verify")["ok"]
    assert _open(back).store.describe() == {"backend": "s3", "location": bucket}


def test_rebuild_the_catalog_from_the_ceph_bucket_alone(site):
    archive = _open(site["config"])
    try:
        archive.finish_command()
        before = snapshot(archive.catalog)
    finally:
        archive.catalog.close()
    into = site["root"] / "rebuilt.sqlite"
    doc = run_json("rebuild-catalog", "--into", str(into))
    assert doc["ledger_ok"] and doc["problems"] == []
    assert doc["store"]["location"] == site["primary"]
    rebuilt = SQLiteCatalog(into)
    try:
        after = snapshot(rebuilt)
    finally:
        rebuilt.close()
    # after the restore above both name the restored object's good version
    restored = site.get("restored")
    if restored is not None:
        sha, key, _failed, good = restored
        assert (sha, key, good) in after["objects"] and (sha, key, good) in before["objects"]
    assert after == before


def test_a_horizon_past_2106_is_refused_at_init_on_ceph_naming_the_setting(
        ceph_cluster, tmp_path, monkeypatch):
    """A 100-year horizon cannot be held by Ceph RGW's 32-bit dates: init refuses before
    anything is locked wrongly, naming the key to lower; the default horizon works (above)."""
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("CUSTODY_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("CUSTODY_TESTING", "1")
    monkeypatch.setenv("CUSTODY_TEST_PEOPLE_DIR", str(tmp_path / "people"))
    monkeypatch.delenv("CUSTODY_ACT_AS", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    bucket = ceph_cluster.new_bucket("e2e-century")
    config = _write(tmp_path / "custody.toml",
                    f"[store]\n{_s3(ceph_cluster.endpoint, bucket)}"
                    "[retention]\npermanent_lock_years = 100\n")
    monkeypatch.setenv("CUSTODY_CONFIG", str(config))
    err = run("init", code=1).stderr
    assert "2106-02-07" in err and "permanent_lock_years" in err
    store = bootstrap.open_store(settings.load())
    assert list(store.list_keys()) == []  # nothing was locked, wrongly or not
    release_all_for_tests(tmp_path)
