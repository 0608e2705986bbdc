"""Copying stored versions between WORM stores: the second copy, restores and migrations.

A copy streams once, computing digests on the way, and nothing becomes a locked version at
the destination before the digests match (content keys are checked by the destination store
itself; a document's SHA-256 is compared here). The destination's lock is never weaker than
the source's: retain-until at least as late, the legal hold as the source has it.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from archive.domain.errors import CustodyError, LockNotConfirmed, ProblemFound
from archive.domain.model import Lock, StoredVersion
from archive.integrity.fixity import StreamDigests
from archive.worm.base import WormStore, now_utc
from i18n import N_, localize

_OBJECT = re.compile(r"^objects/[0-9a-f]{2}/([0-9a-f]{64})$")


def content_sha(key: str) -> str | None:
    """The SHA-256 a content key names (None for documents: manifests, checkpoints, …)."""
    m = _OBJECT.match(key)
    return m.group(1) if m else None


class Throttle:
    """Keeps a copy under ``rate`` MB/s so a sweep does not starve the day's ingest."""

    def __init__(self, rate_mb_s: float | None) -> None:
        self.rate = rate_mb_s * 1_000_000 if rate_mb_s else None
        self.start = time.monotonic()
        self.done = 0

    def __call__(self, n: int) -> None:
        if self.rate is None:
            return
        self.done += n
        ahead = self.done / self.rate - (time.monotonic() - self.start)
        if ahead > 0:
            time.sleep(ahead)


def _effective(lock: Lock, now: datetime) -> datetime | None:
    """A retention already past cannot be given to a new version: it has none left."""
    return lock.retain_until if lock.retain_until and lock.retain_until > now else None


def raise_to(dst: WormStore, key: str, version_id: str, retain_until: datetime | None,
             legal_hold: bool) -> Lock:
    """Make a destination version's lock at least ``retain_until`` with this legal hold,
    confirmed by reading it back."""
    lock = dst.lock(key, version_id)
    if retain_until is not None and (lock.retain_until is None
                                     or lock.retain_until < retain_until):
        lock = dst.extend_retention(key, version_id, retain_until)
    if lock.legal_hold != legal_hold:
        lock = dst.set_legal_hold(key, version_id, legal_hold)
    if (retain_until is not None and (lock.retain_until is None
                                      or lock.retain_until < retain_until)) \
            or lock.legal_hold != legal_hold:
        raise LockNotConfirmed(N_("{key}@{version}: the destination did not confirm the lock"),
                               subject=key, key=key, version=version_id)
    return lock


def copy_version(src: WormStore, key: str, version_id: str, dst: WormStore, *,
                 retain_until: datetime | None = None, legal_hold: bool | None = None,
                 new_version: bool = False, expected_sha256: str | None = None,
                 throttle: Callable[[int], None] | None = None) -> StoredVersion:
    """Stream one version to ``dst`` under the same key; the lock is the source's unless
    given. With ``new_version`` a version is added beside what ``dst`` holds (a restore)."""
    src_lock = src.lock(key, version_id)
    until = retain_until if retain_until is not None else _effective(src_lock, now_utc())
    hold = src_lock.legal_hold if legal_hold is None else legal_hold
    sha = content_sha(key)
    if sha is not None:
        if until is None:
            raise ProblemFound(N_("{key}@{version}: an object needs a retention date to be "
                                  "copied into a WORM store; its lock has run out"),
                               subject=key, key=key, version=version_id)
        digests = StreamDigests()
        pending = dst.begin_object(until, hold, new_version=new_version)
        with pending:
            for chunk in src.read(key, version_id):
                digests.update(chunk)
                pending.write(chunk)
                if throttle:
                    throttle(len(chunk))
            got = digests.finish()
            if got.sha256 != (expected_sha256 or sha):
                raise ProblemFound(N_("{key}@{version}: read back with SHA-256 {digest}, not "
                                      "the content address; not copied"), subject=key,
                                   key=key, version=version_id, digest=got.sha256)
            stored = pending.commit(sha, got.size)
    else:
        data = src.read_bytes(key, version_id)
        digest = hashlib.sha256(data).hexdigest()
        if expected_sha256 and digest != expected_sha256:
            raise ProblemFound(N_("{key}@{version}: SHA-256 {digest}, expected {expected}; "
                                  "not copied"), subject=key, key=key, version=version_id,
                               digest=digest, expected=expected_sha256)
        existing = dst.versions(key)
        if existing and not new_version:
            for vid in existing:  # a resumed copy: the same document is there already
                if hashlib.sha256(dst.read_bytes(key, vid)).hexdigest() == digest:
                    raise_to(dst, key, vid, until, hold)
                    return _stored(dst, key, vid, len(data))
            raise ProblemFound(N_("{key}: the destination holds other bytes under this key"),
                               subject=key, key=key)
        stored = dst.put_blob(key, data, until, hold, new_version=new_version)
        if hashlib.sha256(dst.read_bytes(key, stored.version_id)).hexdigest() != digest:
            raise ProblemFound(N_("{key}@{version}: read back differs from the source"),
                               subject=key, key=key, version=stored.version_id)
        if throttle:
            throttle(len(data))
    raise_to(dst, key, stored.version_id, until, hold)
    return _stored(dst, key, stored.version_id, stored.size)


