"""Ingest end to end: a real clamd, real libmagic and MediaInfo, SQLite and the local store."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from archive import people
from archive.catalog.base import Query
from archive.domain.errors import ServiceUnavailable
from archive.worm.base import object_key
from ingest import devices
from ingest.completion import complete
from ingest.pipeline import Ingest, ingest_offload
from scanners.clamd import ClamdScanner
from tests.support.clamd import EICAR
from tests.support.corpus import make_image, make_mp4, make_ofd, make_pdf, make_wav, truncate
from tests.support.fake_scanner import LOST_MARKER, NOT_SCANNED_MARKER, VIRUS_WORDS
from tests.support.ingesting import env, ingest_folder  # noqa: F401  (env: a fixture)
from tests.support.offloads import fake_env  # noqa: F401  (a fixture)

NOW = datetime.now(timezone.utc)
TODAY = NOW.astimezone(timezone(timedelta(hours=8))).replace(hour=9, minute=0, second=0,
                                                             microsecond=0)


def _utc(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_manifest(path: Path, rows: list[dict]) -> Path:
    path.write_text(json.dumps({"files": rows}, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def offload(tmp_path):
    root = tmp_path / "offload"
    cam = root / "DSJ-0101"
    cam.mkdir(parents=True)
    start = TODAY
    make_mp4(cam / "DSJ-0101_20260315_090000_0001.MP4", 2, creation_time=_utc(start))
    make_mp4(cam / "DSJ-0101_20260315_091000_0002.MP4", 2,
             creation_time=_utc(start + timedelta(minutes=10)))
    make_mp4(root / "full.mp4", 2)
    truncate(root / "full.mp4", cam / "DSJ-0101_20260315_092000_0003.MP4")
    (root / "full.mp4").unlink()
    make_wav(root / "录音-王五.wav", 2)
    make_image(root / "现场照片.jpg")
    (root / "scans").mkdir()
    make_pdf(root / "scans" / "询问笔录.pdf")
    make_ofd(root / "scans" / "决定书.ofd")
    make_pdf(root / "renamed.mp4")
    (root / "eicar.com").write_bytes(EICAR)
    (root / "empty.mp4").write_bytes(b"")
    (root / "link.mp4").symlink_to("/etc/hostname")
    (root / os.fsdecode(b"DSJ\xff\xfe.wav")).write_bytes((root / "录音-王五.wav").read_bytes()[:-2]
                                                       + b"\x00\x01")
    officer = {"unit": "market-001", "device_id": "DSJ-0101", "officer_id": "P1001;+P3001",
               "party": "王五", "cause": "无照经营", "activity_id": "ACT-1",
               "activity_type": "询问"}
    rows = [
        dict(officer, file="DSJ-0101/DSJ-0101_20260315_090000_0001.MP4",
             recorded_start=_utc(start), recorded_end=_utc(start + timedelta(seconds=2))),
        dict(officer, file="DSJ-0101/DSJ-0101_20260315_091000_0002.MP4",
             recorded_start=_utc(start + timedelta(minutes=10)),
             recorded_end=_utc(start + timedelta(minutes=10, seconds=2)), case_id="C-1"),
        dict(officer, file="DSJ-0101/DSJ-0101_20260315_092000_0003.MP4",
             recorded_start=_utc(start + timedelta(minutes=20)),
             recorded_end=_utc(start + timedelta(minutes=20, seconds=2))),
        dict(officer, file="录音-王五.wav", kind="audio", device_id="REC-9",
             recorded_start=_utc(start), recorded_end=_utc(start + timedelta(seconds=2))),
        dict(officer, file="现场照片.jpg", kind="photo", recorded_start=_utc(start),
             recorded_end=_utc(start)),
        dict(file="scans/询问笔录.pdf", kind="document", unit="market-001", case_id="C-1",
             activity_id="ACT-1", document_type="询问笔录", title="王五询问笔录",
             recorded_start=_utc(start), recorded_end=_utc(start + timedelta(minutes=12)),
             document_date=_utc(start)),
        dict(file="scans/决定书.ofd", kind="document", unit="market-001", case_id="C-1"),
        dict(officer, file="renamed.mp4", kind="video"),
        dict(officer, file="missing.mp4"),
        dict(officer, file="../../etc/passwd"),
        dict(officer, file="现场照片.jpg", kind="photo", recorded_start=_utc(start),
             recorded_end=_utc(start)),
    ]
    return root, _write_manifest(tmp_path / "manifest.json", rows)


def _by_file(report):
    return {f.file: f for f in report.files}


def test_every_file_ends_in_one_named_state(env, offload):
    setup, _, _, tmp = env
    root, manifest = offload
    report = ingest_folder(env, root, manifest)
    f = _by_file(report)
    assert f["DSJ-0101/DSJ-0101_20260315_090000_0001.MP4"].state == "archived"
    assert f["DSJ-0101/DSJ-0101_20260315_091000_0002.MP4"].state == "archived"
    truncated = f["DSJ-0101/DSJ-0101_20260315_092000_0003.MP4"]
    assert truncated.state == "archived-attention"
    assert "truncated" in [r["code"] for r in truncated.reasons]
    assert f["录音-王五.wav"].state == "archived"
    assert f["现场照片.jpg"].state == "archived"
    assert f["scans/询问笔录.pdf"].state == "archived"
    assert f["scans/决定书.ofd"].state == "archived"
    assert f["renamed.mp4"].state == "rejected"
    assert f["eicar.com"].state == "quarantined"
    assert f["empty.mp4"].state == "rejected"
    assert f["link.mp4"].state == "rejected"
    odd = f["DSJ\\xff\\xfe.wav"]
    assert odd.state == "archived-pending-metadata"  # no manifest row: preserved first
    codes = {(p["code"], p["file"]) for p in report.manifest_problems}
    assert ("missing-file", "missing.mp4") in codes
    assert ("unsafe-path", "../../etc/passwd") in codes
    assert ("duplicate-row", "现场照片.jpg") in codes
    assert report.exit_code == 1
    # nothing left half-done
    assert setup.store.pending() == []
    infected = f["eicar.com"]
    assert setup.store.versions(object_key(infected.sha256)) == []
    assert not (root / "eicar.com").exists()
    moved = Path(infected.moved_to)
    assert moved.read_bytes() == EICAR
    assert json.loads(moved.with_name(moved.name + ".report.json").read_text())["state"] \
        == "quarantined"
    assert setup.catalog.list_records("quarantine")[0]["sha256"] == infected.sha256
    assert os.readlink(f["link.mp4"].moved_to) == "/etc/hostname"
    assert (root / "renamed.mp4").exists() is False
    assert (root / "DSJ-0101" / "DSJ-0101_20260315_090000_0001.MP4").exists()  # originals stay
    # archived items: signed, locked, searchable, with their checks
    item = setup.catalog.get_item(f["DSJ-0101/DSJ-0101_20260315_091000_0002.MP4"].item_id)
    assert item.legal_hold and item.description.assisting == ["P3001"]
    assert item.checks["virus"]["status"] == "clean"
    assert item.checks["virus"]["method"] == "INSTREAM"
    assert item.checks["consistency"]["result"] == "pass"
    assert item.checks["written_record"]["result"] == "pass"
    assert {e["property"] for e in item.checks["four_property"]} == {
        "authenticity", "integrity", "usability", "security"}
    assert odd.item_id and setup.catalog.get_item(odd.item_id).description.source[
        "name_bytes_hex"] == b"DSJ\xff\xfe.wav".hex()
    assert [i.id for i in setup.catalog.search(Query(party="王五")).items]
    assert setup.archive.verify_ledger().ok
    stored = setup.catalog.list_records("batches")[0]
    assert stored["counts"]["quarantined"] == 1


def test_rerun_recognises_duplicates(env, offload):
    root, manifest = offload
    first = ingest_folder(env, root, manifest)
    second = ingest_folder(env, root, manifest)
    archived = [f for f in first.files if f.item_id]
    again = _by_file(second)
    for f in archived:
        assert again[f.file].duplicate and again[f.file].item_id == f.item_id
    setup = env[0]
    assert setup.catalog.count(Query()) == len(archived)


def test_without_manifest_times_come_from_media_and_are_not_checked(env, tmp_path):
    setup = env[0]
    root = tmp_path / "cam"
    root.mkdir()
    make_mp4(root / "DSJ-0200_20260315_090000_0007.MP4", 2,
             creation_time="2026-03-15T01:00:00Z")
    devices.add_device(setup.archive, setup.actor, "DSJ-0200", "X1", "utc",
                "P2000", "urban-001")
    report = ingest_folder(env, root)
    f = report.files[0]
    assert f.state == "archived"  # the device register gives unit and officer
    item = setup.catalog.get_item(f.item_id)
    assert item.description.officers == ["P2000"]
    assert item.description.recorded_start == datetime(2026, 3, 15, 1, tzinfo=timezone.utc)
    assert item.checks["consistency"]["result"] == "not-checkable"
    assert item.checks["deadline"]["late"] is True  # recorded in March, offloaded today
    assert f.late and report.exit_code == 1


def test_local_clock_device_and_gaps_and_faults(env, tmp_path):
    setup = env[0]
    root = tmp_path / "cam"
    root.mkdir()
    for seq in (1, 2, 4):
        make_mp4(root / f"DSJ-0300_20260315_09000{seq}_000{seq}.MP4", 1,
                 creation_time="2026-03-15T09:00:00Z")  # a local-time camera writing "UTC"
    devices.add_device(setup.archive, setup.actor, "DSJ-0300", "Y2", "local",
                "P3000", "market-001")
    devices.set_device_status(setup.archive, setup.actor, "DSJ-0300", "faulty",
                       "lens cracked")
    report = ingest_folder(env, root)
    assert report.sequence_gaps == {"DSJ-0300": [3]}
    assert {f.state for f in report.files} == {"archived-attention"}
    item = setup.catalog.get_item(report.files[0].item_id)
    assert item.description.recorded_start == datetime(2026, 3, 15, 1, tzinfo=timezone.utc)


def test_inconsistent_times_are_reported(env, tmp_path):
    root = tmp_path / "cam"
    root.mkdir()
    make_mp4(root / "a.mp4", 2, creation_time="2026-03-15T01:00:00Z")
    manifest = _write_manifest(tmp_path / "m.json", [{
        "file": "a.mp4", "unit": "market-001", "device_id": "D-1", "officer_id": "P1",
        "recorded_start": "2026-03-15 09:30", "recorded_end": "2026-03-15 09:40"}])
    report = ingest_folder(env, root, manifest)
    f = report.files[0]
    assert f.state == "archived-attention"
    cons = f.checks["consistency"]
    assert cons["result"] == "fail" and cons["clock_offset_s"] == -1800


def test_pending_metadata_completed_without_reupload(env, tmp_path):
    setup, s, _, _ = env
    root = tmp_path / "cam"
    root.mkdir()
    make_mp4(root / "unknown.mp4", 1)
    report = ingest_folder(env, root)
    f = report.files[0]
    assert f.state == "archived-pending-metadata"
    versions_before = setup.store.versions(object_key(f.sha256))
    fix = tmp_path / "fix.csv"
    fix.write_text("file,unit,device_id,officer_id,party,cause\n"
                   "unknown.mp4,market-001,DSJ-9,P9,张三,无照经营\n", encoding="utf-8")
    result = complete(setup.archive, s, setup.actor, fix)
    assert result["problems"] == [] and result["completed"][0]["version"] == 2
    item = setup.catalog.get_item(f.item_id)
    assert item.status == "archived" and item.description.party == "张三"
    assert setup.store.versions(object_key(f.sha256)) == versions_before


def test_scanner_down_touches_nothing(env, offload, tmp_path):
    setup, s, _, _ = env
    root, manifest = offload
    dead = ClamdScanner(socket_path=str(tmp_path / "no.sock"))
    with pytest.raises(ServiceUnavailable):
        Ingest(setup.archive, s, dead, setup.actor).run(root, manifest)
    assert (root / "eicar.com").exists()
    assert setup.catalog.count(Query()) == 0


def test_people_are_checked_for_the_cli(env):
    setup = env[0]
    assert people.people_keyring(setup.catalog).key_ids()


# --- the pipeline with the fake scanner (no clamd) ------------------------------------------


def _documents(root: Path, tmp: Path, texts: dict[str, str], **extra) -> Path:
    root.mkdir()
    for name, text in texts.items():
        make_pdf(root / name, text=text)
    return _write_manifest(tmp / "docs.json", [
        {"file": name, "kind": "document", "unit": "market-001", "officer_id": "P1",
         "party": "王五", "cause": "无照经营", **extra} for name in texts])


def test_fake_scanner_verdicts_infected_quarantined_not_scanned_left(fake_env):
    setup, s, fake, tmp = fake_env
    root = tmp / "offload"
    manifest = _documents(root, tmp, {
        "clean.pdf": "an ordinary scan",
        "infected.pdf": VIRUS_WORDS.decode(),
        "unscannable.pdf": NOT_SCANNED_MARKER.decode()})
    (root / "bad.com").write_bytes(b"MZ " + VIRUS_WORDS)  # not an allowed format, and infected
    report = Ingest(setup.archive, s, fake, setup.actor).run(root, manifest, "ST-01")
    f = _by_file(report)
    assert f["clean.pdf"].state == "archived"
    item = setup.catalog.get_item(f["clean.pdf"].item_id)
    assert item.checks["virus"]["engine"] == "FakeAV 1.0"
    assert item.checks["virus"]["status"] == "clean"
    # infected: quarantined with its report, nothing locked, nothing pending
    for name in ("infected.pdf", "bad.com"):
        out = f[name]
        assert out.state == "quarantined" and out.reasons[0]["code"] == "infected"
        assert not (root / name).exists() and Path(out.moved_to).exists()
        assert setup.store.versions(object_key(out.sha256)) == []
    assert {r["file"] for r in setup.catalog.list_records("quarantine")} == {"infected.pdf",
                                                                            "bad.com"}
    # not scanned: left in place, nothing archived
    left = f["unscannable.pdf"]
    assert left.state == "not-scanned" and left.item_id is None
    assert left.checks["virus"]["reason"].startswith("Fake.Limits.Exceeded")
    assert (root / "unscannable.pdf").exists()
    assert [k for k, _, _ in setup.store.list_keys("objects/")
            if not k.startswith(object_key(item.sha256))] == []
    assert setup.store.pending() == []
    assert setup.catalog.count(Query()) == 1
    assert fake.open_scans == 0  # every scan finished or abandoned
    assert report.exit_code == 1 and report.scanner_lost is None


def test_fake_scanner_lost_mid_batch_leaves_the_rest_in_place(fake_env):
    setup, s, fake, tmp = fake_env
    root = tmp / "offload"
    manifest = _documents(root, tmp, {"a.pdf": LOST_MARKER.decode(), "b.pdf": "fine"})
    report = Ingest(setup.archive, s, fake, setup.actor, workers=1).run(root, manifest)
    assert report.scanner_lost and report.exit_code == 3
    assert {f.state for f in report.files} == {"not-scanned"}
    assert {f.reasons[-1]["code"] for f in report.files} == {"scanner-unavailable"}
    assert (root / "a.pdf").exists() and (root / "b.pdf").exists()
    assert setup.store.pending() == [] and list(setup.store.list_keys("objects/")) == []
    fake.available = False
    with pytest.raises(ServiceUnavailable):  # a scanner that does not answer: nothing touched
        Ingest(setup.archive, s, fake, setup.actor).run(root, manifest)


def test_each_new_item_is_written_once_with_everything(fake_env, monkeypatch):
    """The pipeline hands the archive service its checks and events before the item is
    catalogued: one content write per item. After it only the ledger position (crash-recovery
    bookkeeping) and, for an activity's items, the written-record check, once per item."""
    setup, s, fake, tmp = fake_env
    root = tmp / "offload"
    start = TODAY
    act = {"unit": "market-001", "officer_id": "P1", "party": "王五", "cause": "无照经营",
           "activity_id": "ACT-9", "activity_type": "询问"}
    root.mkdir()
    make_mp4(root / "clip.mp4", 2, creation_time=_utc(start))
    make_pdf(root / "笔录1.pdf", text="record one")
    make_pdf(root / "笔录2.pdf", text="record two")
    make_pdf(root / "other.pdf", text="no activity")
    manifest = _write_manifest(tmp / "m.json", [
        dict(act, file="clip.mp4", kind="video", device_id="DSJ-1",
             recorded_start=_utc(start), recorded_end=_utc(start + timedelta(seconds=2))),
        *[dict(act, file=f"笔录{n}.pdf", kind="document", document_type="询问笔录",
               recorded_start=_utc(start), recorded_end=_utc(start + timedelta(seconds=2)))
          for n in (1, 2)],
        {"file": "other.pdf", "kind": "document", "unit": "market-001", "officer_id": "P1",
         "party": "张三", "cause": "占道经营"}])
    writes: dict[str, list[tuple[str, dict]]] = {}
    cat = setup.catalog
    real_add, real_save = cat.add_items, cat.save_state

    def add_items(items):
        for i in items:
            writes.setdefault(i.id, []).append(("add", json.loads(json.dumps(i.to_dict()))))
        return real_add(items)

    def save_state(item):
        writes.setdefault(item.id, []).append(("save", json.loads(json.dumps(item.to_dict()))))
        return real_save(item)

    monkeypatch.setattr(cat, "add_items", add_items)
    monkeypatch.setattr(cat, "save_state", save_state)
    report = Ingest(setup.archive, s, fake, setup.actor).run(root, manifest, "ST-01")
    f = _by_file(report)
    assert {x.state for x in report.files} == {"archived"}, [x.reasons for x in report.files]
    for name, out in f.items():
        kinds = [k for k, _ in writes[out.item_id]]
        in_activity = name != "other.pdf"
        assert kinds == ["add", "save"] + (["save"] if in_activity else []), name
        added = writes[out.item_id][0][1]
        assert {e["property"] for e in added["checks"]["four_property"]} == {
            "authenticity", "integrity", "usability", "security"}
        assert added["checks"]["virus"]["status"] == "clean"
        assert added["checks"]["virus"]["engine"] == "FakeAV 1.0"
        assert {"virus check", "format identification"} <= {e["type"] for e in added["events"]}
        ledger = writes[out.item_id][1][1]
        assert ledger["storage"]["ledger_seq"] and "ledger_seq" not in added["storage"]
        assert ledger | {"storage": added["storage"]} == added  # nothing else changed
        if in_activity:
            final = writes[out.item_id][2][1]
            assert final["checks"]["written_record"]["result"] == "pass"
    assert setup.catalog.get_item(f["clip.mp4"].item_id).checks["written_record"]["result"] \
        == "pass"


def test_ingest_offload_tells_the_total_and_the_progress(fake_env):
    setup, s, fake, tmp = fake_env
    root = tmp / "offload"
    manifest = _documents(root, tmp, {"a.pdf": "one", "b.pdf": "two"})
    (root / "link.pdf").symlink_to(root / "a.pdf")  # never read, not counted
    totals, done = [], []
    report = ingest_offload(setup.archive, setup.actor, s, fake, root, manifest, "ST-01",
                            progress=done.append, total=totals.append)
    size = sum((root / n).stat().st_size for n in ("a.pdf", "b.pdf"))
    assert totals == [size] and sum(done) == size
    assert report["counts"]["archived"] == 2 and report["counts"]["rejected"] == 1
    assert json.loads(json.dumps(report)) == report  # plain data for any face
