"""The S3 Object Lock backend (COMPLIANCE mode) of the write-once store.

A COMPLIANCE lock can never be undone, so bytes stream into an unlocked multipart upload
under ``staging/`` while the caller's virus scan runs; only ``commit`` (after a clean verdict)
creates the content-addressed object, with the lock in the create request. Every lock is read
back with head_object and applied explicitly where the server dropped it; a lock that still
does not show fails closed (LockNotConfirmed), so the caller never catalogs an unproven item.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any, BinaryIO

from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    FlexibleChecksumError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from archive.domain.errors import (
    InputError,
    LockNotConfirmed,
    NotFound,
    ProblemFound,
    ServiceUnavailable,
    WormViolation,
)
from archive.domain.ids import uuid7
from archive.domain.model import Lock, StoredVersion, iso, utc
from archive.worm.base import (
    CHUNK,
    PendingObject,
    WormStore,
    check_key,
    check_retention,
    object_key,
    refuse_early_delete,
    refuse_shortening,
)

MIB = 1024 * 1024
MIN_PART_SIZE = 5 * MIB  # S3's minimum for every part but the last
DEFAULT_PART_SIZE = 8 * MIB
MAX_COPY = 5 * 1024 * MIB  # CopyObject's limit; larger objects are copied part by part
COPY_PART_SIZE = 1024 * MIB
STAGING = "staging/"
COMPLIANCE = "COMPLIANCE"
# MD5 of the empty body of a CopyObject request (see _copy_md5).
_EMPTY_MD5 = "1B2M2Y8AsgTpgAEAYEYp5A=="
# Transport failures and missing credentials: the service is unavailable, not the input bad.
_UNREACHABLE = (BotoConnectionError, HTTPClientError, NoCredentialsError,
                PartialCredentialsError)
_MISSING = {"NoSuchKey", "NoSuchVersion", "NoSuchUpload", "404", "NotFound", "405",
            "MethodNotAllowed", "InvalidArgument"}
_EXISTS = {"PreconditionFailed", "ConditionalRequestConflict"}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _call(client: Any, op: str, **params: Any) -> dict:
    try:
        return getattr(client, op)(**params)
    except _UNREACHABLE as exc:
        raise ServiceUnavailable("S3", client.meta.endpoint_url, str(exc)) from exc


def _check_version(key: str, version_id: str) -> None:
    check_key(key)
    if not version_id:  # S3 would read the latest version instead: never what was meant
        raise InputError(f"{key}: no version id given", subject=key)


def _b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def _whole_ms(dt: datetime) -> datetime:
    """Round up to the millisecond: S3 keeps retain-until dates to the millisecond at most,
    and rounding down would ask for less than the caller wanted."""
    dt = utc(dt)
    extra = dt.microsecond % 1000
    return dt + timedelta(microseconds=1000 - extra) if extra else dt


def _lock_params(retain_until: datetime | None, legal_hold: bool) -> dict:
    params: dict[str, Any] = {}
    if retain_until is not None:
        # botocore sends header dates in whole seconds (rounded down); _confirm tops up the
        # missing fraction explicitly, so the lock exists from creation either way.
        params.update(ObjectLockMode=COMPLIANCE, ObjectLockRetainUntilDate=utc(retain_until))
    if legal_hold:
        params["ObjectLockLegalHoldStatus"] = "ON"
    return params


def _holds(lock: Lock, retain_until: datetime | None, legal_hold: bool) -> bool:
    # GOVERNANCE can be bypassed by a privileged user: only COMPLIANCE counts as retention.
    return lock.covers(retain_until, legal_hold) and (
        retain_until is None or lock.mode == COMPLIANCE)


def _copy_md5(request: Any, **_: Any) -> None:
    """Object-lock writes must carry a body checksum; CopyObject has no body and botocore
    adds none, which moto refuses. The MD5 of the empty body is true and harmless on S3."""
    if "Content-MD5" not in request.headers:
        request.headers["Content-MD5"] = _EMPTY_MD5


def make_client(endpoint_url: str | None = None, region: str | None = None,
                access_key_id: str | None = None, secret_access_key: str | None = None,
                session_token: str | None = None, *, connect_timeout: float = 5,
                read_timeout: float = 60, max_attempts: int = 3) -> Any:
    """A boto3 S3 client; credentials not given come from boto3's usual chain."""
    import boto3

    config = Config(connect_timeout=connect_timeout, read_timeout=read_timeout,
                    retries={"mode": "standard", "max_attempts": max_attempts})
    return boto3.client("s3", endpoint_url=endpoint_url, region_name=region,
                        aws_access_key_id=access_key_id,
                        aws_secret_access_key=secret_access_key,
                        aws_session_token=session_token, config=config)


