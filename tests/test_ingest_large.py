"""A 3 GiB recording: scanned in overlapping windows, streamed once into the store."""

from __future__ import annotations

import json
import shutil

import pytest

from archive.integrity.fixity import digest_chunks
from tests.support.corpus import make_mp4
from tests.support.ingesting import env, ingest_folder  # noqa: F401  (fixture)
from tests.support.worm import release_all_for_tests


@pytest.mark.slow
def test_three_gib_file_is_scanned_in_windows(env, tmp_path):  # noqa: F811
    setup = env[0]
    root = tmp_path / "big"
    root.mkdir()
    path = root / "DSJ-0900_20260315_090000_0001.MP4"
    make_mp4(path, 2, creation_time="2026-03-15T01:00:00Z", faststart=True)
    with open(path, "r+b") as f:  # a long recording: the rest is sparse, quick to make
        f.truncate(3 << 30)
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps([{
        "file": path.name, "unit": "market-001", "device_id": "DSJ-0900", "officer_id": "P9",
        "recorded_start": "2026-03-15T01:00:00Z", "recorded_end": "2026-03-15T01:00:02Z"}]))
    try:
        report = ingest_folder(env, root, manifest)
        f = report.files[0]
        assert f.state.startswith("archived"), f.reasons
        virus = f.checks["virus"]
        assert virus["status"] == "clean" and virus["windows"] == 4
        assert "windows" in virus["method"]
        item = setup.catalog.get_item(f.item_id)
        obj = item.storage["object"]
        assert obj["size"] == 3 << 30
        assert digest_chunks(setup.store.read(obj["key"], obj["version_id"])) == \
            item.current.digests
    finally:  # 3 GiB of test data must not outlive the test
        path.unlink(missing_ok=True)
        release_all_for_tests(tmp_path / "worm")
        shutil.rmtree(tmp_path / "worm", ignore_errors=True)
