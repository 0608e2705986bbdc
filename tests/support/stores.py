"""Factories for every WormStore implementation the contract suite runs against.

Each factory is a context manager yielding a fresh, empty store. Backends register here.

STORE_FACTORIES parametrize every test that takes the conftest's ``store`` fixture: the local
directory and S3 through moto. "ceph" (S3 on a real Ceph RGW, tests/support/ceph.py) joins them
in the WORM contract suite and the S3 tests (ALL_STORE_FACTORIES); the other store tests get
it when CUSTODY_TEST_CEPH_ALL=1 is set (see that variable below for why not by default).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from archive.worm.base import WormStore
from archive.worm.local import LocalWormStore
from tests.support.ceph import ceph_store
from tests.support.worm import release_all_for_tests

StoreFactory = Callable[[Path], contextlib.AbstractContextManager[WormStore]]


@contextlib.contextmanager
def local_store(tmp_path: Path) -> Iterator[WormStore]:
    root = tmp_path / "worm"
    try:
        yield LocalWormStore(root)
    finally:
        release_all_for_tests(root)


STORE_FACTORIES: dict[str, StoreFactory] = {
    "local": local_store,
}

try:  # the S3 backend registers itself when its support module is present
    from tests.support.s3 import s3_store
except ImportError:  # pragma: no cover - only while the S3 backend is being written
    pass
else:
    STORE_FACTORIES["s3"] = s3_store

# Every backend, real servers included: what the contract suite and the S3 tests run on.
ALL_STORE_FACTORIES: dict[str, StoreFactory] = {**STORE_FACTORIES, "ceph": ceph_store}

CEPH_EVERYWHERE = "CUSTODY_TEST_CEPH_ALL"
if os.environ.get(CEPH_EVERYWHERE) == "1":
    STORE_FACTORIES["ceph"] = ceph_store
