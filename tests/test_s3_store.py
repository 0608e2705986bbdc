"""What the S3 Object Lock store must do beyond the shared WORM contract, on moto and on a
real Ceph RGW (tests/support/ceph.py; skipped without its packages, failed under CI=true)."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError

from archive.domain.errors import (
    InputError,
    LockNotConfirmed,
    ProblemFound,
    ServiceUnavailable,
    WormViolation,
)
from archive.worm import s3 as s3mod
from archive.worm.base import object_key
from archive.worm.s3 import FLOOR_DAYS, S3WormStore, init_bucket, make_client
from tests.support.ceph import ACCESS_KEY, SECRET_KEY
from tests.support.s3 import BUCKET, s3_client, s3_store

MIB = 1024 * 1024
LOCK_PARAMS = ("ObjectLockMode", "ObjectLockRetainUntilDate", "ObjectLockLegalHoldStatus")


def _later(**kw) -> datetime:
    return datetime.now(UTC) + timedelta(**kw)


def _chunks(data: bytes, size: int = 4 * MIB):
    return (data[i:i + size] for i in range(0, len(data), size))


def _put(store, data: bytes, until: datetime, hold: bool = False):
    return store.put_object(_chunks(data), hashlib.sha256(data).hexdigest(), len(data),
                            until, hold)


def _sha(store, key: str, version_id: str) -> str:
    h = hashlib.sha256()
    for chunk in store.read(key, version_id):
        h.update(chunk)
    return h.hexdigest()


def _record(store, *operations: str) -> list[tuple[str, dict]]:
    """(operation, API parameters) of every call of ``operations`` the store makes."""
    calls: list[tuple[str, dict]] = []

    def note(params, model, **_):
        calls.append((model.name, dict(params)))

    for op in operations:
        store.client.meta.events.register(f"before-parameter-build.s3.{op}", note)
    return calls


def _is_ceph(request) -> bool:
    return request.node.callspec.params.get("s3") == "ceph"


@pytest.fixture(params=["moto", "ceph"])
def s3(request):
    """(client, a bucket name nobody used) on in-process moto or the session's Ceph RGW."""
    if request.param == "ceph":
        cluster = request.getfixturevalue("ceph_cluster")
        yield cluster.client(), cluster.new_bucket()
    else:
        with s3_client() as client:
            yield client, BUCKET


@pytest.fixture
def store(s3):
    client, bucket = s3
    init_bucket(client, bucket)
    return S3WormStore(client, bucket)


def _floor(client, bucket: str) -> dict:
    conf = client.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    # moto reports "Years": 0 beside the days
    return {k: v for k, v in conf.get("Rule", {}).get("DefaultRetention", {}).items() if v}


# --- the bucket ----------------------------------------------------------------------------
def test_init_refuses_existing_bucket_without_object_lock(s3):
    client, bucket = s3
    plain = f"{bucket}-plain"
    client.create_bucket(Bucket=plain)
    with pytest.raises(InputError, match=plain):
        init_bucket(client, plain)
    with pytest.raises(InputError, match=f"{plain}.*Object Lock"):
        S3WormStore(client, plain)


def test_init_creates_locked_versioned_bucket_with_its_floor_and_is_repeatable(s3):
    client, bucket = s3
    init_bucket(client, bucket)
    init_bucket(client, bucket)
    conf = client.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    assert conf["ObjectLockEnabled"] == "Enabled"
    # the floor every object gets the moment it exists, whatever its request said
    assert _floor(client, bucket) == {"Mode": "COMPLIANCE", "Days": FLOOR_DAYS}
    assert client.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert S3WormStore(client, bucket).floor_days == FLOOR_DAYS
    with pytest.raises(InputError, match=f"{bucket}-none"):
        S3WormStore(client, f"{bucket}-none")


