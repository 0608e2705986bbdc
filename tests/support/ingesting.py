"""Ingest through the real pipeline in a test: an archive on SQLite and the local store, the
settings, the session's real clamd."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive.catalog.sqlite import SQLiteCatalog
from archive.worm.local import LocalWormStore
from config import settings
from ingest.pipeline import Ingest
from tests.support.archives import make_archive
from tests.support.worm import release_all_for_tests


@pytest.fixture
def env(tmp_path, clamd_scanner):
    cat = SQLiteCatalog(tmp_path / "catalog.sqlite")
    setup = make_archive(tmp_path, cat, LocalWormStore(tmp_path / "worm"))
    s = settings.load(None, home=tmp_path / "home")
    yield setup, s, clamd_scanner, tmp_path
    cat.close()
    release_all_for_tests(tmp_path)


def ingest_folder(env, root: Path, manifest: Path | None = None, **kw):
    setup, s, scanner, _ = env
    return Ingest(setup.archive, s, scanner, setup.actor, **kw).run(root, manifest, "ST-01")
