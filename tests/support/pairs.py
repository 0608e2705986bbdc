"""Two WORM stores at once, of any pair of backends (a primary and its copy)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from archive.worm.base import WormStore
from archive.worm.local import LocalWormStore
from tests.support.worm import release_all_for_tests

PAIRS = ("local-local", "local-s3", "s3-local", "s3-s3")


@contextlib.contextmanager
def store_pair(pair: str, tmp_path: Path) -> Iterator[tuple[WormStore, WormStore]]:
    first, second = pair.split("-")
    with contextlib.ExitStack() as stack:
        client = None
        if "s3" in (first, second):
            from archive.worm.s3 import S3WormStore, init_bucket
            from tests.support.s3 import s3_client

            client = stack.enter_context(s3_client())

        def make(kind: str, name: str) -> WormStore:
            if kind == "local":
                root = tmp_path / name
                stack.callback(release_all_for_tests, root)
                return LocalWormStore(root)
            bucket = f"custody-{name}"
            init_bucket(client, bucket)
            return S3WormStore(client, bucket)

        yield make(first, "primary"), make(second, "copy")