def test_bucket_without_the_floor_refused_until_init_adds_it(s3):
    client, bucket = s3
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    with pytest.raises(InputError, match="no default retention.*custody init"):
        S3WormStore(client, bucket)
    init_bucket(client, bucket)  # what `custody init` on an existing archive does
    assert _floor(client, bucket) == {"Mode": "COMPLIANCE", "Days": FLOOR_DAYS}
    assert S3WormStore(client, bucket).floor_days == FLOOR_DAYS


@pytest.mark.parametrize("rule", [{"Mode": "GOVERNANCE", "Days": 1},
                                  {"Mode": "COMPLIANCE", "Days": 30},
                                  {"Mode": "COMPLIANCE", "Years": 1}],
                         ids=["governance", "too-long", "years"])
def test_default_retention_that_is_no_safe_floor_refused(s3, rule):
    # GOVERNANCE can be bypassed; a long floor would hold staging copies and routine records
    # past their dates.
    client, bucket = s3
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    client.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": rule}})
    for attempt in (lambda: S3WormStore(client, bucket), lambda: init_bucket(client, bucket)):
        with pytest.raises(InputError, match="not a floor"):
            attempt()


def test_from_settings_creates_bucket_on_init(s3, request, monkeypatch):
    client, bucket = s3
    endpoint = ""
    if _is_ceph(request):  # credentials come from boto3's chain, as in production
        endpoint = client.meta.endpoint_url
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            monkeypatch.delenv(name, raising=False)
    cfg = {"backend": "s3", "endpoint_url": endpoint, "bucket": f"{bucket}-settings",
           "region": "us-east-1", "part_size_mib": 16}
    with pytest.raises(InputError, match=f"{bucket}-settings"):
        S3WormStore.from_settings(cfg)
    store = S3WormStore.from_settings(cfg, create=True)
    assert store.location == f"{bucket}-settings" and store.part_size == 16 * MIB
    with pytest.raises(InputError, match="bucket"):
        S3WormStore.from_settings({**cfg, "bucket": ""})


def test_part_size_below_s3_minimum_refused(tmp_path):
    with pytest.raises(InputError, match="part size"):
        with s3_store(tmp_path, part_size=4 * MIB):
            pass


# --- an unreachable service ----------------------------------------------------------------
def test_unreachable_endpoint_is_service_unavailable():
    client = make_client("http://127.0.0.1:9", "us-east-1", "testing", "testing",
                         connect_timeout=0.5, read_timeout=0.5, max_attempts=1)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as err:
        S3WormStore(client, BUCKET)
    with pytest.raises(ServiceUnavailable):
        init_bucket(client, BUCKET)
    assert err.value.endpoint == "http://127.0.0.1:9" and err.value.exit_code == 3
    assert time.monotonic() - started < 10


