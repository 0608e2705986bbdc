"""What ingest finds stays found: every problem of a file is kept on its item whatever else is
missing, and completing the metadata never clears it. Device file-number gaps are settled
once the batch is complete, attributed to the missing numbers, per year."""

from __future__ import annotations

import shutil

from archive.catalog.base import Query
from ingest import devices
from ingest.completion import complete
from ingest.pipeline import Ingest
from tests.support.corpus import make_mp4, make_pdf, truncate
from tests.support.offloads import fake_env, write_manifest  # noqa: F401  (a fixture)


def _ingest(fake_env, root, manifest=None, **kw):
    setup, s, fake, _ = fake_env
    return Ingest(setup.archive, s, fake, setup.actor, **kw).run(root, manifest)


# --- attention is never lost ------------------------------------------------------------------
def test_damage_found_is_kept_through_pending_metadata_and_its_completion(fake_env):
    setup, s, _, tmp = fake_env
    root = tmp / "offload"
    root.mkdir()
    make_pdf(root / "renamed.mp4")       # a PDF under a video's name, nobody described it
    make_mp4(tmp / "whole.mp4", 1)
    truncate(tmp / "whole.mp4", root / "cut.mp4")  # a truncated video, its unit unknown
    manifest = write_manifest(tmp / "m.json", [
        {"file": "cut.mp4", "device_id": "DSJ-1", "officer_id": "P1",
         "recorded_start": "2026-03-15 09:00", "recorded_end": "2026-03-15 09:00:01"}])
    report = _ingest(fake_env, root, manifest)
    f = {x.file: x for x in report.files}
    for name, code in (("renamed.mp4", "extension_mismatch"), ("cut.mp4", "truncated")):
        out = f[name]
        assert out.state == "archived-pending-metadata", name
        codes = [r["code"] for r in out.reasons]
        assert code in codes and "missing-metadata" in codes, (name, codes)
        assert code in [x["code"] for x in out.to_dict()["findings"]]
        item = setup.catalog.get_item(out.item_id)
        assert code in [x["code"] for x in item.checks["findings"]]
    fix = tmp / "fix.csv"
    fix.write_text("file,unit\nrenamed.mp4,market-001\ncut.mp4,market-001\n", "utf-8")
    done = complete(setup.archive, s, setup.actor, fix)
    assert done["problems"] == []
    assert {r["status"] for r in done["completed"]} == {"attention"}
    for name in ("renamed.mp4", "cut.mp4"):
        item = setup.catalog.get_item(f[name].item_id)
        assert item.status == "attention" and item.version == 2
        assert item.checks["findings"]
    assert setup.catalog.count(Query(status="archived")) == 0


def test_a_sound_file_completed_is_archived(fake_env):
    setup, s, _, tmp = fake_env
    root = tmp / "offload"
    root.mkdir()
    make_pdf(root / "scan.pdf")
    out = _ingest(fake_env, root).files[0]
    assert out.state == "archived-pending-metadata" and "findings" not in \
        setup.catalog.get_item(out.item_id).checks
    fix = tmp / "fix.csv"
    fix.write_text("file,unit\nscan.pdf,market-001\n", "utf-8")
    assert complete(setup.archive, s, setup.actor, fix)["completed"][0]["status"] == \
        "archived"


# --- device file-number gaps ------------------------------------------------------------------
def _camera_files(root, device, numbers, date="20260315"):
    root.mkdir(exist_ok=True)
    for n, minute in numbers:
        make_pdf(root / f"{device}_{date}_09{minute:02d}00_{n:04d}.pdf", text=f"{device} {n}")


def _register(fake_env, device):
    setup = fake_env[0]
    devices.add_device(setup.archive, setup.actor, device, "X1", "utc", "P1",
                "market-001")


def test_files_of_one_batch_are_never_each_others_gaps(fake_env):
    setup, _, _, tmp = fake_env
    _register(fake_env, "DSJ-0700")
    root = tmp / "offload"
    # processed in name order, number 4 before number 3: a camera whose clock was set back
    _camera_files(root, "DSJ-0700", [(1, 0), (2, 10), (4, 20), (3, 30), (6, 40)])
    report = _ingest(fake_env, root, workers=1)
    assert report.sequence_gaps == {"DSJ-0700": [5]}  # the missing number, not its neighbour
    for out in report.files:
        entry = [e for e in setup.catalog.get_item(out.item_id).checks["four_property"]
                 if e["check"] == "device sequence"][0]
        assert entry["result"] == "pass", (out.file, entry)
    assert devices.list_devices(setup.catalog)[0]["gaps_by_year"] == {"2026": [5]}


def test_a_gap_of_last_year_is_not_repeated_this_year(fake_env):
    setup, _, _, tmp = fake_env
    _register(fake_env, "DSJ-0800")
    _camera_files(tmp / "y2025", "DSJ-0800", [(1, 0), (2, 10), (4, 20)], date="20251230")
    first = _ingest(fake_env, tmp / "y2025")
    assert first.sequence_gaps == {"DSJ-0800": [3]}
    _camera_files(tmp / "y2026", "DSJ-0800", [(5, 0), (6, 10)], date="20260102")
    second = _ingest(fake_env, tmp / "y2026")
    assert second.sequence_gaps == {}
    _camera_files(tmp / "later", "DSJ-0800", [(9, 30)], date="20260102")
    third = _ingest(fake_env, tmp / "later")
    assert third.sequence_gaps == {"DSJ-0800": [7, 8]}
    row = devices.list_devices(setup.catalog)[0]
    assert row["gaps_by_year"] == {"2025": [3], "2026": [7, 8]} and row["gaps"] == [3, 7, 8]
    # the late file closes its gap
    _camera_files(tmp / "late", "DSJ-0800", [(3, 40)], date="20251230")
    assert _ingest(fake_env, tmp / "late").sequence_gaps == {}
    assert devices.list_devices(setup.catalog)[0]["gaps_by_year"] == {"2026": [7, 8]}


def test_a_quarantined_or_rejected_file_is_a_number_seen(fake_env):
    _register(fake_env, "DSJ-0900")
    tmp = fake_env[3]
    root = tmp / "offload"
    _camera_files(root, "DSJ-0900", [(1, 0), (3, 20)])
    (root / "DSJ-0900_20260315_091000_0002.pdf").write_bytes(b"")  # rejected: empty
    report = _ingest(fake_env, root)
    assert report.sequence_gaps == {}


def test_a_rerun_reports_no_gap_again(fake_env):
    _register(fake_env, "DSJ-1000")
    tmp = fake_env[3]
    root = tmp / "offload"
    _camera_files(root, "DSJ-1000", [(1, 0), (3, 20)])
    assert _ingest(fake_env, root).sequence_gaps == {"DSJ-1000": [2]}
    again = _ingest(fake_env, root)
    assert {f.duplicate for f in again.files} == {True} and again.sequence_gaps == {}
    shutil.rmtree(root)


def test_verify_does_not_pass_an_item_with_findings(fake_env):
    from archive.verification import verify_item

    setup, s, _, tmp = fake_env
    root = tmp / "offload"
    root.mkdir()
    make_pdf(root / "renamed.mp4")
    manifest = write_manifest(tmp / "m.json", [{"file": "renamed.mp4", "unit": "market-001"}])
    out = _ingest(fake_env, root, manifest).files[0]
    assert out.state == "archived-attention"
    result = verify_item(setup.archive, setup.catalog.get_item(out.item_id))
    assert not result["ok"]
    assert [p["code"] for p in result["problems"]] == ["ingest-finding"]
