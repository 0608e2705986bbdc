"""The transfer's re-check counts what the checks at ingest found wrong with an original (a
truncated or unreadable recording, contradicting times): a re-read that happens to pass never
makes such an item sound, and completing its metadata does not clear it."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

import bootstrap
from archive.domain.model import Description
from retention import transfer
from tests.support.archives import make_archive
from tests.support.corpus import make_mp4, truncate
from tests.support.cycle import SH, add, archivist, policy
from tests.support.ingesting import env, ingest_folder  # noqa: F401  (env: a fixture)

TRUNCATED = {"mime": "video/mp4", "kind_allowed": True, "extension": "mp4",
             "extension_matches": True, "duration_s": None, "truncated": True,
             "damaged": True, "problems": [{"code": "truncated", "message": "cut short"},
                                           {"code": "no_duration", "message": "no duration"}]}


def _utc(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_truncated_recording_is_handed_over_with_its_findings_never_as_usable(env):
    setup, _, _, tmp = env
    root = tmp / "offload"
    root.mkdir()
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=2)
    make_mp4(root / "good.mp4", 2, creation_time=_utc(start))
    make_mp4(tmp / "full.mp4", 2, creation_time=_utc(start + timedelta(minutes=5)))
    truncate(tmp / "full.mp4", root / "cut.mp4")
    common = {"kind": "video", "unit": "market-001", "device_id": "DSJ-0101",
              "officer_id": "P1001"}
    rows = [dict(common, file="good.mp4", recorded_start=_utc(start),
                 recorded_end=_utc(start + timedelta(seconds=2))),
            dict(common, file="cut.mp4", recorded_start=_utc(start + timedelta(minutes=5)),
                 recorded_end=_utc(start + timedelta(minutes=5, seconds=2)))]
    manifest = tmp / "manifest.json"
    manifest.write_text(json.dumps({"files": rows}), encoding="utf-8")
    report = ingest_folder(env, root, manifest)
    by_file = {f.file: f for f in report.files}
    assert by_file["cut.mp4"].state == "archived-attention"
    good, cut = by_file["good.mp4"].item_id, by_file["cut.mp4"].item_id

    a1 = archivist(setup, "ARC1")
    year = start.astimezone(SH).year
    rec = transfer.prepare(setup.archive, a1, policy(), year, tmp / "out",
                           datetime.now(timezone.utc), bootstrap.media_probe())
    assert set(rec["items"]) == {good, cut} and rec["withheld"] == []
    data = tmp / "out" / f"transfer-{rec['id']}" / "data"
    check = json.loads((data / "check-report.json").read_text("utf-8"))
    rows = {r["item"]: r for r in check["passed"]}
    assert rows[good]["findings"] == []
    assert all(p["result"] == "pass" for p in rows[good]["properties"].values())
    props = rows[cut]["properties"]
    assert props["usability"]["result"] == "fail" and props["integrity"]["result"] == "fail"
    assert "ingest-truncated" in rows[cut]["findings"]
    text = (data / "check-report-zh.txt").read_text("utf-8")
    assert "可用性：不通过 1 件" in text and "完整性：不通过 1 件" in text
    assert "附问题移交 1 件" in text and "入库检测：文件截断" in text
    signed = json.loads((data / "transfer-manifest.json").read_text("utf-8"))
    findings = {r["item_id"]: r.get("findings") for r in signed["manifest"]["items"]}
    assert findings[good] is None and "ingest-truncated" in findings[cut]
    assert "附问题移交" in (data / "transfer-list-zh.txt").read_text("utf-8")


@pytest.fixture
def year(tmp_path, catalog, store):
    setup = make_archive(tmp_path, catalog, store)
    return setup, archivist(setup, "ARC1"), tmp_path


def test_ingest_findings_count_on_both_catalogs_and_stores(year):
    setup, a1, tmp = year
    sound = add(setup, 1)
    cut = add(setup, 2, checks={"format": TRUNCATED})
    cut.status = "attention"
    setup.catalog.save_state(cut)
    late = add(setup, 3, checks={"format": TRUNCATED | {"truncated": False, "damaged": False,
                                                        "problems": []},
                                 "consistency": {"result": "fail",
                                                 "problems": ["media time differs"]}})
    # a damaged original whose metadata was incomplete: withheld for the metadata, and its
    # findings stay after the metadata is completed
    pending = add(setup, 4, device_id=None, checks={"format": TRUNCATED})
    assert pending.status == "pending-metadata"
    items = [setup.archive.item(i.id) for i in (sound, cut, late, pending)]
    passed, withheld = transfer.check_items(setup.archive, items)
    rows = {r["item"]: r for r in passed + withheld}
    assert rows[sound.id]["findings"] == []
    assert rows[cut.id]["properties"]["usability"]["result"] == "fail"
    assert rows[cut.id]["properties"]["integrity"]["findings"] == ["ingest-truncated"]
    assert rows[late.id]["properties"]["authenticity"] == {
        "result": "fail", "problems": [], "findings": ["ingest-time-inconsistent"]}
    assert [w["item"] for w in withheld] == [pending.id]
    assert "ingest-truncated" in withheld[0]["findings"]

    fixed = Description.from_dict(pending.description.to_dict() | {"device_id": "D4"})
    setup.archive.correct(pending.id, fixed, setup.actor, "device added")
    again = setup.archive.item(pending.id)
    assert again.status != "pending-metadata"
    passed, withheld = transfer.check_items(setup.archive, [again])
    assert withheld == [] and "ingest-truncated" in passed[0]["findings"]
    assert passed[0]["properties"]["usability"]["result"] == "fail"