def _stored(store: WormStore, key: str, version_id: str, size: int) -> StoredVersion:
    return StoredVersion(store.backend, store.location, key, version_id, size,
                         store.lock(key, version_id))


@dataclass
class SyncReport:
    """What a store-to-store sync did: every version accounted for in one named state."""

    copied: list[dict] = field(default_factory=list)
    present: int = 0  # already at the destination (locks raised where the source's grew)
    skipped: int = 0  # left out on the caller's word (a damaged version kept as evidence)
    failed: list[dict] = field(default_factory=list)
    bytes: int = 0
    mapping: dict[tuple[str, str], str] = field(default_factory=dict)  # (key, src vid) -> dst

    def to_dict(self) -> dict:
        return {"copied": len(self.copied), "present": self.present, "failed": self.failed,
                "skipped": self.skipped, "bytes": self.bytes}


def sync_store(src: WormStore, dst: WormStore, *, prefix: str = "",
               rate_mb_s: float | None = None, progress: Callable[[int], None] | None = None,
               stop_after: int | None = None,
               known: dict[tuple[str, str], str] | None = None,
               skip: set[tuple[str, str]] | None = None,
               versions: Iterable[tuple[str, str, int]] | None = None) -> SyncReport:
    """Bring ``dst`` up to ``src``: every version under ``prefix`` copied with its lock (or,
    when there already, its lock raised to the source's). Resumable: what is there is
    recognised, nothing is copied twice. A version that cannot be copied is reported with
    the reason and the rest go on.

    ``known`` names the destination version of a source version where the caller knows it
    (a catalog's record of its second copy, right after a restore on either side, when the
    n-th-to-n-th rule would pick the damaged version); ``skip``: source versions left out."""
    report = SyncReport()
    throttle = Throttle(rate_mb_s)
    now = now_utc()
    done = 0
    # ``versions``: only these (key, version id, size) of ``src`` (an incremental replicate)
    for key, vid, size in (_versions(src, prefix) if versions is None else versions):
        if stop_after is not None and done >= stop_after:
            break
        if skip and (key, vid) in skip:
            report.skipped += 1
            done += 1
            if progress:
                progress(size)
            continue
        try:
            there = (known or {}).get((key, vid)) or _matching_version(src, key, vid, dst)
            if there is not None:
                lock = src.lock(key, vid)
                raise_to(dst, key, there, _effective(lock, now), lock.legal_hold)
                report.present += 1
                report.mapping[(key, vid)] = there
            else:
                stored = copy_version(src, key, vid, dst, throttle=throttle,
                                      new_version=bool(dst.versions(key))
                                      and content_sha(key) is not None)
                report.copied.append({"key": key, "version_id": vid,
                                      "to": stored.version_id, "size": size})
                report.bytes += size
                report.mapping[(key, vid)] = stored.version_id
        except (CustodyError, OSError) as exc:
            report.failed.append({"key": key, "version_id": vid,
                                  "reason": getattr(exc, "message", str(exc)),
                                  "text": localize(exc)})
        done += 1
        if progress:
            progress(size)
    return report


def _versions(store: WormStore, prefix: str) -> Iterator[tuple[str, str, int]]:
    yield from store.list_keys(prefix)


def _matching_version(src: WormStore, key: str, vid: str, dst: WormStore) -> str | None:
    """The destination version that holds the same bytes as this source version, if any.
    Content keys hold their address by construction (the store checked it on the way in);
    for more than one source version (a restore) the n-th maps to the n-th."""
    there = dst.versions(key)
    if not there:
        return None
    if content_sha(key) is not None:
        mine = src.versions(key)
        n = mine.index(vid) if vid in mine else 0
        return there[n] if n < len(there) else None
    digest = hashlib.sha256(src.read_bytes(key, vid)).hexdigest()
    for v in there:
        if hashlib.sha256(dst.read_bytes(key, v)).hexdigest() == digest:
            return v
    return None


def read_verified(store: WormStore, key: str, version_id: str, sha256: str) -> bool:
    """Read one version through and say whether it still has its SHA-256."""
    h = hashlib.sha256()
    try:
        for chunk in store.read(key, version_id):
            h.update(chunk)
    except (CustodyError, OSError):  # missing, unreadable, or a checksum the store refused
        return False
    return h.hexdigest() == sha256

