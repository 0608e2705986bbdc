"""The write-once store interface, shared by the S3 Object Lock and local-directory backends.

Objects are content-addressed (``object_key``); manifests, ledger checkpoints and registers
are small blobs under their own keys. No backend ever overwrites a stored version: a put to
an existing key is refused (content keys: the existing version is returned, the bytes are the
same by definition). Retention only grows; delete is possible only for a version whose
retain-until has passed by the real clock and that has no legal hold.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import BinaryIO

from archive.domain.errors import InputError, WormViolation
from archive.domain.model import Lock, StoredVersion
from i18n import N_

CHUNK = 8 * 1024 * 1024
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def object_key(sha256: str) -> str:
    if not _SHA256.match(sha256):
        raise InputError(N_("not a SHA-256 digest: '{digest}'"), digest=sha256)
    return f"objects/{sha256[:2]}/{sha256}"


def metadata_key(sha256: str, item_id: str, version: int) -> str:
    """The signed metadata version, stored next to its object."""
    return f"{object_key(sha256)}.meta/{item_id}/v{version:04d}.json"


def check_key(key: str) -> str:
    """Keys are '/'-joined plain segments: no '..', no absolute paths, no odd characters."""
    parts = key.split("/")
    if not key or any(not _SEGMENT.match(p) or p in (".", "..") for p in parts):
        raise InputError(N_("unsafe store key '{key}'"), key=key)
    return key


def now_utc() -> datetime:
    """The real clock: the store judges expiry by it, never by a supplied date."""
    return datetime.now(timezone.utc)


def check_retention(retain_until: datetime | None) -> None:
    if retain_until is not None:
        if retain_until.tzinfo is None:
            raise InputError(N_("retain-until needs a time zone"))
        if retain_until <= now_utc():
            raise InputError(N_("retain-until {until} is not in the future"),
                             until=retain_until.isoformat())


def refuse_shortening(key: str, version_id: str, current: Lock, wanted: datetime) -> None:
    if current.retain_until is not None and wanted < current.retain_until:
        raise WormViolation(
            N_("{key}@{version}: retention cannot be shortened from {current} to {wanted}"),
            subject=key, key=key, version=version_id,
            current=current.retain_until.isoformat(), wanted=wanted.isoformat())


def refuse_early_delete(key: str, version_id: str, lock: Lock) -> None:
    if lock.legal_hold:
        raise WormViolation(N_("{key}@{version} is under legal hold"), subject=key, key=key,
                            version=version_id)
    if lock.retain_until is not None and lock.retain_until > now_utc():
        raise WormViolation(N_("{key}@{version} is retained until {until}"), subject=key,
                            key=key, version=version_id,
                            until=lock.retain_until.isoformat())


class PendingObject(ABC):
    """Bytes on their way into the store, not yet an object and never locked.

    ``commit`` turns them into the locked, content-addressed object (call it only after a
    clean virus verdict); ``abort`` leaves nothing behind.
    """

    @abstractmethod
    def write(self, chunk: bytes) -> None: ...

    @abstractmethod
    def commit(self, sha256: str, size: int) -> StoredVersion:
        """Make the object under ``object_key(sha256)``, locked as begun, and confirm the
        lock by reading it back. If the key already exists, return the existing version."""

    @abstractmethod
    def abort(self) -> None: ...

    def __enter__(self) -> PendingObject:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()


class WormStore(ABC):
    backend: str = ""
    location: str = ""

    @abstractmethod
    def begin_object(self, retain_until: datetime, legal_hold: bool = False, *,
                     new_version: bool = False) -> PendingObject:
        """Bytes on their way in. ``new_version``: a restore writes good bytes as a new
        version beside a damaged one (never over it); otherwise an existing version of the
        content key is returned instead."""

    def put_object(self, chunks: Iterable[bytes], sha256: str, size: int,
                   retain_until: datetime, legal_hold: bool = False, *,
                   new_version: bool = False) -> StoredVersion:
        pending = self.begin_object(retain_until, legal_hold, new_version=new_version)
        with pending:
            for chunk in chunks:
                pending.write(chunk)
            return pending.commit(sha256, size)

    @abstractmethod
    def put_blob(self, key: str, data: bytes, retain_until: datetime | None,
                 legal_hold: bool = False, *, new_version: bool = False) -> StoredVersion:
        """Store a small document under ``key``; refused when the key already exists, unless
        ``new_version`` (a restore of a damaged version: the old one stays as evidence)."""

    @abstractmethod
    def read(self, key: str, version_id: str, chunk_size: int = CHUNK) -> Iterator[bytes]: ...

    @abstractmethod
    def open_version(self, key: str, version_id: str) -> BinaryIO:
        """A seekable read-only file over one stored version, for readers that jump about
        (MediaInfo reads a video's index at its end); each read is a ranged read."""

    def read_bytes(self, key: str, version_id: str) -> bytes:
        return b"".join(self.read(key, version_id))

    @abstractmethod
    def lock(self, key: str, version_id: str) -> Lock:
        """The protection as the store reports it now (never from a cache)."""

    @abstractmethod
    def versions(self, key: str) -> list[str]:
        """Version ids stored under ``key``, oldest first ([] when none)."""

    @abstractmethod
    def list_keys(self, prefix: str = "") -> Iterator[tuple[str, str, int]]:
        """(key, version_id, size) of every stored version under ``prefix``."""

    @abstractmethod
    def extend_retention(self, key: str, version_id: str, retain_until: datetime) -> Lock:
        """Raise retain-until; shortening is refused (WormViolation). Returns the lock read
        back from the store, and raises LockNotConfirmed if it does not show the change."""

    @abstractmethod
    def set_legal_hold(self, key: str, version_id: str, on: bool) -> Lock: ...

    @abstractmethod
    def delete_version(self, key: str, version_id: str) -> None:
        """Delete one version whose retention has passed (real clock) and that is unheld."""

    @abstractmethod
    def pending(self) -> list[str]:
        """Uploads begun and neither committed nor aborted (a crash leaves these)."""

    @abstractmethod
    def discard_pending(self, name: str) -> None:
        """Remove one unfinished upload; it was never an object, so nothing is lost."""

    def describe(self) -> dict:
        return {"backend": self.backend, "location": self.location}
