"""Factories for every WormStore implementation the contract suite runs against.

Each factory is a context manager yielding a fresh, empty store. Backends register here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from archive.worm.base import WormStore
from archive.worm.local import LocalWormStore
from tests.support.worm import release_all_for_tests


@contextlib.contextmanager
def local_store(tmp_path: Path) -> Iterator[WormStore]:
    root = tmp_path / "worm"
    try:
        yield LocalWormStore(root)
    finally:
        release_all_for_tests(root)


STORE_FACTORIES: dict[str, Callable[[Path], contextlib.AbstractContextManager[WormStore]]] = {
    "local": local_store,
}

try:  # the S3 backend registers itself when its support module is present
    from tests.support.s3 import s3_store
except ImportError:  # pragma: no cover - only while the S3 backend is being written
    pass
else:
    STORE_FACTORIES["s3"] = s3_store