def test_missing_credentials_are_service_unavailable(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_SECURITY_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    client = boto3.Session().client("s3", region_name="us-east-1",
                                    endpoint_url="http://127.0.0.1:9")
    with pytest.raises(ServiceUnavailable, match="credentials"):
        S3WormStore(client, BUCKET)


# --- the lock is in the create request -----------------------------------------------------
@pytest.mark.parametrize("copy_in_parts", [False, True], ids=["copy-object", "part-copy"])
def test_lock_in_create_request_of_20_mib_object(store, monkeypatch, copy_in_parts):
    if copy_in_parts:  # take the >5 GiB path without moving 5 GiB through moto
        monkeypatch.setattr(s3mod, "MAX_COPY", 8 * MIB)
        monkeypatch.setattr(s3mod, "COPY_PART_SIZE", 8 * MIB)
    sent: list[tuple[str, str, dict]] = []

    def note(params, model, context, **_):
        sent.append((model.name, context["input_params"]["Key"], dict(params["headers"])))

    for op in ("PutObject", "CreateMultipartUpload", "CopyObject", "UploadPart"):
        store.client.meta.events.register(f"before-call.s3.{op}", note)
    data = os.urandom(20 * MIB)
    until = _later(days=3).replace(microsecond=0)
    v = _put(store, data, until)

    creates = [(op, h) for op, key, h in sent if key == v.key]
    assert [op for op, _ in creates] == (["CreateMultipartUpload"] if copy_in_parts
                                         else ["CopyObject"])
    headers = creates[0][1]
    assert headers["x-amz-object-lock-mode"] == "COMPLIANCE"
    assert headers["x-amz-object-lock-retain-until-date"] == until.strftime("%Y-%m-%dT%H:%M:%SZ")
    # Nothing locked before commit: the staging upload and its parts carry no lock.
    staging = [h for op, key, h in sent if key.startswith("staging/")]
    assert staging and not any("x-amz-object-lock-mode" in h for h in staging)
    assert store.lock(v.key, v.version_id).retain_until >= until
    assert _sha(store, v.key, v.version_id) == hashlib.sha256(data).hexdigest()
    assert store.pending() == [] and list(store.list_keys("staging/")) == []
    assert [k for k, _, _ in store.list_keys("")] == [v.key]


# --- a server that drops or hides the lock -------------------------------------------------
@pytest.mark.parametrize("size", [1000, 12 * MIB], ids=["single-put", "staged"])
def test_dropped_lock_is_applied_explicitly(store, size):
    def strip(params, **_):
        for name in LOCK_PARAMS:
            params.pop(name, None)

    for op in ("PutObject", "CopyObject"):
        store.client.meta.events.register(f"before-parameter-build.s3.{op}", strip)
    repairs = _record(store, "PutObjectRetention", "PutObjectLegalHold")
    until = _later(days=5)
    v = _put(store, os.urandom(size), until, hold=True)
    assert [op for op, _ in repairs] == ["PutObjectRetention", "PutObjectLegalHold"]
    lock = store.lock(v.key, v.version_id)
    assert lock.mode == "COMPLIANCE" and lock.retain_until >= until and lock.legal_hold
    assert v.lock == lock


@pytest.mark.parametrize("size", [1000, 12 * MIB], ids=["single-put", "staged"])
def test_lock_never_shown_fails_closed(store, size):
    def hide(parsed, **_):
        for name in LOCK_PARAMS:
            parsed.pop(name, None)

    store.client.meta.events.register("after-call.s3.HeadObject", hide)
    data = os.urandom(size)
    result = None
    with pytest.raises(LockNotConfirmed):
        result = _put(store, data, _later(days=5))
    assert result is None  # nothing for the caller to catalog
    assert store.pending() == [] and list(store.list_keys("staging/")) == []
    with pytest.raises(LockNotConfirmed):
        store.put_blob("ledger/checkpoints/0001.json", b"{}", _later(days=1))


def test_copy_with_other_digest_fails_closed(store):
    def corrupt(parsed, **_):
        parsed["CopyObjectResult"]["ChecksumSHA256"] = "A" * 43 + "="

    store.client.meta.events.register("after-call.s3.CopyObject", corrupt)
    with pytest.raises(ProblemFound, match="content address"):
        _put(store, os.urandom(9 * MIB), _later(days=1))
    assert store.pending() == []


def test_extension_not_shown_is_not_confirmed(store):
    v = _put(store, b"evidence", _later(days=1))
    store.client.meta.events.register(
        "after-call.s3.HeadObject",
        lambda parsed, **_: parsed.update(ObjectLockRetainUntilDate=v.lock.retain_until))
    with pytest.raises(LockNotConfirmed):
        store.extend_retention(v.key, v.version_id, _later(days=30))


# --- shortening ----------------------------------------------------------------------------
def test_shortening_refused_by_the_server(store):
    # Ceph RGW refuses it itself; on moto the hook of tests/support/s3.py does, as S3 would.
    v = _put(store, b"x" * 100, _later(days=10))
    with pytest.raises(ClientError) as err:
        store.client.put_object_retention(
            Bucket=store.bucket, Key=v.key, VersionId=v.version_id,
            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": _later(days=2)})
    assert err.value.response["Error"]["Code"] == "AccessDenied"


def test_store_refuses_shortening_before_sending(store):
    v = _put(store, b"y" * 100, _later(days=10))
    sent = _record(store, "PutObjectRetention")
    with pytest.raises(WormViolation):
        store.extend_retention(v.key, v.version_id, _later(days=2))
    assert sent == []


def test_retention_dates_sent_to_the_millisecond_never_earlier(store):
    v = _put(store, b"z" * 100, _later(days=1))
    sent = _record(store, "PutObjectRetention")
    wanted = _later(days=40).replace(microsecond=123456)
    lock = store.extend_retention(v.key, v.version_id, wanted)
    assert sent[0][1]["Retention"]["RetainUntilDate"] == wanted.replace(microsecond=124000)
    assert lock.retain_until >= wanted


# --- the infected file: nothing may remain -------------------------------------------------
def test_aborted_upload_leaves_nothing(store):
    data = os.urandom(12 * MIB)
    pending = store.begin_object(_later(days=1))
    for chunk in _chunks(data, MIB):
        pending.write(chunk)
    # Parts went up unlocked while the scan ran; no object exists yet.
    uploads = store.client.list_multipart_uploads(Bucket=store.bucket)["Uploads"]
    assert len(uploads) == 1 and uploads[0]["Key"].startswith("staging/")
    parts = store.client.list_parts(Bucket=store.bucket, Key=uploads[0]["Key"],
                                    UploadId=uploads[0]["UploadId"])["Parts"]
    assert len(parts) == 1
    pending.abort()  # the scan found a virus
    assert store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []
    listing = store.client.list_object_versions(Bucket=store.bucket)
    assert listing.get("Versions", []) == [] and listing.get("DeleteMarkers", []) == []
    assert store.pending() == []
    assert store.versions(object_key(hashlib.sha256(data).hexdigest())) == []


def test_crash_after_staging_leaves_discardable_staging_object(store, monkeypatch):
    def crash(*_a, **_kw):
        raise KeyboardInterrupt  # the process stops between completing and copying

    monkeypatch.setattr(S3WormStore, "_copy", crash)
    monkeypatch.setattr(s3mod._S3Pending, "_abort_quietly", lambda self: None)
    data = os.urandom(9 * MIB)
    with pytest.raises(KeyboardInterrupt):
        pending = store.begin_object(_later(days=1))
        for chunk in _chunks(data):
            pending.write(chunk)
        pending.commit(hashlib.sha256(data).hexdigest(), len(data))
    (name,) = store.pending()
    assert name.startswith("staging/") and "@" in name
    with pytest.raises(InputError):
        store.discard_pending(name.replace("staging/", "objects/", 1))
    store.discard_pending(name)  # deleted (moto), or hidden until its floor passes (Ceph)
    assert store.pending() == []


# --- commits -------------------------------------------------------------------------------
def test_wrong_digest_refused_nothing_stored(store):
    pending = store.begin_object(_later(days=1))
    pending.write(b"abc")
    with pytest.raises(InputError, match="SHA-256"):
        pending.commit(hashlib.sha256(b"abd").hexdigest(), 3)
    assert store.pending() == [] and list(store.list_keys("")) == []


def test_same_large_bytes_stored_once(store):
    data = os.urandom(12 * MIB)
    a = _put(store, data, _later(days=1))
    b = _put(store, data, _later(days=1))
    assert a.version_id == b.version_id and store.versions(a.key) == [a.version_id]
    assert store.pending() == []


def test_versions_match_the_exact_key_only(store):
    a = store.put_blob("ledger/a", b"1", None)
    store.put_blob("ledger/ab", b"2", None)
    assert store.versions("ledger/a") == [a.version_id]
    # nothing asked for, the floor holds it all the same
    lock = store.lock("ledger/a", a.version_id)
    assert lock.mode == "COMPLIANCE" and lock.retain_until > _later(days=FLOOR_DAYS, minutes=-5)


def test_unsafe_keys_refused_before_any_request(store):
    sent = []
    store.client.meta.events.register("before-call.s3", lambda **kw: sent.append(kw))
    for call in (lambda: store.put_blob("a/../b", b"x", None),
                 lambda: store.versions("a//b"),
                 lambda: store.lock("/abs", "v1"),
                 lambda: list(store.read("a b", "v1")),
                 lambda: store.discard_pending("../x#upload")):
        with pytest.raises(InputError):
            call()
    assert sent == []


# --- the floor: no object exists unlocked, even on a server that drops lock headers --------
def _retention(client, bucket: str, key: str, version_id: str) -> dict:
    # get_object_retention, not head_object: what Ceph RGW itself reports (moto's is broken)
    return client.get_object_retention(Bucket=bucket, Key=key,
                                       VersionId=version_id)["Retention"]


def test_ceph_drops_lock_headers_of_multipart_and_copy(ceph_cluster):
    """What the floor is for, measured on the server itself (Ceph RGW 16.2): lock headers on
    a multipart upload and on a copy are ignored. Should a Ceph release honour them, this
    test fails, and the floor becomes a second safeguard instead of the only one."""
    client, bucket = ceph_cluster.client(), ceph_cluster.new_bucket()
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)  # no floor
    lock = {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": _later(days=3)}
    upload = client.create_multipart_upload(Bucket=bucket, Key="mp", **lock)["UploadId"]
    part = client.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1,
                              Body=b"x" * 1000)
    done = client.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    client.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "mp"},
                       **lock)
    for key in ("mp", "copy"):
        assert "ObjectLockMode" not in client.head_object(Bucket=bucket, Key=key)
    # unlocked, so deletable: exactly what must never happen to evidence
    client.delete_object(Bucket=bucket, Key="mp", VersionId=done["VersionId"])


