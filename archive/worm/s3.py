"""The S3 Object Lock backend (COMPLIANCE mode) of the write-once store.

A COMPLIANCE lock can never be undone, so bytes stream into an unlocked multipart upload
under ``staging/`` while the caller's virus scan runs; only ``commit`` (after a clean verdict)
creates the content-addressed object, with the lock in the create request.

Servers drop lock headers: Ceph RGW 16 ignores them on CompleteMultipartUpload and CopyObject
(a copy takes the source's lock instead), moto on multipart uploads. So the bucket carries a
short default COMPLIANCE retention, the *floor* (FLOOR_DAYS, set by init_bucket when it makes the
bucket), which the server applies to every object the moment it exists, whatever the request
said; the store then reads every lock back with head_object and extends it explicitly to what
the caller asked (never shortening it); a lock that still does not show fails closed
(LockNotConfirmed), so the caller never catalogs an unproven item. The floor also locks a
staging object when its upload completes (after the clean verdict): its bytes then wait out the
floor under a delete marker (RGW shares them with the copy) and pending() removes them after.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
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
from i18n import N_, Text

MIB = 1024 * 1024
# The bucket's default retention: the least lock any object gets from the moment it exists.
# One day covers the time between an upload and its explicit lock many times over; longer
# floors would only keep staging copies (and unlocked blobs) longer, and one longer than a
# routine retention period would hold routine records past their disposal date.
FLOOR_DAYS = 1
MAX_FLOOR_DAYS = 7
# Ceph RGW keeps a retain-until date in 32-bit seconds: a later one wraps round to 1970 and
# after, and as an "extension" it unlocks the object (measured on 16.2.15: 2126-01-01 became
# 1989-11-24 and the object could be deleted). The store sends no date past this to a server
# that wraps it (_refuse_wrapping_dates), and asks the server only when a date is past it.
WRAP_LIMIT = datetime(2106, 2, 7, 6, 28, 15, tzinfo=UTC)
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
        raise InputError(N_("{key}: no version id given"), subject=key, key=key)


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
    """moto: it refuses a CopyObject into a lock bucket without a body checksum, which
    botocore does not add to a request without a body (S3 and Ceph RGW do not ask for one).
    The MD5 of the empty body is true and harmless on a real server."""
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
    # a session of its own: boto3's shared default session keeps the credentials it resolved
    # first, so a second store (a replica, a migration target) would silently reuse them
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint_url, region_name=region, aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key, aws_session_token=session_token,
        config=config)


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


def _floor_days(conf: dict) -> int | None:
    """The floor a bucket's default retention gives every object, in days; None when the
    rule is missing. A rule that is no safe floor is refused: GOVERNANCE can be bypassed, and
    a long one would hold staging copies and routine records too long."""
    rule = conf.get("Rule", {}).get("DefaultRetention")
    if not rule:
        return None
    days = rule.get("Days")
    if rule.get("Mode") != COMPLIANCE or rule.get("Years") or not days \
            or not 1 <= int(days) <= MAX_FLOOR_DAYS:
        raise InputError(N_("the bucket's default retention {rule} is not a floor custody can "
                            "use: it must be {mode} for 1 to {max_days} days (init_bucket sets "
                            "{days})"), rule=rule, mode=COMPLIANCE, max_days=MAX_FLOOR_DAYS,
                         days=FLOOR_DAYS)
    return int(days)


def _check_bucket(client: Any, bucket: str) -> int:
    """The bucket's floor in days, or a refusal saying what is wrong with the bucket."""
    conf = _lock_configuration(client, bucket)
    if conf is None:
        raise NotFound(N_("S3 bucket {bucket} does not exist; create it with init_bucket"),
                       subject=bucket, bucket=bucket)
    if conf.get("ObjectLockEnabled") != "Enabled":
        raise InputError(N_("S3 bucket {bucket} has no Object Lock enabled; custody cannot "
                            "prove COMPLIANCE retention there. Use a bucket created with "
                            "Object Lock (init_bucket on a new name)"), subject=bucket,
                         bucket=bucket)
    try:
        floor = _floor_days(conf)
    except InputError as exc:
        raise InputError(N_("S3 bucket {bucket}: {reason}"), subject=bucket, bucket=bucket,
                         reason=exc.text) from exc
    if floor is None:
        # Without it, a server that drops lock headers (Ceph RGW on every staged object)
        # would hold an unlocked object until the store locks it explicitly.
        raise InputError(N_("S3 bucket {bucket} has no default retention, so an object could "
                            "exist unlocked on a server that drops lock headers; `custody "
                            "init` (init_bucket) adds the {days}-day {mode} floor"),
                         subject=bucket, bucket=bucket, days=FLOOR_DAYS, mode=COMPLIANCE)
    return floor


