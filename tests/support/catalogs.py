"""Factories for every Catalog implementation the contract suite runs against."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from archive.catalog.base import Catalog
from archive.catalog.sqlite import SQLiteCatalog
from tests.support.wire import wire_catalog


@contextlib.contextmanager
def sqlite_catalog(tmp_path: Path) -> Iterator[Catalog]:
    cat = SQLiteCatalog(tmp_path / "catalog.sqlite")
    try:
        yield cat
    finally:
        cat.close()


CATALOG_FACTORIES: dict[str, Callable[[Path], contextlib.AbstractContextManager[Catalog]]] = {
    "sqlite": sqlite_catalog,
}

try:  # the MongoDB backend registers itself (mongomock, and a real server when configured)
    from tests.support.mongo import MONGO_FACTORIES
except ImportError:  # pragma: no cover - only while the MongoDB backend is being written
    pass
else:
    CATALOG_FACTORIES.update(MONGO_FACTORIES)

# The MongoDB catalog over the wire, on mongoeco (skipped where .venv-wire is missing)
CATALOG_FACTORIES["wire"] = wire_catalog
