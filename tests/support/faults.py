"""Faults injected in front of a WORM store: a real server cannot be damaged behind its back
(a COMPLIANCE-locked version can be neither rewritten nor deleted, and Ceph's own bytes are
out of reach), so its damage is simulated where custody reads it. ``MisreadingStore`` wraps
any store and returns chosen versions with their first byte flipped, as a failing disk or a
bad cable would; everything else (writes, locks, listings) goes to the real store.

Wired into the command line with ``misread_through_bootstrap``: every store the wiring opens
as the primary is wrapped, so `custody verify` sees the damage and `custody restore` repairs
it from the replica, on the server itself.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any, BinaryIO

import pytest

from archive.domain.model import Lock, StoredVersion
from archive.worm.base import CHUNK, PendingObject, WormStore


def _flip(data: bytes) -> bytes:
    return bytes([data[0] ^ 0xFF]) + data[1:] if data else data


class MisreadingStore(WormStore):
    """``inner`` with the versions in ``misread`` (a shared set of (key, version id)) read
    wrongly: same size, first byte flipped. A version written later (a restore's new one)
    reads true."""

    def __init__(self, inner: WormStore, misread: set[tuple[str, str]]) -> None:
        self.inner = inner
        self.misread = misread
        self.backend = inner.backend
        self.location = inner.location

    def __getattr__(self, name: str) -> Any:  # client, bucket, root...: the real store's
        return getattr(self.inner, name)

    # --- reading, where the fault is --------------------------------------------------------
    def read(self, key: str, version_id: str, chunk_size: int = CHUNK) -> Iterator[bytes]:
        first = True
        for chunk in self.inner.read(key, version_id, chunk_size):
            if first and (key, version_id) in self.misread:
                chunk = _flip(chunk)
            first = False
            yield chunk

    def open_version(self, key: str, version_id: str) -> BinaryIO:
        if (key, version_id) not in self.misread:
            return self.inner.open_version(key, version_id)
        return io.BytesIO(_flip(b"".join(self.inner.read(key, version_id))))

    # --- everything else: the real store ----------------------------------------------------
    def begin_object(self, retain_until: datetime, legal_hold: bool = False, *,
                     new_version: bool = False) -> PendingObject:
        return self.inner.begin_object(retain_until, legal_hold, new_version=new_version)

    def put_blob(self, key: str, data: bytes, retain_until: datetime | None,
                 legal_hold: bool = False, *, new_version: bool = False) -> StoredVersion:
        return self.inner.put_blob(key, data, retain_until, legal_hold, new_version=new_version)

    def lock(self, key: str, version_id: str) -> Lock:
        return self.inner.lock(key, version_id)

    def versions(self, key: str) -> list[str]:
        return self.inner.versions(key)

    def list_keys(self, prefix: str = "") -> Iterator[tuple[str, str, int]]:
        return self.inner.list_keys(prefix)

    def extend_retention(self, key: str, version_id: str, retain_until: datetime) -> Lock:
        return self.inner.extend_retention(key, version_id, retain_until)

    def set_legal_hold(self, key: str, version_id: str, on: bool) -> Lock:
        return self.inner.set_legal_hold(key, version_id, on)

    def delete_version(self, key: str, version_id: str) -> None:
        self.inner.delete_version(key, version_id)

    def pending(self) -> list[str]:
        return self.inner.pending()

    def discard_pending(self, name: str) -> None:
        self.inner.discard_pending(name)

    def describe(self) -> dict:
        return self.inner.describe()


def misread_through_bootstrap(monkeypatch: pytest.MonkeyPatch,
                              misread: set[tuple[str, str]]) -> None:
    """Every primary store the wiring opens from now on reads ``misread`` wrongly (the set is
    shared: add to it or clear it at any time)."""
    import bootstrap

    real = bootstrap.open_store
    monkeypatch.setattr(bootstrap, "open_store", lambda settings, create=False:
                        MisreadingStore(real(settings, create), misread))