@pytest.mark.parametrize("copy_in_parts", [False, True], ids=["copy-object", "part-copy"])
def test_multipart_object_locked_the_moment_it_completes_on_ceph(ceph_cluster, monkeypatch,
                                                                 copy_in_parts):
    """A multipart object's lock read back from Ceph (get_object_retention) right after its
    completion, before the store does anything else: the floor holds it, and deleting it is
    refused. Then the store extends it to what was asked and reads that back."""
    if copy_in_parts:  # the >5 GiB path: the object itself is a multipart upload
        monkeypatch.setattr(s3mod, "MAX_COPY", 8 * MIB)
        monkeypatch.setattr(s3mod, "COPY_PART_SIZE", 8 * MIB)
    client, bucket = ceph_cluster.client(), ceph_cluster.new_bucket()
    init_bucket(client, bucket)
    store = S3WormStore(client, bucket)
    seen: list[tuple[str, dict, str]] = []

    def at_once(parsed, model, **_):
        key = parsed["Key"] if model.name == "CompleteMultipartUpload" else None
        version_id = parsed.get("VersionId")
        if key is None:  # Ceph names neither key nor version of a copy: the newest
            listing = client.list_object_versions(Bucket=bucket, Prefix="objects/")
            key, version_id = next((v["Key"], v["VersionId"]) for v in listing["Versions"]
                                   if v["IsLatest"])
        retention = _retention(client, bucket, key, version_id)
        with pytest.raises(ClientError) as refused:
            client.delete_object(Bucket=bucket, Key=key, VersionId=version_id)
        seen.append((key, retention, refused.value.response["Error"]["Code"]))

    for op in ("CompleteMultipartUpload", "CopyObject"):
        client.meta.events.register(f"after-call.s3.{op}", at_once)
    until = _later(days=40)
    data = os.urandom(20 * MIB)
    v = _put(store, data, until)

    # the staging object, then the object itself: each locked as it came to exist
    assert [k.split("/")[0] for k, _, _ in seen] == ["staging", "objects"]
    for _key, retention, refused in seen:
        assert retention["Mode"] == "COMPLIANCE" and refused == "AccessDenied"
        assert retention["RetainUntilDate"] > _later(days=FLOOR_DAYS, minutes=-5)
    final = _retention(client, bucket, v.key, v.version_id)
    assert final["Mode"] == "COMPLIANCE" and final["RetainUntilDate"] >= until
    assert _sha(store, v.key, v.version_id) == hashlib.sha256(data).hexdigest()
    assert store.pending() == [] and store.versions(v.key) == [v.version_id]