def init_bucket(client: Any, bucket: str) -> None:
    """Create ``bucket`` with Object Lock (and so versioning) enabled and the floor (a default
    COMPLIANCE retention of FLOOR_DAYS), or accept an existing bucket that has Object Lock,
    adding the floor where it is missing; refuse an existing bucket without Object Lock."""
    conf = _lock_configuration(client, bucket)
    if conf is None:
        params: dict[str, Any] = {"Bucket": bucket, "ObjectLockEnabledForBucket": True}
        region = client.meta.region_name
        if region and region != "us-east-1":  # us-east-1 refuses an explicit constraint
            params["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            _call(client, "create_bucket", **params)
        except ClientError as exc:
            if _code(exc) != "BucketAlreadyOwnedByYou":  # a concurrent init is fine
                raise InputError(N_("S3 bucket {bucket} could not be created: {reason}"),
                                 subject=bucket, bucket=bucket, reason=str(exc)) from exc
        conf = _lock_configuration(client, bucket) or {}
    if conf.get("ObjectLockEnabled") == "Enabled" and not conf.get("Rule"):
        # Set before anything is written to the bucket, so no object ever exists without it.
        try:
            _call(client, "put_object_lock_configuration", Bucket=bucket,
                  ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": {
                      "DefaultRetention": {"Mode": COMPLIANCE, "Days": FLOOR_DAYS}}})
        except ClientError as exc:
            raise InputError(N_("S3 bucket {bucket}: its {days}-day {mode} default retention "
                                "could not be set: {reason}"), subject=bucket, bucket=bucket,
                             days=FLOOR_DAYS, mode=COMPLIANCE, reason=str(exc)) from exc
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
            raise InputError(N_("{key}: upload already committed or aborted"), key=self.key)
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
            raise InputError(N_("{key}: upload already committed or aborted"), key=self.key)
        key = object_key(sha256)
        try:
            if size != self.size:
                raise InputError(N_("{key}: {received} bytes received, {declared} declared"),
                                 key=key, received=self.size, declared=size)
            if self.sha256.hexdigest() != sha256:
                # The key names the content: a wrong digest would lock bytes under a lie.
                raise InputError(N_("{key}: the bytes received have SHA-256 {digest}"),
                                 subject=key, key=key, digest=self.sha256.hexdigest())
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
            # name the winner's version, the first (_first_writer): on a server that ignores
            # If-None-Match (Ceph RGW 16) the newest is this loser's own, and two items of
            # one object would name two versions, one of them outside the catalog's record
            return self.store._stored(key, self.store.versions(key)[0])
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
            raise InputError(N_("S3 part size {size} is below the minimum {minimum}"),
                             size=part_size, minimum=MIN_PART_SIZE)
        self.client = client
        self.bucket = bucket
        self.location = bucket
        self.part_size = part_size
        self.multipart_threshold = part_size if multipart_threshold is None \
            else multipart_threshold
        self.floor_days = _check_bucket(client, bucket)
        self.wraps_dates: bool | None = None  # unknown until a date past WRAP_LIMIT is asked
        client.meta.events.register("before-sign.s3.CopyObject", _copy_md5,
                                    unique_id="custody-copy-md5")

    @classmethod
    def from_settings(cls, cfg: Mapping[str, Any], create: bool = False) -> S3WormStore:
        """The store a [store] settings section names; ``create`` makes the bucket first.
        Credentials come from boto3's usual chain, never from the settings file."""
        bucket = cfg.get("bucket") or ""
        if not bucket:
            raise InputError(N_("[store] backend is s3 but no bucket is set"))
        client = make_client(cfg.get("endpoint_url") or None, cfg.get("region") or None)
        if create:
            init_bucket(client, bucket)
        return cls(client, bucket, part_size=int(cfg.get("part_size_mib", 8)) * MIB)

    def _s3(self, op: str, **params: Any) -> dict:
        return _call(self.client, op, Bucket=self.bucket, **params)

    def _refuse_wrapping_dates(self, retain_until: datetime | None, key: str = "") -> None:
        if retain_until is None or utc(retain_until) <= WRAP_LIMIT:
            return
        if self.wraps_dates is None:
            self.wraps_dates = self._probe_wrapping()
        if self.wraps_dates:
            raise LockNotConfirmed(
                N_("{key}: this S3 server keeps retention dates in 32-bit seconds (Ceph RGW) "
                   "and cannot lock past {limit}; {until} would wrap round and unlock the "
                   "object, so nothing was sent. Set a lock horizon that ends before then: "
                   "[retention] permanent_lock_years (and [ledger] checkpoint_retention_years "
                   "if set; the default 50 fits until 2056); 'custody retention run' renews "
                   "each lock before it ends"), subject=key, key=key or Text(N_("object")),
                limit=iso(WRAP_LIMIT), until=iso(retain_until))

    def _probe_wrapping(self) -> bool:
        """Does the server wrap a date past WRAP_LIMIT? One empty object under staging/,
        locked in GOVERNANCE mode (its owner may remove it) just past the limit, read back
        and removed."""
        key = f"{STAGING}probe-{uuid7()}"
        asked = WRAP_LIMIT + timedelta(days=1)
        version_id = self._s3("put_object", Key=key, Body=b"", ChecksumAlgorithm="SHA256",
                              ChecksumSHA256=_b64(hashlib.sha256(b"").hexdigest()),
                              ObjectLockMode="GOVERNANCE",
                              ObjectLockRetainUntilDate=asked)["VersionId"]
        try:
            shown = self._stored(key, version_id).lock.retain_until
        finally:
            try:  # a wrapped date has passed already; a kept one needs the bypass
                self._s3("delete_object", Key=key, VersionId=version_id,
                         BypassGovernanceRetention=True)
            except ClientError:  # no permission to bypass: hide it as _delete_staging does
                self._s3("delete_object", Key=key)
        return shown is None or shown < asked - timedelta(seconds=1)

    # --- writing -------------------------------------------------------------------------
    def begin_object(self, retain_until: datetime, legal_hold: bool = False, *,
                     new_version: bool = False) -> PendingObject:
        check_retention(retain_until)
        self._refuse_wrapping_dates(retain_until)  # before a byte is sent
        return _S3Pending(self, retain_until, legal_hold, new_version)

    def put_blob(self, key: str, data: bytes, retain_until: datetime | None,
                 legal_hold: bool = False, *, new_version: bool = False) -> StoredVersion:
        check_key(key)
        check_retention(retain_until)
        if key.startswith(STAGING):
            raise InputError(N_("{key}: {prefix} is reserved for uploads in progress"),
                             key=key, prefix=STAGING)
        self._refuse_wrapping_dates(retain_until, key)
        if self.versions(key) and not new_version:
            raise WormViolation(N_("{key} already exists; the store never overwrites"),
                                subject=key, key=key)
        digest = hashlib.sha256(data).hexdigest()
        version_id = self._put(key, data, digest, retain_until, legal_hold,
                               exclusive=not new_version)
        if version_id is None:
            raise WormViolation(N_("{key} already exists; the store never overwrites"),
                                subject=key, key=key)
        return self._confirm(key, version_id, retain_until, legal_hold, len(data))

    def _put_content(self, key: str, data: bytes, sha256: str, retain_until: datetime,
                     legal_hold: bool, exclusive: bool = True) -> StoredVersion:
        version_id = self._put(key, data, sha256, retain_until, legal_hold, exclusive)
        if version_id is None:  # stored meanwhile by someone else: same bytes by definition
            return self._stored(key, self.versions(key)[0])  # the winner's (_first_writer)
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
        return self._first_writer(key, r["VersionId"], exclusive)

    def _first_writer(self, key: str, version_id: str, exclusive: bool) -> str | None:
        """``version_id`` if it is the key's first version, else None: a server that ignores
        If-None-Match (Ceph RGW 16, on PUT and COPY) lets a racing writer add a version
        beside the first. The first one listed is the one every writer names; a loser's
        version stays (locked) and is never returned as written."""
        if not exclusive:
            return version_id
        versions = self.versions(key)
        return version_id if not versions or versions[0] == version_id else None

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
            # Ceph RGW ignores the lock headers here: the copy takes the staging object's
            # lock, which is the bucket's floor (see the module docstring).
            r = self._s3("copy_object", Key=key, CopySource=source, **guard,
                         ChecksumAlgorithm="SHA256", **lock)
        except ClientError as exc:
            if _code(exc) in _EXISTS:
                return None
            raise
        claimed = r.get("CopyObjectResult", {}).get("ChecksumSHA256")
        # A composite checksum ("...-N") is not a digest of the whole object, and Ceph RGW 16
        # reports none: nothing to say then.
        if claimed and "-" not in claimed and claimed != _b64(sha256):
            raise ProblemFound(N_("{key}@{version}: S3 reports SHA-256 {claimed} for the "
                                  "copied bytes, not the content address; do not catalog it"),
                               subject=key, key=key, version=r.get("VersionId", "?"),
                               claimed=claimed)
        version_id = r.get("VersionId")
        if not version_id:
            # Ceph RGW 16 does not say which version a copy made: the newest is the copy (or a
            # racing writer's copy, as good: the key names the content)
            versions = self.versions(key)
            if not versions:
                raise ProblemFound(N_("{key}: S3 reported a copy that it does not list"),
                                   subject=key, key=key)
            version_id = versions[-1]
        return self._first_writer(key, version_id, bool(guard))

    def _copy_in_parts(self, source: dict, key: str, size: int, lock: dict,
                       guard: dict) -> str | None:
        # Ceph RGW and moto drop these lock headers: the object completes under the floor.
        upload_id = self._s3("create_multipart_upload", Key=key, **lock)["UploadId"]
        try:
            parts = []
            for number, start in enumerate(range(0, size, COPY_PART_SIZE), 1):
                end = min(start + COPY_PART_SIZE, size) - 1
                r = self._s3("upload_part_copy", Key=key, UploadId=upload_id,
                             PartNumber=number, CopySource=source,
                             CopySourceRange=f"bytes={start}-{end}")
                parts.append({"PartNumber": number, "ETag": r["CopyPartResult"]["ETag"]})
            version_id = self._s3("complete_multipart_upload", Key=key, UploadId=upload_id,
                                  MultipartUpload={"Parts": parts}, **guard)["VersionId"]
        except BaseException:
            with contextlib.suppress(Exception):  # the unfinished upload shows in pending()
                self._s3("abort_multipart_upload", Key=key, UploadId=upload_id)
            raise
        return self._first_writer(key, version_id, bool(guard))

    def _delete_staging(self, key: str, version_id: str) -> None:
        try:
            self._s3("delete_object", Key=key, VersionId=version_id)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return
            if _code(exc) != "AccessDenied":
                raise
            # The floor locked it as its upload completed (Ceph RGW; S3 too): a delete marker
            # takes it out of pending() now, and pending() deletes it once the floor passed.
            # (Were the delete refused for want of permission, the marker would be too.)
            self._s3("delete_object", Key=key)

    def _confirm(self, key: str, version_id: str, retain_until: datetime | None,
                 legal_hold: bool, size: int) -> StoredVersion:
        """Read the lock back; apply what the server dropped (Ceph RGW: every lock header of
        a copy or a multipart upload; moto: those of a multipart upload), extending the floor
        and never shortening what shows; fail closed if the lock still does not show."""
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
                # a second writer of the same bytes may have raised the lock past our date
                # meanwhile, and S3 refuses an earlier one: what counts is what S3 now shows
                stored = self._stored(key, version_id)
                if not _holds(stored.lock, retain_until, legal_hold):
                    raise LockNotConfirmed(N_("{key}@{version}: S3 refused to apply the "
                                              "lock: {reason}"), subject=key, key=key,
                                           version=version_id, reason=str(exc)) from exc
            stored = self._stored(key, version_id)
            if not _holds(stored.lock, retain_until, legal_hold):
                raise LockNotConfirmed(
                    N_("{key}@{version}: S3 shows {mode} until {until}, legal hold {hold}; "
                       "asked for {wanted_mode} until {wanted_until}, legal hold "
                       "{wanted_hold}"), subject=key, key=key, version=version_id,
                    mode=stored.lock.mode, until=iso(stored.lock.retain_until),
                    hold=stored.lock.legal_hold, wanted_mode=COMPLIANCE,
                    wanted_until=iso(retain_until), wanted_hold=legal_hold)
        if stored.size != size:
            raise ProblemFound(N_("{key}@{version}: S3 stored {stored} bytes, {sent} were "
                                  "sent"), subject=key, key=key, version=version_id,
                               stored=stored.size, sent=size)
        return stored

    # --- reading -------------------------------------------------------------------------
    def _head(self, key: str, version_id: str) -> dict:
        _check_version(key, version_id)
        try:
            return self._s3("head_object", Key=key, VersionId=version_id)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                raise NotFound(N_("{key}@{version} is not in the store"), subject=key,
                               key=key, version=version_id) from exc
            raise

    def _stored(self, key: str, version_id: str) -> StoredVersion:
        head = self._head(key, version_id)
        return StoredVersion(self.backend, self.location, key, version_id,
                             int(head["ContentLength"]), self._lock_of(head))

    @staticmethod
    def _lock_of(head: dict) -> Lock:
        # moto: its get_object_retention is broken, so locks are read with head_object, which
        # shows the same retention and legal hold on S3 and Ceph RGW.
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
                raise NotFound(N_("{key}@{version} is not in the store"), subject=key,
                               key=key, version=version_id) from exc
            raise
        try:
            # S3 (and moto) may not verify checksums on the way out: callers verify digests.
            yield from body.iter_chunks(chunk_size)
        except _UNREACHABLE as exc:
            raise ServiceUnavailable("S3", self.client.meta.endpoint_url, str(exc)) from exc
        except FlexibleChecksumError as exc:  # the stored bytes no longer match their checksum
            raise ProblemFound(N_("{key}@{version}: S3 reports a checksum mismatch reading it "
                                  "back: {reason}"), subject=key, key=key, version=version_id,
                               reason=str(exc)) from exc
        finally:
            body.close()

    def lock(self, key: str, version_id: str) -> Lock:
        return self._lock_of(self._head(key, version_id))

    def _version_pages(self, prefix: str) -> Iterator[dict]:
        params: dict[str, Any] = {"Prefix": prefix}
        while True:
            page = self._s3("list_object_versions", **params)
            yield page
            if not page.get("IsTruncated"):
                return
            params["KeyMarker"] = page["NextKeyMarker"]
            if page.get("NextVersionIdMarker"):
                params["VersionIdMarker"] = page["NextVersionIdMarker"]

    def _listing(self, prefix: str) -> Iterator[tuple[str, str, int]]:
        """(key, version id, size) under ``prefix``, keys in order, each key's versions oldest
        first; delete markers left out."""
        versions = ((v["Key"], v["VersionId"], int(v["Size"]))
                    for page in self._version_pages(prefix) for v in page.get("Versions", []))
        # S3 lists each key's versions newest first.
        for _key, group in groupby(versions, key=lambda v: v[0]):
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
        # Refused here, before sending: S3 and Ceph RGW refuse too, but moto does not.
        refuse_shortening(key, version_id, current, wanted)
        check_retention(wanted)
        self._refuse_wrapping_dates(wanted, key)
        try:
            self._s3("put_object_retention", Key=key, VersionId=version_id,
                     Retention={"Mode": COMPLIANCE, "RetainUntilDate": _whole_ms(wanted)})
        except ClientError as exc:
            if _code(exc) == "AccessDenied":
                raise WormViolation(N_("{key}@{version}: S3 refused the retention change: "
                                       "{reason}"), subject=key, key=key, version=version_id,
                                    reason=str(exc)) from exc
            raise
        lock = self.lock(key, version_id)
        if not _holds(lock, wanted, False):
            raise LockNotConfirmed(N_("{key}@{version}: extension to {until} not confirmed"),
                                   subject=key, key=key, version=version_id,
                                   until=iso(wanted))
        return lock

    def set_legal_hold(self, key: str, version_id: str, on: bool) -> Lock:
        self._head(key, version_id)  # NotFound before a change is attempted
        self._s3("put_object_legal_hold", Key=key, VersionId=version_id,
                 LegalHold={"Status": "ON" if on else "OFF"})
        lock = self.lock(key, version_id)
        if lock.legal_hold != bool(on):
            raise LockNotConfirmed(N_("{key}@{version}: legal hold not confirmed"),
                                   subject=key, key=key, version=version_id)
        return lock

    def delete_version(self, key: str, version_id: str) -> None:
        refuse_early_delete(key, version_id, self.lock(key, version_id))
        try:
            self._s3("delete_object", Key=key, VersionId=version_id)
        except ClientError as exc:
            if _code(exc) == "AccessDenied":
                raise WormViolation(N_("{key}@{version}: S3 refused the delete: {reason}"),
                                    subject=key, key=key, version=version_id,
                                    reason=str(exc)) from exc
            raise

    # --- unfinished uploads --------------------------------------------------------------
    def pending(self) -> list[str]:
        """Unfinished multipart uploads as "<key>#<upload id>", and staging objects completed
        but never copied into place (a crash mid-commit) as "<key>@<version id>".

        Staging objects the floor kept (under a delete marker, see _delete_staging) are not
        pending; the ones whose floor has passed are deleted here, with their marker."""
        names = []
        params: dict[str, Any] = {}
        while True:
            page = self._s3("list_multipart_uploads", **params)
            names += [f"{u['Key']}#{u['UploadId']}" for u in page.get("Uploads", [])]
            if not page.get("IsTruncated"):
                break
            params = {"KeyMarker": page["NextKeyMarker"],
                      "UploadIdMarker": page["NextUploadIdMarker"]}
        return sorted(names + self._staging_leftovers())

    def _staging_leftovers(self) -> list[str]:
        versions: dict[str, list[tuple[str, datetime]]] = {}
        markers: dict[str, list[str]] = {}
        for page in self._version_pages(STAGING):
            for v in page.get("Versions", []):
                versions.setdefault(v["Key"], []).append((v["VersionId"], v["LastModified"]))
            for m in page.get("DeleteMarkers", []):
                markers.setdefault(m["Key"], []).append(m["VersionId"])
        # Staging keys are unique and written once: a marker means the store put it there.
        leftovers = [f"{key}@{vid}" for key, found in versions.items() if key not in markers
                     for vid, _ in found]
        passed = datetime.now(UTC) - timedelta(days=self.floor_days)
        for key, marker_ids in markers.items():
            kept = [vid for vid, created in versions.get(key, [])
                    if utc(created) > passed or not self._delete_expired(key, vid)]
            if not kept:
                for marker_id in marker_ids:
                    self._delete_staging(key, marker_id)
        return leftovers

    def _delete_expired(self, key: str, version_id: str) -> bool:
        try:
            self._s3("delete_object", Key=key, VersionId=version_id)
        except ClientError as exc:
            if _code(exc) == "AccessDenied":  # still locked: the floor was longer then
                return False
            if _code(exc) not in _MISSING:
                raise
        return True

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
            raise InputError(N_("not a pending upload: '{name}'"), name=name)


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

    def _get(self, end: int) -> bytes:
        body = self.store._s3("get_object", Key=self.key, VersionId=self.version_id,
                              Range=f"bytes={self.pos}-{end}")["Body"]
        try:
            data = body.read()
        finally:
            body.close()
        self.pos += len(data)
        return data

    def readinto(self, buffer) -> int:
        if self.pos >= self.size or len(buffer) == 0:
            return 0
        data = self._get(min(self.size, self.pos + len(buffer)) - 1)
        buffer[:len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        # One request for the rest: io's default reads it 8 KiB (one GET) at a time.
        return self._get(self.size - 1) if self.pos < self.size else b""
