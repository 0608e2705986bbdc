"""MongoCatalog factories: mongomock always, a real server when CUSTODY_TEST_MONGODB_URI is set."""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import mongomock
import mongomock.collection
import mongomock.store
import pymongo

from archive.catalog.base import Catalog
from archive.catalog.mongo import MongoCatalog

URI_VARIABLE = "CUSTODY_TEST_MONGODB_URI"

# mongomock changes its store in unguarded steps: an insert looks for the _id and then sets it,
# and a collection's store is made on first use by whichever thread gets there, replacing one
# another thread may have just written to. So concurrent writers lose documents while every
# write reports success: measured here, 20 runs of 4 threads appending 50 ledger entries each
# lost 2 to 7 of the 4,000 entries (up to 101 with a short thread switch interval). A server
# makes each single-document write atomic; this lock gives mongomock that guarantee and no
# more (reads, and the catalog's read-then-write sequences, still interleave as on a server).
_GUARDED = ((mongomock.collection.Collection, "_insert"),
            (mongomock.collection.Collection, "_update"),
            (mongomock.collection.Collection, "_find_and_modify"),
            (mongomock.store.ServerStore, "__getitem__"),
            (mongomock.store.DatabaseStore, "__getitem__"))
_lock = threading.RLock()  # re-entrant: insert_many and find_and_modify nest these calls


def _serialised(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        with _lock:
            return method(*args, **kwargs)
    return call


@contextlib.contextmanager
def atomic_mongomock_writes() -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for owner, name in _GUARDED:
            stack.enter_context(mock.patch.object(owner, name, _serialised(getattr(owner, name))))
        yield


@contextlib.contextmanager
def mongomock_catalog(tmp_path: Path) -> Iterator[Catalog]:
    with atomic_mongomock_writes():
        client = mongomock.MongoClient()
        try:
            yield MongoCatalog(client)
        finally:
            client.close()


@contextlib.contextmanager
def mongodb_catalog(tmp_path: Path) -> Iterator[Catalog]:
    name = f"custody_test_{uuid.uuid4().hex[:16]}"  # tests may share one server
    client = pymongo.MongoClient(os.environ[URI_VARIABLE], tz_aware=True)
    try:
        yield MongoCatalog(client, name)
    finally:
        client.drop_database(name)
        client.close()


MONGO_FACTORIES: dict[str, Callable[[Path], contextlib.AbstractContextManager[Catalog]]] = {
    "mongomock": mongomock_catalog,
}
if os.environ.get(URI_VARIABLE):
    MONGO_FACTORIES["mongodb"] = mongodb_catalog