def test_staging_copy_kept_by_the_floor_waits_hidden_then_goes(store, request, monkeypatch):
    """After a staged commit nothing is pending. On Ceph the floor locked the staging object
    when it completed: it waits under a delete marker, and pending() deletes it (and the
    marker) once its lock has passed; moto applies no floor to multipart objects, so the
    store deleted it at once there."""
    v = _put(store, os.urandom(9 * MIB), _later(days=1))
    assert store.pending() == []
    listing = store.client.list_object_versions(Bucket=store.bucket, Prefix="staging/")
    kept = len(listing.get("Versions", []))
    assert kept == len(listing.get("DeleteMarkers", [])) == (1 if _is_ceph(request) else 0)
    # a staging object whose lock passes in a second stands for one a day old
    put = store.client.put_object(
        Bucket=store.bucket, Key="staging/passing", Body=b"x", ChecksumAlgorithm="SHA256",
        ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=_later(seconds=1))
    store._delete_staging("staging/passing", put["VersionId"])  # refused: hidden instead
    assert store.pending() == []
    time.sleep(2)
    monkeypatch.setattr(store, "floor_days", 0)  # as if a day had gone by
    assert store.pending() == []
    listing = store.client.list_object_versions(Bucket=store.bucket, Prefix="staging/")
    left = [m["Key"] for m in listing.get("Versions", []) + listing.get("DeleteMarkers", [])]
    assert "staging/passing" not in left  # gone, marker and all
    assert len(left) == 2 * kept  # the commit's own staging copy is still locked: kept
    assert _sha(store, v.key, v.version_id)