def _lock_configuration(client: Any, bucket: str) -> dict | None:
    """The bucket's Object Lock configuration: {} when it has none, None when no bucket."""
    try:
        return _call(client, "get_object_lock_configuration",
                     Bucket=bucket).get("ObjectLockConfiguration", {})
    except ClientError as exc:
        if _code(exc) == "ObjectLockConfigurationNotFoundError":
            return {}
        if _code(exc) == "NoSuchBucket":
            return None
        raise


def _check_bucket(client: Any, bucket: str) -> None:
    conf = _lock_configuration(client, bucket)
    if conf is None:
        raise NotFound(f"S3 bucket {bucket} does not exist; create it with init_bucket",
                       subject=bucket)
    if conf.get("ObjectLockEnabled") != "Enabled":
        raise InputError(f"S3 bucket {bucket} has no Object Lock enabled; custody cannot "
                         "prove COMPLIANCE retention there. Use a bucket created with "
                         "Object Lock (init_bucket on a new name)", subject=bucket)
    if conf.get("Rule", {}).get("DefaultRetention"):
        # A default rule would lock staging uploads before their virus scan is clean.
        raise InputError(f"S3 bucket {bucket} has a default retention rule; remove it, "
                         "custody sets retention on each object itself", subject=bucket)


def init_bucket(client: Any, bucket: str) -> None:
    """Create ``bucket`` with Object Lock (and so versioning) enabled, or accept an existing
    bucket that has it; refuse an existing bucket without Object Lock."""
    if _lock_configuration(client, bucket) is None:
        params: dict[str, Any] = {"Bucket": bucket, "ObjectLockEnabledForBucket": True}
        region = client.meta.region_name
        if region and region != "us-east-1":  # us-east-1 refuses an explicit constraint
            params["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            _call(client, "create_bucket", **params)
        except ClientError as exc:
            if _code(exc) != "BucketAlreadyOwnedByYou":  # a concurrent init is fine
                raise InputError(f"S3 bucket {bucket} could not be created: {exc}",
                                 subject=bucket) from exc
    _check_bucket(client, bucket)


class _S3Pending(PendingObject):
    def __init__(self, store: S3WormStore, retain_until: datetime, legal_hold: bool,
                 new_version: bool = False) -> None:
        self.store = store
        self.new_version = new_version
        self.retain_until = retain_until
        self.legal_hold = legal_hold
        self.key = f"{STAGING}{uuid7()}"
        # Begun at once, even for bytes that end up in a single put: a crash then leaves a
        # visible, discardable upload in pending() instead of nothing to account for.
        self.upload_id: str | None = store._s3(
            "create_multipart_upload", Key=self.key, ChecksumAlgorithm="SHA256")["UploadId"]
        self.staged: str | None = None  # version id of the completed staging object
        self.parts: list[dict] = []
        self.buffer = bytearray()
        self.size = 0
        self.sha256 = hashlib.sha256()
        self.streaming = False
        self.closed = False

    def write(self, chunk: bytes) -> None:
        if self.closed:
            raise InputError(f"{self.key}: upload already committed or aborted")
        self.sha256.update(chunk)
        self.size += len(chunk)
        self.buffer += chunk
        if len(self.buffer) > self.store.multipart_threshold:
            self.streaming = True
        while self.streaming and len(self.buffer) >= self.store.part_size:
            self._upload_part(self.store.part_size)

    def _upload_part(self, n: int) -> None:
        body = bytes(self.buffer[:n])
        del self.buffer[:n]
        number = len(self.parts) + 1
        try:
            r = self.store._s3("upload_part", Key=self.key, UploadId=self.upload_id,
                               PartNumber=number, Body=body, ChecksumAlgorithm="SHA256")
        except BaseException:
            self._abort_quietly()
            raise
        part = {"PartNumber": number, "ETag": r["ETag"]}
        if r.get("ChecksumSHA256"):
            part["ChecksumSHA256"] = r["ChecksumSHA256"]
        self.parts.append(part)

    def commit(self, sha256: str, size: int) -> StoredVersion:
        if self.closed:
            raise InputError(f"{self.key}: upload already committed or aborted")
        key = object_key(sha256)
        try:
            if size != self.size:
                raise InputError(f"{key}: {self.size} bytes received, {size} declared")
            if self.sha256.hexdigest() != sha256:
                # The key names the content: a wrong digest would lock bytes under a lie.
                raise InputError(f"{key}: the bytes received have SHA-256 "
                                 f"{self.sha256.hexdigest()}", subject=key)
            existing = self.store.versions(key)
            if existing and not self.new_version:
                self.abort()
                return self.store._stored(key, existing[-1])
            if not self.streaming:
                data = bytes(self.buffer)
                self.abort()  # the upload only marked the work as pending
                return self.store._put_content(key, data, sha256, self.retain_until,
                                               self.legal_hold, exclusive=not self.new_version)
            return self._commit_staged(key, sha256, size)
        except BaseException:
            self._abort_quietly()
            raise

    def _commit_staged(self, key: str, sha256: str, size: int) -> StoredVersion:
        if self.buffer or not self.parts:
            self._upload_part(len(self.buffer))
        done = self.store._s3("complete_multipart_upload", Key=self.key,
                              UploadId=self.upload_id, MultipartUpload={"Parts": self.parts})
        self.upload_id = None
        self.staged = done["VersionId"]
        version_id = self.store._copy(self.key, self.staged, key, sha256, size,
                                      self.retain_until, self.legal_hold,
                                      exclusive=not self.new_version)
        self.store._delete_staging(self.key, self.staged)
        self.staged = None
        self.closed = True
        if version_id is None:  # a concurrent commit of the same bytes won the race
            return self.store._stored(key, self.store.versions(key)[-1])
        return self.store._confirm(key, version_id, self.retain_until, self.legal_hold, size)

    def abort(self) -> None:
        self.closed = True
        self.buffer = bytearray()
        if self.upload_id is not None:
            try:
                self.store._s3("abort_multipart_upload", Key=self.key, UploadId=self.upload_id)
            except ClientError as exc:
                if _code(exc) != "NoSuchUpload":
                    raise
            self.upload_id = None
        if self.staged is not None:
            self.store._delete_staging(self.key, self.staged)
            self.staged = None

    def _abort_quietly(self) -> None:
        # The original error matters more; what cannot be removed now stays in pending().
        with contextlib.suppress(Exception):
            self.abort()


class S3WormStore(WormStore):
    backend = "s3"

    def __init__(self, client: Any, bucket: str, *, part_size: int = DEFAULT_PART_SIZE,
                 multipart_threshold: int | None = None) -> None:
        if part_size < MIN_PART_SIZE:
            raise InputError(f"S3 part size {part_size} is below the minimum {MIN_PART_SIZE}")
        self.client = client
        self.bucket = bucket
        self.location = bucket
        self.part_size = part_size
        self.multipart_threshold = part_size if multipart_threshold is None \
            else multipart_threshold
        _check_bucket(client, bucket)
        client.meta.events.register("before-sign.s3.CopyObject", _copy_md5,
                                    unique_id="custody-copy-md5")

    @classmethod
    def from_settings(cls, cfg: Mapping[str, Any], create: bool = False) -> S3WormStore:
        """The store a [store] settings section names; ``create`` makes the bucket first.
        Credentials come from boto3's usual chain, never from the settings file."""
        bucket = cfg.get("bucket") or ""
        if not bucket:
            raise InputError("[store] backend is s3 but no bucket is set")
        client = make_client(cfg.get("endpoint_url") or None, cfg.get("region") or None)
        if create:
            init_bucket(client, bucket)
        return cls(client, bucket, part_size=int(cfg.get("part_size_mib", 8)) * MIB)

    def _s3(self, op: str, **params: Any) -> dict:
        return _call(self.client, op, Bucket=self.bucket, **params)

    # --- writing -------------------------------------------------------------------------
    def begin_object(self, retain_until: datetime, legal_hold: bool = False, *,
                     new_version: bool = False) -> PendingObject:
        check_retention(retain_until)
        return _S3Pending(self, retain_until, legal_hold, new_version)

    def put_blob(self, key: str, data: bytes, retain_until: datetime | None,
                 legal_hold: bool = False, *, new_version: bool = False) -> StoredVersion:
        check_key(key)
        check_retention(retain_until)
        if key.startswith(STAGING):
            raise InputError(f"{key}: {STAGING} is reserved for uploads in progress")
        if self.versions(key) and not new_version:
            raise WormViolation(f"{key} already exists; the store never overwrites",
                                subject=key)
        digest = hashlib.sha256(data).hexdigest()
        version_id = self._put(key, data, digest, retain_until, legal_hold,
                               exclusive=not new_version)
        if version_id is None:
            raise WormViolation(f"{key} already exists; the store never overwrites",
                                subject=key)
        return self._confirm(key, version_id, retain_until, legal_hold, len(data))

    def _put_content(self, key: str, data: bytes, sha256: str, retain_until: datetime,
                     legal_hold: bool, exclusive: bool = True) -> StoredVersion:
        version_id = self._put(key, data, sha256, retain_until, legal_hold, exclusive)
        if version_id is None:  # stored meanwhile by someone else: same bytes by definition
            return self._stored(key, self.versions(key)[-1])
        return self._confirm(key, version_id, retain_until, legal_hold, len(data))

    def _put(self, key: str, data: bytes, sha256: str, retain_until: datetime | None,
             legal_hold: bool, exclusive: bool = True) -> str | None:
        """One PutObject, lock in the request; None when the key already exists (unless not
        ``exclusive``: a restore's new version beside a damaged one)."""
        guard = {"IfNoneMatch": "*"} if exclusive else {}
        try:
            r = self._s3("put_object", Key=key, Body=data, **guard,
                         ChecksumAlgorithm="SHA256", ChecksumSHA256=_b64(sha256),
                         **_lock_params(retain_until, legal_hold))
        except ClientError as exc:
            if _code(exc) in _EXISTS:
                return None
            raise
        return r["VersionId"]

    def _copy(self, src_key: str, src_version: str, key: str, sha256: str, size: int,
              retain_until: datetime, legal_hold: bool, exclusive: bool = True) -> str | None:
        """Server-side copy of the staged bytes into ``key``, lock in the create request;
        None when the key already exists."""
        source = {"Bucket": self.bucket, "Key": src_key, "VersionId": src_version}
        lock = _lock_params(retain_until, legal_hold)
        try:
            guard = {"IfNoneMatch": "*"} if exclusive else {}
            if size > MAX_COPY:
                return self._copy_in_parts(source, key, size, lock, guard)
            r = self._s3("copy_object", Key=key, CopySource=source, **guard,
                         ChecksumAlgorithm="SHA256", **lock)
        except ClientError as exc:
            if _code(exc) in _EXISTS:
                return None
            raise
        claimed = r.get("CopyObjectResult", {}).get("ChecksumSHA256")
        # A composite checksum ("...-N") is not a digest of the whole object: nothing to say.
        if claimed and "-" not in claimed and claimed != _b64(sha256):
            raise ProblemFound(f"{key}@{r['VersionId']}: S3 reports SHA-256 {claimed} for the "
                               "copied bytes, not the content address; do not catalog it",
                               subject=key)
        return r["VersionId"]

    def _copy_in_parts(self, source: dict, key: str, size: int, lock: dict,
                       guard: dict) -> str:
        upload_id = self._s3("create_multipart_upload", Key=key, **lock)["UploadId"]
        try:
            parts = []
            for number, start in enumerate(range(0, size, COPY_PART_SIZE), 1):
                end = min(start + COPY_PART_SIZE, size) - 1
                r = self._s3("upload_part_copy", Key=key, UploadId=upload_id,
                             PartNumber=number, CopySource=source,
                             CopySourceRange=f"bytes={start}-{end}")
                parts.append({"PartNumber": number, "ETag": r["CopyPartResult"]["ETag"]})
            return self._s3("complete_multipart_upload", Key=key, UploadId=upload_id,
                            MultipartUpload={"Parts": parts}, **guard)["VersionId"]
        except BaseException:
            with contextlib.suppress(Exception):  # the unfinished upload shows in pending()
                self._s3("abort_multipart_upload", Key=key, UploadId=upload_id)
            raise

    def _delete_staging(self, key: str, version_id: str) -> None:
        try:
            self._s3("delete_object", Key=key, VersionId=version_id)
        except ClientError as exc:
            if _code(exc) not in _MISSING:
                raise

    def _confirm(self, key: str, version_id: str, retain_until: datetime | None,
                 legal_hold: bool, size: int) -> StoredVersion:
        """Read the lock back; apply what the server dropped; fail closed if still absent."""
        stored = self._stored(key, version_id)
        if not _holds(stored.lock, retain_until, legal_hold):
            try:
                if retain_until is not None and not _holds(stored.lock, retain_until, False):
                    shown = stored.lock.retain_until
                    until = max(utc(retain_until), shown) if shown else retain_until
                    self._s3("put_object_retention", Key=key, VersionId=version_id,
                             Retention={"Mode": COMPLIANCE, "RetainUntilDate": _whole_ms(until)})
                if legal_hold and not stored.lock.legal_hold:
                    self._s3("put_object_legal_hold", Key=key, VersionId=version_id,
                             LegalHold={"Status": "ON"})
            except ClientError as exc:
                raise LockNotConfirmed(f"{key}@{version_id}: S3 refused to apply the lock: "
                                       f"{exc}", subject=key) from exc
            stored = self._stored(key, version_id)
            if not _holds(stored.lock, retain_until, legal_hold):
                raise LockNotConfirmed(
                    f"{key}@{version_id}: S3 shows {stored.lock.mode} until "
                    f"{iso(stored.lock.retain_until)}, legal hold {stored.lock.legal_hold}; "
                    f"asked for {COMPLIANCE} until {iso(retain_until)}, legal hold "
                    f"{legal_hold}", subject=key)
        if stored.size != size:
            raise ProblemFound(f"{key}@{version_id}: S3 stored {stored.size} bytes, "
                               f"{size} were sent", subject=key)
        return stored

    # --- reading -------------------------------------------------------------------------
    def _head(self, key: str, version_id: str) -> dict:
        _check_version(key, version_id)
        try:
            return self._s3("head_object", Key=key, VersionId=version_id)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                raise NotFound(f"{key}@{version_id} is not in the store", subject=key) from exc
            raise

    def _stored(self, key: str, version_id: str) -> StoredVersion:
        head = self._head(key, version_id)
        return StoredVersion(self.backend, self.location, key, version_id,
                             int(head["ContentLength"]), self._lock_of(head))

    @staticmethod
    def _lock_of(head: dict) -> Lock:
        # head_object, not get_object_retention: moto does not implement the latter.
        mode = head.get("ObjectLockMode")
        until = head.get("ObjectLockRetainUntilDate")
        return Lock(mode, utc(until) if until else None,
                    head.get("ObjectLockLegalHoldStatus") == "ON",
                    {"object_lock": mode, "versioning": True})

    def open_version(self, key: str, version_id: str) -> BinaryIO:
        _check_version(key, version_id)
        size = int(self._head(key, version_id)["ContentLength"])
        return io.BufferedReader(_RangedReader(self, key, version_id, size), 1 << 20)

    def read(self, key: str, version_id: str, chunk_size: int = CHUNK) -> Iterator[bytes]:
        _check_version(key, version_id)
        try:
            body = self._s3("get_object", Key=key, VersionId=version_id)["Body"]
        except ClientError as exc:
            if _code(exc) in _MISSING:
                raise NotFound(f"{key}@{version_id} is not in the store", subject=key) from exc
            raise
        try:
            # S3 (and moto) may not verify checksums on the way out: callers verify digests.
            yield from body.iter_chunks(chunk_size)
        except _UNREACHABLE as exc:
            raise ServiceUnavailable("S3", self.client.meta.endpoint_url, str(exc)) from exc
        except FlexibleChecksumError as exc:  # the stored bytes no longer match their checksum
            raise ProblemFound(f"{key}@{version_id}: S3 reports a checksum mismatch reading "
                               f"it back: {exc}", subject=key) from exc
        finally:
            body.close()

    def lock(self, key: str, version_id: str) -> Lock:
        return self._lock_of(self._head(key, version_id))

    def _listing(self, prefix: str) -> Iterator[tuple[str, str, int]]:
        """(key, version id, size) under ``prefix``, keys in order, each key's versions oldest
        first; delete markers left out."""
        def pages() -> Iterator[tuple[str, str, int]]:
            params: dict[str, Any] = {"Prefix": prefix}
            while True:
                page = self._s3("list_object_versions", **params)
                for v in page.get("Versions", []):
                    yield v["Key"], v["VersionId"], int(v["Size"])
                if not page.get("IsTruncated"):
                    return
                params["KeyMarker"] = page["NextKeyMarker"]
                if page.get("NextVersionIdMarker"):
                    params["VersionIdMarker"] = page["NextVersionIdMarker"]

        # S3 lists each key's versions newest first.
        for _key, group in groupby(pages(), key=lambda v: v[0]):
            yield from reversed(list(group))

    def versions(self, key: str) -> list[str]:
        check_key(key)
        # A prefix also matches longer keys ("a/b" matches "a/bc"): keep exact matches only.
        return [vid for k, vid, _ in self._listing(key) if k == key]

    def list_keys(self, prefix: str = "") -> Iterator[tuple[str, str, int]]:
        if prefix:
            check_key(prefix.rstrip("/"))
        for entry in self._listing(prefix):
            if not entry[0].startswith(STAGING):
                yield entry

    # --- changing protection -------------------------------------------------------------
    def extend_retention(self, key: str, version_id: str, retain_until: datetime) -> Lock:
        wanted = utc(retain_until)
        current = self.lock(key, version_id)
        # Refused here, before sending: S3 refuses too, but a stand-in server might not.
        refuse_shortening(key, version_id, current, wanted)
        check_retention(wanted)
        try:
            self._s3("put_object_retention", Key=key, VersionId=version_id,
                     Retention={"Mode": COMPLIANCE, "RetainUntilDate": _whole_ms(wanted)})
        except ClientError as exc:
            if _code(exc) == "AccessDenied":
                raise WormViolation(f"{key}@{version_id}: S3 refused the retention change: "
                                    f"{exc}", subject=key) from exc
            raise
        lock = self.lock(key, version_id)
        if not _holds(lock, wanted, False):
            raise LockNotConfirmed(f"{key}@{version_id}: extension to {iso(wanted)} not "
                                   "confirmed", subject=key)
        return lock

    def set_legal_hold(self, key: str, version_id: str, on: bool) -> Lock:
        self._head(key, version_id)  # NotFound before a change is attempted
        self._s3("put_object_legal_hold", Key=key, VersionId=version_id,
                 LegalHold={"Status": "ON" if on else "OFF"})
        lock = self.lock(key, version_id)
        if lock.legal_hold != bool(on):
            raise LockNotConfirmed(f"{key}@{version_id}: legal hold not confirmed",
                                   subject=key)
        return lock

    def delete_version(self, key: str, version_id: str) -> None:
        refuse_early_delete(key, version_id, self.lock(key, version_id))
        try:
            self._s3("delete_object", Key=key, VersionId=version_id)
        except ClientError as exc:
            if _code(exc) == "AccessDenied":
                raise WormViolation(f"{key}@{version_id}: S3 refused the delete: {exc}",
                                    subject=key) from exc
            raise

    # --- unfinished uploads --------------------------------------------------------------
    def pending(self) -> list[str]:
        """Unfinished multipart uploads as "<key>#<upload id>", and staging objects completed
        but never copied into place (a crash mid-commit) as "<key>@<version id>"."""
        names = []
        params: dict[str, Any] = {}
        while True:
            page = self._s3("list_multipart_uploads", **params)
            names += [f"{u['Key']}#{u['UploadId']}" for u in page.get("Uploads", [])]
            if not page.get("IsTruncated"):
                break
            params = {"KeyMarker": page["NextKeyMarker"],
                      "UploadIdMarker": page["NextUploadIdMarker"]}
        names += [f"{k}@{vid}" for k, vid, _ in self._listing(STAGING)]
        return sorted(names)

    def discard_pending(self, name: str) -> None:
        # Keys never contain '#' or '@' (check_key), so the first one splits the name.
        if "#" in name:
            key, upload_id = name.split("#", 1)
            check_key(key)
            try:
                self._s3("abort_multipart_upload", Key=key, UploadId=upload_id)
            except ClientError as exc:
                if _code(exc) not in _MISSING:
                    raise
        elif "@" in name and name.startswith(STAGING):
            key, version_id = name.split("@", 1)
            check_key(key)
            self._delete_staging(key, version_id)
        else:
            raise InputError(f"not a pending upload: {name!r}")


class _RangedReader(io.RawIOBase):
    """A seekable file over one S3 object version: every read is a ranged GET."""

    def __init__(self, store: S3WormStore, key: str, version_id: str, size: int) -> None:
        self.store, self.key, self.version_id, self.size = store, key, version_id, size
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buffer) -> int:
        if self.pos >= self.size or len(buffer) == 0:
            return 0
        end = min(self.size, self.pos + len(buffer)) - 1
        body = self.store._s3("get_object", Key=self.key, VersionId=self.version_id,
                              Range=f"bytes={self.pos}-{end}")["Body"]
        data = body.read()
        body.close()
        buffer[:len(data)] = data
        self.pos += len(data)
        return len(data)
