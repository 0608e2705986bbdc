"""kill -9 at every named step, then run again: every file in one state, nothing lost or
doubled; two docking stations at once on the same catalog and store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from archive.catalog.base import Query
from archive.catalog.sqlite import SQLiteCatalog
from archive.copies.reconcile import reconcile
from archive.failpoints import STEPS
from archive.worm.base import object_key
from archive.worm.local import LocalWormStore
from tests.support.archives import make_archive
from tests.support.corpus import make_mp4, make_pdf
from tests.support.worm import release_all_for_tests

REPO = Path(__file__).resolve().parents[1]
# the steps an ingest passes (migrate-item is a migration's)
INGEST_STEPS = tuple(s for s in STEPS if s != "migrate-item")


def _offload(root: Path, tag: str = "") -> Path:
    root.mkdir(parents=True)
    for n in range(3):
        make_mp4(root / f"DSJ-0400_20260315_09000{n}_000{n + 1}.MP4", 1,
                 creation_time=f"2026-03-15T01:00:0{n}Z")
    make_pdf(root / f"笔录{tag}.pdf")
    rows = [{"file": p.name, "unit": "market-001", "device_id": "DSJ-0400",
             "officer_id": "P4000", "party": "王五", "cause": "无照经营",
             "recorded_start": "2026-03-15T01:00:00Z", "recorded_end": "2026-03-15T01:00:01Z",
             **({"kind": "document", "title": f"询问笔录{tag}"} if p.suffix == ".pdf" else {})}
            for p in sorted(root.iterdir())]
    manifest = root.parent / f"{root.name}.json"
    manifest.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return manifest


@pytest.fixture
def work(tmp_path, clamd_scanner):
    cat = SQLiteCatalog(tmp_path / "catalog.sqlite")
    setup = make_archive(tmp_path, cat, LocalWormStore(tmp_path / "worm"))
    yield tmp_path, setup, clamd_scanner.socket_path
    cat.close()
    release_all_for_tests(tmp_path)


def _run(work: Path, socket: str, root: Path, manifest: Path, fault: str | None = None):
    env = dict(os.environ, CUSTODY_TESTING="1", PYTHONPATH=str(REPO))
    if fault:
        env["CUSTODY_FAULT"] = fault
    return subprocess.run([sys.executable, "-m", "tests.support.ingest_worker", str(work),
                           socket, str(root), str(manifest)], env=env, capture_output=True,
                          text=True, timeout=300, cwd=REPO)


def _check_consistent(setup, expected_items: int) -> None:
    cat, store = setup.catalog, setup.store
    items = cat.search(Query(), limit=100).items
    assert len(items) == expected_items
    for item in items:
        obj = item.storage["object"]
        lock = store.lock(obj["key"], obj["version_id"])
        assert lock.retain_until is not None and lock.retain_until >= item.retain_until
        assert "ledger_seq" in item.storage
    assert setup.archive.verify_ledger().ok


@pytest.mark.parametrize("step", INGEST_STEPS)
def test_kill_at_each_step_then_rerun(work, step):
    tmp, setup, socket = work
    manifest = _offload(tmp / "offload")
    crashed = _run(tmp, socket, tmp / "offload", manifest, step)
    assert crashed.returncode == -9, crashed.stderr
    # whatever the crash left: no item without a confirmed lock
    for item in setup.catalog.search(Query(), limit=100).items:
        obj = item.storage["object"]
        assert setup.store.lock(obj["key"], obj["version_id"]).retain_until is not None
    done = _run(tmp, socket, tmp / "offload", manifest)
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts["archived"] == 4 and sum(counts.values()) == 4
    report = reconcile(setup.archive, setup.actor)
    assert report["orphans"] == [] and report["pending_kept"] == []
    assert setup.store.pending() == []
    _check_consistent(setup, 4)
    for item in setup.catalog.search(Query(), limit=100).items:  # written whole, once
        assert item.checks["virus"]["status"] == "clean" and item.checks["four_property"]
        assert "virus check" in {e["type"] for e in item.events}


def test_reconcile_adopts_a_signed_orphan(work):
    tmp, setup, socket = work
    manifest = _offload(tmp / "offload")
    crashed = _run(tmp, socket, tmp / "offload", manifest, "catalog-write")
    assert crashed.returncode == -9
    assert setup.catalog.count(Query()) == 0
    signed = [k for k, _, _ in setup.store.list_keys("objects/") if k.endswith("/v0001.json")]
    assert signed  # the files in flight (two workers) had their metadata signed and stored
    report = reconcile(setup.archive, setup.actor)
    assert len(report["adopted"]) == len(signed)
    item = setup.catalog.get_item(report["adopted"][0])
    assert setup.store.versions(object_key(item.sha256))
    # the other worker may have been killed between locking its object and signing its
    # description: that object is reported, never adopted, and the next run takes it up
    assert all(".meta/" not in o["key"] for o in report["orphans"])
    done = _run(tmp, socket, tmp / "offload", manifest)
    assert done.returncode == 0, done.stderr
    assert reconcile(setup.archive, setup.actor)["orphans"] == []
    _check_consistent(setup, 4)


def test_unsigned_orphan_is_reported_not_adopted(work):
    tmp, setup, _ = work
    import hashlib
    from datetime import datetime, timedelta, timezone

    data = b"bytes that nobody described"
    setup.store.put_object([data], hashlib.sha256(data).hexdigest(), len(data),
                           datetime.now(timezone.utc) + timedelta(days=1))
    report = reconcile(setup.archive, setup.actor)
    assert [o["key"] for o in report["orphans"]] == [object_key(hashlib.sha256(data)
                                                                .hexdigest())]
    assert setup.catalog.count(Query()) == 0


def test_two_stations_at_once(work):
    tmp, setup, socket = work
    m1 = _offload(tmp / "station1", "甲")
    m2 = _offload(tmp / "station2", "乙")
    for name in os.listdir(tmp / "station1"):  # identical videos offloaded at both stations
        if name.endswith(".MP4"):
            shutil.copyfile(tmp / "station1" / name, tmp / "station2" / name)
    env = dict(os.environ, CUSTODY_TESTING="1", PYTHONPATH=str(REPO))
    procs = [subprocess.Popen([sys.executable, "-m", "tests.support.ingest_worker", str(tmp),
                               socket, str(tmp / st), str(m)], env=env, cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for st, m in (("station1", m1), ("station2", m2))]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    # 3 identical videos with identical metadata are one item each; the two PDFs differ
    _check_consistent(setup, 5)
    for item in setup.catalog.search(Query(kind="video")).items:
        assert len(setup.store.versions(object_key(item.sha256))) == 1
    assert setup.store.pending() == []