# --- dates a server cannot hold ------------------------------------------------------------
def test_ceph_wraps_retention_dates_past_2106(ceph_cluster):
    """Measured on the server itself: Ceph RGW keeps retain-until in 32-bit seconds, so a date
    past 2106-02-07 wraps round, and as an extension it unlocks the object."""
    client, bucket = ceph_cluster.client(), ceph_cluster.new_bucket()
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    put = client.put_object(Bucket=bucket, Key="k", Body=b"x", ChecksumAlgorithm="SHA256",
                            ObjectLockMode="COMPLIANCE",
                            ObjectLockRetainUntilDate=_later(days=300))
    client.put_object_retention(Bucket=bucket, Key="k", Retention={
        "Mode": "COMPLIANCE", "RetainUntilDate": datetime(2126, 1, 1, tzinfo=UTC)})
    shown = _retention(client, bucket, "k", put["VersionId"])["RetainUntilDate"]
    assert shown.year == 1989  # 2126-01-01 less 2**32 seconds
    client.delete_object(Bucket=bucket, Key="k", VersionId=put["VersionId"])  # not refused


def test_dates_past_2106_refused_before_sending_where_the_server_wraps_them(store, request):
    far = datetime(2126, 1, 1, tzinfo=UTC)
    v = store.put_blob("keys/near.pem", b"k", s3mod.WRAP_LIMIT)  # the last date that holds
    if not _is_ceph(request):  # moto keeps the date, as S3 does: nothing to refuse
        lock = store.extend_retention(v.key, v.version_id, far)
        assert lock.retain_until == far and store.wraps_dates is False
        return
    sent = _record(store, "PutObject", "PutObjectRetention", "CreateMultipartUpload")
    for attempt in (lambda: store.put_blob("keys/far.pem", b"k", far),
                    lambda: store.begin_object(far),
                    lambda: store.extend_retention(v.key, v.version_id, far)):
        with pytest.raises(LockNotConfirmed, match="2106-02-07"):
            attempt()
    # one probe (put and removed), nothing else sent; the near lock is untouched
    assert [op for op, params in sent] == ["PutObject"]
    assert sent[0][1]["Key"].startswith("staging/probe-") and store.wraps_dates is True
    assert store.pending() == [] and store.versions("keys/far.pem") == []
    assert store.lock(v.key, v.version_id).retain_until == s3mod.WRAP_LIMIT
