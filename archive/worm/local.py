"""The embedded default WORM store: a directory of write-once files.

Each version is written under a temporary name, fsynced, renamed into place, made read-only
and, where the process may (root on ext4), given the immutable attribute. Retention and
legal holds are kept in a sidecar beside each version and enforced by this class. The store
records the protection it actually obtained; it never calls itself COMPLIANCE.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import struct
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from archive.domain.errors import InputError, LockNotConfirmed, NotFound, StorageFull, WormViolation
from archive.domain.ids import uuid7
from archive.domain.model import Lock, StoredVersion, iso, parse_iso
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
from archive.worm.fsutil import fsync_dir
from i18n import N_

MODE = "LOCAL-WORM"
_FS_IOC_GETFLAGS = 0x80086601
_FS_IOC_SETFLAGS = 0x40086602
_FS_IMMUTABLE_FL = 0x00000010
_LOCK_SUFFIX = ".lock.json"


def set_immutable(path: Path, on: bool) -> bool:
    """Set or clear the immutable attribute; False where the filesystem or caller can't."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        buf = bytearray(8)
        fcntl.ioctl(fd, _FS_IOC_GETFLAGS, buf)
        flags = struct.unpack("<i", bytes(buf[:4]))[0]
        flags = flags | _FS_IMMUTABLE_FL if on else flags & ~_FS_IMMUTABLE_FL
        fcntl.ioctl(fd, _FS_IOC_SETFLAGS, struct.pack("<i", flags) + bytes(4))
        fcntl.ioctl(fd, _FS_IOC_GETFLAGS, buf)
        now = struct.unpack("<i", bytes(buf[:4]))[0]
        return bool(now & _FS_IMMUTABLE_FL) == on
    except OSError:
        return False
    finally:
        os.close(fd)


def _full(exc: OSError, what: str) -> Exception:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageFull(N_("{path}: the store's disk is full; nothing was stored"),
                           subject=what, path=what)
    return exc


