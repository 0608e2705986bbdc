"""What the S3 Object Lock store must do beyond the shared WORM contract."""

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
from archive.worm.s3 import S3WormStore, init_bucket, make_client
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


@pytest.fixture
def store(tmp_path):
    with s3_store(tmp_path) as s:
        yield s


# --- the bucket ----------------------------------------------------------------------------
def test_init_refuses_existing_bucket_without_object_lock():
    with s3_client() as client:
        client.create_bucket(Bucket="plain-bucket")
        with pytest.raises(InputError, match="plain-bucket"):
            init_bucket(client, "plain-bucket")
        with pytest.raises(InputError, match="plain-bucket.*Object Lock"):
            S3WormStore(client, "plain-bucket")


def test_init_creates_locked_versioned_bucket_and_is_repeatable():
    with s3_client() as client:
        init_bucket(client, BUCKET)
        init_bucket(client, BUCKET)
        conf = client.get_object_lock_configuration(Bucket=BUCKET)["ObjectLockConfiguration"]
        assert conf["ObjectLockEnabled"] == "Enabled"
        assert client.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
        with pytest.raises(InputError, match="no-such-bucket"):
            S3WormStore(client, "no-such-bucket")


def test_bucket_with_default_retention_refused():
    # A default rule would lock staging uploads before their virus scan is clean.
    with s3_client() as client:
        init_bucket(client, BUCKET)
        client.put_object_lock_configuration(Bucket=BUCKET, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}}})
        with pytest.raises(InputError, match="default retention"):
            S3WormStore(client, BUCKET)


def test_from_settings_creates_bucket_on_init():
    with s3_client():
        cfg = {"backend": "s3", "endpoint_url": "", "bucket": "from-settings",
               "region": "us-east-1", "part_size_mib": 16}
        with pytest.raises(InputError, match="from-settings"):
            S3WormStore.from_settings(cfg)
        store = S3WormStore.from_settings(cfg, create=True)
        assert store.location == "from-settings" and store.part_size == 16 * MIB
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
def test_shortening_refused_by_hook_as_by_s3(store):
    v = _put(store, b"x" * 100, _later(days=10))
    with pytest.raises(ClientError) as err:
        store.client.put_object_retention(
            Bucket=BUCKET, Key=v.key, VersionId=v.version_id,
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
    uploads = store.client.list_multipart_uploads(Bucket=BUCKET)["Uploads"]
    assert len(uploads) == 1 and uploads[0]["Key"].startswith("staging/")
    parts = store.client.list_parts(Bucket=BUCKET, Key=uploads[0]["Key"],
                                    UploadId=uploads[0]["UploadId"])["Parts"]
    assert len(parts) == 1
    pending.abort()  # the scan found a virus
    assert store.client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    listing = store.client.list_object_versions(Bucket=BUCKET)
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
    store.discard_pending(name)
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
    assert store.lock("ledger/a", a.version_id).mode is None


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
