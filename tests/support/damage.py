"""Damage behind a WORM store's back: what bit rot, a failing disk or a careless operator
does, for restore tests. Never used by the archive itself."""

from __future__ import annotations

import os
from pathlib import Path

from archive.worm.base import WormStore
from archive.worm.local import LocalWormStore
from tests.support.worm import release_all_for_tests


def _flip(data: bytes) -> bytes:
    return bytes([data[0] ^ 0xFF]) + data[1:] if data else b"\x00"


def damage(store: WormStore, key: str, version_id: str, how: str = "flip",
           keep_checksum: bool = False) -> None:
    """``flip``: the first byte changes (same size); ``delete``: the version is gone.

    Local store: the file under ``<root>/keys/<key>/<version_id>`` is made writable (its
    immutable attribute cleared first) and rewritten or unlinked; the lock sidecar stays.
    S3 on moto: the stored body of that very version is changed, or the version removed, in
    moto's own state: through the API a COMPLIANCE-locked version can be neither rewritten
    nor deleted (a PUT to the key adds a version, which is not damage to the catalogued one).
    moto keeps the SHA-256 checksum given at upload and botocore checks it when reading: by
    default the damage drops it (a store that does not check, as our own digests must catch
    it); ``keep_checksum`` leaves it, so the read fails in botocore instead."""
    if isinstance(store, LocalWormStore):
        path = Path(store.root) / "keys" / key / version_id
        release_all_for_tests(path.parent)
        if how == "delete":
            path.unlink()
            return
        data = path.read_bytes()
        os.chmod(path, 0o644)
        path.write_bytes(_flip(data))
        os.chmod(path, 0o444)
        return
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    bucket = s3_backends[DEFAULT_ACCOUNT_ID]["global"].buckets[store.bucket]
    versions = bucket.keys.getlist(key)
    (fake,) = [v for v in versions if v.version_id == version_id]
    if how == "delete":
        rest = [v for v in versions if v is not fake]
        if rest:
            bucket.keys.setlist(key, rest)
        else:
            del bucket.keys[key]
        return
    fake.value = _flip(fake.value)
    if not keep_checksum:
        fake.checksum_value = None
        fake.checksum_algorithm = None
