"""No lock ends before its rule: the lock an ingested item gets is counted from the very
ingest time recorded on it, for a small file and a large (multipart on S3) one, on both
stores; 'retention check' finds nothing right after the ingest."""

from __future__ import annotations

import contextlib

import pytest

from archive.catalog.sqlite import SQLiteCatalog
from config import settings
from ingest.pipeline import Ingest
from ingest.samples import make_mp4, make_wav
from retention.engine import RetentionEngine
from tests.support.archives import make_archive
from tests.support.s3 import s3_store
from tests.support.stores import local_store
from tests.support.worm import release_all_for_tests

MIB = 1 << 20


@contextlib.contextmanager
def _store(backend: str, tmp_path):
    if backend == "s3":  # parts of 5 MiB: the 6.4 MB recording is a multipart upload
        with s3_store(tmp_path, part_size=5 * MIB) as store:
            yield store
    else:
        with local_store(tmp_path) as store:
            yield store


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_retention_check_is_clean_right_after_ingest(backend, tmp_path, clamd_scanner):
    root = tmp_path / "offload"
    root.mkdir()
    make_mp4(root / "small.mp4", 1)
    make_wav(root / "large.wav", seconds=400)  # 8 kHz 16-bit: 6.4 MB
    assert (root / "large.wav").stat().st_size > 6 * MIB
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "file,unit,device_id,officer_id,recorded_start,recorded_end\n"
        "small.mp4,market-001,D1,P1,2026-03-15 09:00:00,2026-03-15 09:00:01\n"
        "large.wav,market-001,D2,P1,2026-03-15 09:00:00,2026-03-15 09:06:40\n",
        encoding="utf-8")
    cat = SQLiteCatalog(tmp_path / "catalog.sqlite")
    try:
        with _store(backend, tmp_path) as store:
            setup = make_archive(tmp_path, cat, store)
            s = settings.load(None, home=tmp_path / "home")
            report = Ingest(setup.archive, s, clamd_scanner, setup.actor).run(
                root, manifest, "ST-01")
            items = {f.file: f.item_id for f in report.files}
            assert all(items.values()), [(f.file, f.state, f.reasons) for f in report.files]
            for item_id in items.values():
                item = cat.get_item(item_id)
                lock = store.lock(item.storage["object"]["key"],
                                  item.storage["object"]["version_id"])
                assert lock.retain_until >= item.retain_until
            assert RetentionEngine(setup.archive, s).check() == []
    finally:
        cat.close()
        release_all_for_tests(tmp_path)