class _LocalPending(PendingObject):
    def __init__(self, store: LocalWormStore, retain_until: datetime, legal_hold: bool,
                 new_version: bool = False):
        self.store = store
        self.new_version = new_version
        self.retain_until = retain_until
        self.legal_hold = legal_hold
        self.tmp = store._tmp_path()
        self.fd: int | None = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self.size = 0
        self.sha256 = hashlib.sha256()  # the key names the content: check it, as S3 does

    def write(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        self.sha256.update(view)
        try:
            while view:
                n = os.write(self.fd, view)
                view = view[n:]
                self.size += n
        except OSError as exc:
            self.abort()
            raise _full(exc, str(self.tmp)) from exc

    def commit(self, sha256: str, size: int) -> StoredVersion:
        key = object_key(sha256)
        if size != self.size:
            self.abort()
            raise InputError(N_("{key}: {received} bytes received, {declared} declared"),
                             key=key, received=self.size, declared=size)
        if self.sha256.hexdigest() != sha256:
            self.abort()
            raise InputError(N_("{key}: the bytes received have SHA-256 {digest}"),
                             subject=key, key=key, digest=self.sha256.hexdigest())
        try:
            os.fsync(self.fd)
        except OSError as exc:
            self.abort()
            raise _full(exc, str(self.tmp)) from exc
        os.close(self.fd)
        self.fd = None
        # Two ingest processes may commit the same bytes at once: one version per content key.
        with self.store._key_lock(key):
            existing = self.store.versions(key)
            if existing and not self.new_version:
                # the newest: after a restore the older version is the damaged one
                self.abort()
                return self.store._stored(key, existing[-1])
            try:
                return self.store._install(key, self.tmp, self.retain_until, self.legal_hold)
            except BaseException:
                self.abort()
                raise

    def abort(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass


class LocalWormStore(WormStore):
    backend = "local"

    def __init__(self, root: str | os.PathLike, *, immutable: bool = True) -> None:
        self.root = Path(root)
        self.location = str(self.root)
        self.try_immutable = immutable
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        (self.root / "keys").mkdir(parents=True, exist_ok=True)

    # --- paths ---------------------------------------------------------------------------
    def _tmp_path(self) -> Path:
        # the writer's pid in the name tells a crashed writer's leftovers from live uploads
        return self.root / "tmp" / f"{os.getpid()}-{uuid7()}.part"

    @contextlib.contextmanager
    def _key_lock(self, key: str) -> Iterator[None]:
        locks = self.root / "locks"
        locks.mkdir(exist_ok=True)
        fd = os.open(locks / (key.replace("/", "_") + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _key_dir(self, key: str) -> Path:
        return self.root / "keys" / check_key(key)

    def _version_path(self, key: str, version_id: str) -> Path:
        if not version_id or "/" in version_id or version_id.startswith("."):
            raise InputError(N_("unsafe version id '{version}'"), version=version_id)
        return self._key_dir(key) / version_id

    # --- writing -------------------------------------------------------------------------
    def begin_object(self, retain_until: datetime, legal_hold: bool = False, *,
                     new_version: bool = False) -> PendingObject:
        check_retention(retain_until)
        try:
            return _LocalPending(self, retain_until, legal_hold, new_version)
        except OSError as exc:
            raise _full(exc, str(self.root)) from exc

    def put_blob(self, key: str, data: bytes, retain_until: datetime | None,
                 legal_hold: bool = False, *, new_version: bool = False) -> StoredVersion:
        check_key(key)
        check_retention(retain_until)
        # one writer per key: two racing writers must not both add a "first" version
        with self._key_lock(key):
            if self.versions(key) and not new_version:
                raise WormViolation(N_("{key} already exists; the store never overwrites"),
                                    subject=key, key=key)
            return self._put_blob_locked(key, data, retain_until, legal_hold)

    def _put_blob_locked(self, key: str, data: bytes, retain_until: datetime | None,
                         legal_hold: bool) -> StoredVersion:
        tmp = self._tmp_path()
        try:
            with open(tmp, "xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise _full(exc, key) from exc
        try:
            return self._install(key, tmp, retain_until, legal_hold)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _install(self, key: str, tmp: Path, retain_until: datetime | None,
                 legal_hold: bool) -> StoredVersion:
        kdir = self._key_dir(key)
        try:
            kdir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _full(exc, key) from exc
        version_id = uuid7()
        final = kdir / version_id
        os.chmod(tmp, 0o444)
        # The lock sidecar goes first: a version never exists without its retention.
        self._write_lock(final, {"mode": MODE, "retain_until": iso(retain_until),
                                 "legal_hold": legal_hold, "protection": {}})
        try:
            os.link(tmp, final)  # fails if the name exists: no overwrite, even in a race
        except FileExistsError as exc:
            raise WormViolation(N_("{key}@{version} exists"), subject=key, key=key,
                                version=version_id) from exc
        os.unlink(tmp)
        fsync_dir(kdir)
        immutable = self.try_immutable and set_immutable(final, True)
        protection = {"read_only_mode": True, "immutable_attribute": immutable,
                      "retention_enforced_by": "custody (sidecar)"}
        self._write_lock(final, {"mode": MODE, "retain_until": iso(retain_until),
                                 "legal_hold": legal_hold, "protection": protection})
        stored = self._stored(key, version_id)
        if not stored.lock.covers(retain_until, legal_hold):
            raise LockNotConfirmed(N_("{key}@{version}: lock could not be confirmed"),
                                   subject=key, key=key, version=version_id)
        return stored

    def _write_lock(self, version_path: Path, doc: dict) -> None:
        side = version_path.with_name(version_path.name + _LOCK_SUFFIX)
        tmp = self._tmp_path()
        try:
            with open(tmp, "x", encoding="utf-8") as f:
                json.dump(doc, f, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, side)
            fsync_dir(side.parent)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise _full(exc, str(side)) from exc

    def _read_lock(self, key: str, version_id: str) -> dict:
        path = self._version_path(key, version_id)
        side = path.with_name(path.name + _LOCK_SUFFIX)
        if not path.exists():
            raise NotFound(N_("{key}@{version} is not in the store"), subject=key, key=key,
                           version=version_id)
        try:
            return json.loads(side.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise LockNotConfirmed(N_("{key}@{version}: lock record unreadable: {reason}"),
                                   subject=key, key=key, version=version_id,
                                   reason=str(exc)) from exc

    def _stored(self, key: str, version_id: str) -> StoredVersion:
        path = self._version_path(key, version_id)
        return StoredVersion(self.backend, self.location, key, version_id,
                             path.stat().st_size, self.lock(key, version_id))

    # --- reading -------------------------------------------------------------------------
    def read(self, key: str, version_id: str, chunk_size: int = CHUNK) -> Iterator[bytes]:
        path = self._version_path(key, version_id)
        try:
            f = open(path, "rb")
        except FileNotFoundError as exc:
            raise NotFound(N_("{key}@{version} is not in the store"), subject=key, key=key,
                           version=version_id) from exc
        with f:
            while chunk := f.read(chunk_size):
                yield chunk

    def open_version(self, key: str, version_id: str) -> BinaryIO:
        path = self._version_path(key, version_id)
        try:
            return open(path, "rb")  # noqa: SIM115 - the caller closes it
        except FileNotFoundError as exc:
            raise NotFound(N_("{key}@{version} is not in the store"), subject=key, key=key,
                           version=version_id) from exc

    def lock(self, key: str, version_id: str) -> Lock:
        doc = self._read_lock(key, version_id)
        path = self._version_path(key, version_id)
        st = path.stat()
        protection = dict(doc.get("protection", {}))
        protection["read_only_mode"] = not (st.st_mode & 0o222)
        return Lock(doc.get("mode"), parse_iso(doc.get("retain_until")),
                    bool(doc.get("legal_hold")), protection)

    def versions(self, key: str) -> list[str]:
        kdir = self._key_dir(key)
        if not kdir.is_dir():
            return []
        return sorted(p.name for p in kdir.iterdir()
                      if p.is_file() and not p.name.endswith(_LOCK_SUFFIX))

    def list_keys(self, prefix: str = "") -> Iterator[tuple[str, str, int]]:
        base = self.root / "keys"
        # walk only below the deepest directory the prefix names: listing one object's
        # metadata versions must not cost a walk of the whole store
        head = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = base / head if head else base
        if head:
            check_key(head)
        if not start.is_dir():
            return
        found = []
        for dirpath, _dirs, files in os.walk(start):
            rel = os.path.relpath(dirpath, base).replace(os.sep, "/")
            if rel == "." or not rel.startswith(prefix):
                continue
            found.append((rel, dirpath, files))
        for rel, dirpath, files in sorted(found):  # keys in order, as S3 lists them
            for name in sorted(files):
                if not name.endswith(_LOCK_SUFFIX):
                    yield rel, name, os.stat(os.path.join(dirpath, name)).st_size

    # --- changing protection -------------------------------------------------------------
    def extend_retention(self, key: str, version_id: str, retain_until: datetime) -> Lock:
        # one writer of a lock at a time: two processes reading it, then each writing its own
        # date, could lower it (or drop a hold set meanwhile)
        with self._key_lock(key):
            current = self.lock(key, version_id)
            refuse_shortening(key, version_id, current, retain_until)
            doc = self._read_lock(key, version_id)
            doc["retain_until"] = iso(retain_until)
            self._write_lock(self._version_path(key, version_id), doc)
        lock = self.lock(key, version_id)
        if not lock.covers(retain_until, False):
            raise LockNotConfirmed(N_("{key}@{version}: extension not confirmed"), subject=key,
                                   key=key, version=version_id)
        return lock

    def set_legal_hold(self, key: str, version_id: str, on: bool) -> Lock:
        with self._key_lock(key):  # as extend_retention: no lost update of the lock
            doc = self._read_lock(key, version_id)
            doc["legal_hold"] = bool(on)
            self._write_lock(self._version_path(key, version_id), doc)
        lock = self.lock(key, version_id)
        if lock.legal_hold != bool(on):
            raise LockNotConfirmed(N_("{key}@{version}: legal hold not confirmed"),
                                   subject=key, key=key, version=version_id)
        return lock

    def pending(self) -> list[str]:
        return sorted(p.name for p in (self.root / "tmp").iterdir())

    def discard_pending(self, name: str) -> None:
        if "/" in name or not name.endswith(".part"):
            raise InputError(N_("not a pending upload: '{name}'"), name=name)
        (self.root / "tmp" / name).unlink(missing_ok=True)

    def delete_version(self, key: str, version_id: str) -> None:
        refuse_early_delete(key, version_id, self.lock(key, version_id))
        path = self._version_path(key, version_id)
        set_immutable(path, False)
        os.chmod(path, 0o644)
        path.unlink()
        path.with_name(path.name + _LOCK_SUFFIX).unlink(missing_ok=True)
        fsync_dir(path.parent)

