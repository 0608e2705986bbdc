"""Yearly statistics (custody report): every figure against a catalog built by hand, each
output format through the command line, and the HTML report rendered in headless Chromium."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

import bootstrap
from archive import people
from archive.catalog import years
from archive.domain.errors import InputError
from archive.domain.model import Description, Item
from config import settings
from reports import html as report_html
from reports import statistics
from tests.support.builders import make_item
from tests.support.catalogs import sqlite_catalog
from tests.support.cli import env, run, run_json  # noqa: F401  (env is a fixture)

SH = ZoneInfo("Asia/Shanghai")
CLEAN = {"status": "clean", "method": "instream"}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def _item(*, checks: dict | None = None, virus: dict | None = CLEAN,
          retention: dict | None = None, **kw) -> Item:
    item = make_item(**kw)
    item.checks = dict(checks or {})
    if virus is not None:
        item.checks["virus"] = virus
    item.retention = dict(retention or {})
    return item


def fill(catalog) -> dict[str, str]:
    """The year-2026 archive of two units (Asia/Shanghai), plus items just outside the year.
    Returns the ids by name; the expected figures in the tests are worked out by hand."""
    mk, P1 = "market-001", ["P001"]
    items = {
        # activity A1 (询问): two segments from one camera, 10 minutes apart, and a work record
        "v1": _item(start=utc(2026, 3, 1, 1), minutes=60, unit=mk, device_id="DSJ-0001",
                    officers=P1, assisting=["P900"], activity_id="A1", activity_type="询问",
                    case_id="SJ-1", checks={"deadline": {"late": True,
                                                         "due": "2026-03-02T00:00:00+08:00"}}),
        "v2": _item(start=utc(2026, 3, 1, 2, 10), minutes=30, unit=mk, device_id="DSJ-0001",
                    officers=P1, activity_id="A1", activity_type="询问", case_id="SJ-1",
                    checks={"deadline": {"late": False}}),
        "w1": _item(kind="document", start=None, unit=mk, device_id=None, officers=P1,
                    activity_id="A1", activity_type="询问",
                    extra={"document_type": "工作记录", "document_date": "2026-03-01"}),
        "p1": _item(kind="photo", start=utc(2026, 3, 1, 3), minutes=0, unit=mk,
                    device_id="DSJ-0001", officers=P1, activity_id="A2",
                    activity_type="现场勘验", checks={"written_record": {"result": "fail"}}),
        # urban-001: a seizure recorded on an audio recorder whose time contradicts the media
        "a1": _item(kind="audio", start=utc(2026, 6, 10, 2), minutes=90, unit="urban-001",
                    device_id="REC-01", officers=["P002"], activity_id="B1",
                    activity_type="扣押", case_id="CG-1", status="attention", tier="case",
                    checks={"consistency": {"result": "fail"},
                            "verification": {"ok": False, "problems": ["digest-mismatch"]}}),
        # 01:30 on 1 January 2026 in Shanghai, still 2025 in UTC: counts in 2026
        "v4": _item(start=utc(2025, 12, 31, 17, 30), minutes=30, unit=mk, device_id="DSJ-0002",
                    officers=["P002"], activity_type="日常巡查", status="attention",
                    tier="permanent", important=True,
                    checks={"format": {"damaged": True}},
                    retention={"flags": ["obstruction", {"flag": "complaint",
                                                         "confirmed": False}]}),
        # 01:00 on 1 January 2027 in Shanghai: not 2026
        "v5": _item(start=utc(2026, 12, 31, 17), minutes=20, unit=mk, device_id="DSJ-0002",
                    officers=["P002"]),
        "v6": _item(start=utc(2025, 6, 1, 1), minutes=20, unit=mk, device_id="DSJ-0002",
                    officers=["P002"]),
        # pending metadata, no times: counts in its ingest year (make_item: 2026-03-02)
        "pend": _item(start=None, unit=None, device_id=None, officers=[],
                      status="pending-metadata"),
        # activity B2 (询问) interrupted on the recorder, no work record for it
        "b2a": _item(kind="audio", start=utc(2026, 7, 1, 0), minutes=60, unit="urban-001",
                     device_id="REC-01", officers=["P002"], activity_id="B2",
                     activity_type="询问", virus={"status": "not-scanned"},
                     extra={"sequence": 10}),
        "b2b": _item(kind="audio", start=utc(2026, 7, 1, 1, 30), minutes=30,
                     unit="urban-001", device_id="REC-01", officers=["P002"],
                     activity_id="B2", activity_type="询问", status="attention",
                     checks={"device": {"status": "faulty", "result": "fail"}},
                     extra={"sequence": 12}),
        # activity C1 from two cameras at once: multi-angle, not interrupted
        "c1a": _item(start=utc(2026, 8, 1, 1), minutes=15, unit=mk, device_id="DSJ-0001",
                     officers=P1, activity_id="C1", activity_type="日常巡查"),
        "c1b": _item(start=utc(2026, 8, 1, 1), minutes=15, unit=mk, device_id="DSJ-0002",
                     officers=["P002"], assisting=P1, activity_id="C1",
                     activity_type="日常巡查", virus=None),
        # a service (送达) explained only by a work record, scanned late
        "w2": _item(kind="document", start=None, unit=mk, device_id=None, officers=["P003"],
                    activity_id="D1", activity_type="送达", case_id="SJ-5",
                    confidential="personal-privacy",
                    extra={"document_type": "现场工作记录", "document_date": "2026-04-02"},
                    checks={"deadline": {"late": True, "due": "2026-04-05T00:00:00+08:00"}}),
    }
    for item in items.values():
        catalog.add_item(item)
    # the register as ingest keeps it: numbers and gaps by year. DSJ-0001's counter started
    # again in 2026 (its 2025 gap is not 2026's); OLD-9 and REC-01 were noted before years
    # were kept: REC-01's 2026 gap comes from the numbers its 2026 items carry, OLD-9 has
    # none in 2026
    for dev, unit, by_year, gaps in (
            ("DSJ-0001", mk, {"2025": [10, 12], "2026": [1, 2, 5]},
             {"2025": [11], "2026": [3, 4]}),
            ("DSJ-0002", mk, {"2026": [7, 8, 9]}, {}),
            ("OLD-9", "culture-001", None, [3, 1]), ("REC-01", "urban-001", None, [10, 12])):
        doc = {"id": dev, "unit": unit, "model": "M", "status": "in-service"}
        if by_year is None:
            doc["sequences"] = gaps
        else:
            doc |= {"sequences": sorted({n for ns in by_year.values() for n in ns}),
                    "sequence_years": by_year, "gaps_by_year": gaps}
        catalog.put_record("devices", dev, doc)
    for cid, unit, opened, acts in (
            ("SJ-1", mk, "2026-02-01", ["询问"]),
            ("SJ-2", mk, "2026-04-01", ["扣押", "日常巡查"]),
            ("SJ-3", mk, "2026-05-01", ["日常巡查"]),
            ("SJ-4", mk, "2025-11-01", ["询问"]),
            ("SJ-5", mk, "2026-03-20", ["送达"]),
            ("SJ-6", mk, "2026-12-31T20:00:00+00:00", ["扣押"]),  # 2027 in Shanghai
            ("CG-1", "urban-001", "2026-06-01", ["扣押"])):
        catalog.put_record("cases", cid, {"id": cid, "unit": unit, "opened": opened,
                                          "closed": None, "activities": acts})
    return {name: item.id for name, item in items.items()}


@pytest.fixture
def filled_catalog(catalog):
    ids = fill(catalog)
    return catalog, ids


def test_yearly_figures(filled_catalog, monkeypatch):
    catalog, ids = filled_catalog
    monkeypatch.setattr(years, "PAGE_SIZE", 2)  # walk every query over several pages
    s = statistics.yearly_statistics(catalog, 2026, SH)
    json.dumps(s)  # JSON-safe as it is

    t = s["totals"]
    assert (t["items"], t["seconds"], t["hours"], t["late"]) == (12, 19800, 5.5, 2)
    assert t["by_kind"] == {"audio": 3, "document": 2, "photo": 1, "video": 6}
    assert t["by_status"] == {"archived": 8, "attention": 3, "pending-metadata": 1}
    assert t["by_activity_type"] == {
        "-": {"items": 1, "hours": 0}, "扣押": {"items": 1, "hours": 1.5},
        "日常巡查": {"items": 3, "hours": 1.0}, "现场勘验": {"items": 1, "hours": 0},
        "询问": {"items": 5, "hours": 3.0}, "送达": {"items": 1, "hours": 0}}

    u = s["by_unit"]
    assert {k: (v["items"], v["hours"], v["late"]) for k, v in u.items()} == {
        "-": (1, 0, 0), "market-001": (8, 2.5, 2), "urban-001": (3, 3.0, 0)}
    assert u["market-001"]["by_activity_type"] == {
        "日常巡查": {"items": 3, "hours": 1.0}, "现场勘验": {"items": 1, "hours": 0},
        "询问": {"items": 3, "hours": 1.5}, "送达": {"items": 1, "hours": 0}}
    assert u["urban-001"]["by_activity_type"] == {"扣押": {"items": 1, "hours": 1.5},
                                                  "询问": {"items": 2, "hours": 1.5}}

    o = s["by_officer"]
    assert {k: (v["items"], v["as_officer"], v["as_assisting"], v["hours"],
                v["hours_as_officer"], v["hours_as_assisting"], v["late"])
            for k, v in o.items()} == {
        "P001": (6, 5, 1, 2.0, 1.75, 0.25, 1), "P002": (5, 5, 0, 3.75, 3.75, 0, 0),
        "P003": (1, 1, 0, 0, 0, 0, 1), "P900": (1, 0, 1, 1.0, 0, 1.0, 1)}
    assert o["P001"]["by_activity_type"]["日常巡查"] == {"items": 2, "hours": 0.5}

    d = s["by_device"]
    assert {k: (v["unit"], v["items"], v["hours"], v["late"], v["sequence_missing"])
            for k, v in d.items()} == {
        "DSJ-0001": ("market-001", 4, 1.75, 1, 2), "DSJ-0002": ("market-001", 2, 0.75, 0, 0),
        "REC-01": ("urban-001", 3, 3.0, 0, 1)}

    late = s["late_offloads"]
    assert late["total"] == 2
    assert late["by_unit"] == {"market-001": 2}
    assert late["by_officer"] == {"P001": 1, "P003": 1}
    assert late["by_device"] == {"-": 1, "DSJ-0001": 1}
    assert sorted(r["id"] for r in late["items"]) == sorted([ids["v1"], ids["w2"]])
    assert {r["due"] for r in late["items"]} == {"2026-03-02T00:00:00+08:00",
                                                 "2026-04-05T00:00:00+08:00"}

    intr = s["interrupted"]
    assert (intr["total"], intr["without_work_record"]) == (2, 1)
    assert [(a["activity_id"], a["activity_type"], a["unit"], a["devices"], a["segments"],
             a["pause_seconds"], a["work_records"]) for a in intr["activities"]] == [
        ("A1", "询问", "market-001", {"DSJ-0001": 2}, 2, 600.0, 1),
        ("B2", "询问", "urban-001", {"REC-01": 2}, 2, 1800.0, 0)]
    assert s["work_records"] == {"total": 2, "by_activity": {"A1": 1, "D1": 1},
                                 "activities_without_recording": ["D1"]}

    g = s["sequence_gaps"]
    assert (g["devices_checked"], g["total_missing"]) == (4, 3)
    assert [(r["device_id"], r["unit"], r["gaps"], r["files_seen"]) for r in g["devices"]] == [
        ("DSJ-0001", "market-001", [3, 4], 3), ("REC-01", "urban-001", [11], 2)]

    c = s["unrecorded_cases"]
    assert (c["register_available"], c["register_size"], c["considered"],
            c["requiring_recording"], c["total"]) == (True, 7, 5, 4, 2)
    assert [(x["id"], x["missing"], x["recorded"], x["other_items"]) for x in c["cases"]] == [
        ("SJ-2", ["扣押"], [], 0), ("SJ-5", ["送达"], [], 1)]
    assert (c["missing_activities"], c["by_activity_type"]) == (2, {"扣押": 1, "送达": 1})

    assert s["tiers"] == {"routine": 10, "case": 1, "permanent": 1}
    f = s["flags"]
    assert (f["important"], f["flagged"], f["by_flag"], f["confidential"]) == (
        1, 1, {"complaint": 1, "obstruction": 1}, {"personal-privacy": 1})
    assert [i["id"] for i in f["items"]] == [ids["v4"]]

    cf = s["check_failures"]
    assert {k: cf[k] for k in statistics.PROBLEM_KEYS} == {
        "attention": 3, "pending_metadata": 1, "format_damaged": 1, "consistency_fail": 1,
        "written_record_fail": 1, "virus_not_clean": 1, "virus_not_recorded": 1,
        "device_faulty": 1, "verification_failed": 1}
    assert cf["items_with_problems"] == 7
    by_id = {r["id"]: r["problems"] for r in cf["items"]}
    assert by_id[ids["a1"]] == ["attention", "consistency_fail", "verification_failed"]
    assert by_id[ids["b2a"]] == ["virus_not_clean"]
    assert by_id[ids["c1b"]] == ["virus_not_recorded"]
    assert ids["v1"] not in by_id

    v = s["verification"]
    assert (v["available"], v["inspections"], v["conduct_checks"]) == (True, 0, 0)


def test_one_unit(filled_catalog):
    catalog, ids = filled_catalog
    s = statistics.yearly_statistics(catalog, 2026, SH, unit="urban-001",
                                     required_activity_types=["扣押", "询问"])
    assert (s["totals"]["items"], s["totals"]["hours"]) == (3, 3.0)
    assert list(s["by_unit"]) == ["urban-001"] and list(s["by_officer"]) == ["P002"]
    assert [a["activity_id"] for a in s["interrupted"]["activities"]] == ["B2"]
    assert s["late_offloads"]["total"] == 0
    assert (s["sequence_gaps"]["devices_checked"], s["sequence_gaps"]["total_missing"]) == (1, 1)
    c = s["unrecorded_cases"]
    assert (c["considered"], c["requiring_recording"], c["total"]) == (1, 1, 0)
    assert s["required_activity_types"] == ["扣押", "询问"]
    assert s["tiers"] == {"routine": 2, "case": 1, "permanent": 0}


def test_year_follows_each_units_zone(filled_catalog):
    catalog, ids = filled_catalog
    got = {i.id for i in years.year_items(catalog, 2026, SH,
                                               unit_zones={"market-001": ZoneInfo("UTC")})}
    # read in UTC, v4 (2025-12-31 17:30Z) is 2025 and v5 (2026-12-31 17:00Z) is 2026
    assert ids["v5"] in got and ids["v4"] not in got
    assert ids["b2a"] in got and ids["v6"] not in got
    assert len(got) == 12
    assert {i.id for i in years.year_items(catalog, 2027, SH)} == {ids["v5"]}
    assert years.year_items(catalog, 2024, SH) == []


def test_empty_registers(catalog, monkeypatch):
    s = statistics.yearly_statistics(catalog, 2026, SH)
    assert s["totals"]["items"] == 0 and s["by_unit"] == {} and s["by_device"] == {}
    assert s["unrecorded_cases"]["register_available"] is True
    assert s["unrecorded_cases"]["register_size"] == 0
    assert s["sequence_gaps"] == {"devices_checked": 0, "total_missing": 0, "devices": []}
    assert "案件登记簿为空" in report_html.render_html(s)  # an empty year still renders

    # a catalog that does not know a collection yet (as before the inspection ledger existed)
    real = catalog.list_records

    def older_catalog(collection: str, **equal):
        if collection in ("inspections", "cases"):
            raise InputError(f"no collection {collection!r}")
        return real(collection, **equal)

    monkeypatch.setattr(catalog, "list_records", older_catalog)
    s = statistics.yearly_statistics(catalog, 2026, SH)
    assert s["verification"]["available"] is False
    assert s["unrecorded_cases"]["register_available"] is False
    assert "检查台帐（抽样机读检验记录）尚未建立" in report_html.render_html(s)


def test_inspection_ledger(filled_catalog):
    catalog, ids = filled_catalog
    # the record shapes archive.verification files (sampled runs and conduct spot checks)
    for doc in (
            {"id": "I1", "type": "sampled-verification", "at": "2026-05-01T02:00:00Z",
             "by": "A1", "results": [
                 {"item": ids["v1"], "ok": True, "problems": []},
                 {"item": ids["a1"], "ok": False, "problems": [
                     {"code": "digest-mismatch", "message": "m", "action": "a"},
                     {"code": "lock-too-short", "message": "m", "action": "a"}]},
                 {"item": ids["b2a"], "ok": True, "problems": []}]},
            # 23:00 on 31 December 2025 in Shanghai, 00:30 on 1 January 2027: other years
            {"id": "I0", "type": "sampled-verification", "at": "2025-12-31T15:00:00Z",
             "results": [{"item": ids["v1"], "ok": False,
                          "problems": [{"code": "lock-missing"}]}]},
            {"id": "I2", "type": "sampled-verification", "at": "2026-12-31T16:30:00Z",
             "results": [{"item": ids["v1"], "ok": False,
                          "problems": [{"code": "lock-missing"}]}]},
            {"id": "C1", "type": "conduct-check", "at": "2026-06-01T02:00:00Z",
             "unit": "market-001", "officers": ["P001"], "items": [ids["v1"]],
             "finding": "interrupted", "finding_zh": "中断未说明"},
            {"id": "C2", "type": "conduct-check", "at": "2026-07-01T02:00:00Z",
             "unit": "urban-001", "officers": ["P002"], "items": [ids["b2a"]],
             "finding": "no-notice", "finding_zh": "未事先告知当事人"}):
        catalog.put_record("inspections", doc["id"], doc)
    v = statistics.yearly_statistics(catalog, 2026, SH)["verification"]
    assert (v["available"], v["inspections"], v["items_checked"], v["passed"], v["failed"],
            v["conduct_checks"]) == (True, 1, 3, 2, 1, 2)
    assert v["by_problem"] == {"digest-mismatch": 1, "lock-too-short": 1}
    assert v["failures"] == [{"inspection": "I1", "at": "2026-05-01T02:00:00Z",
                              "item_id": ids["a1"],
                              "problems": ["digest-mismatch", "lock-too-short"]}]
    assert v["conduct_by_finding"] == {"中断未说明": 1, "未事先告知当事人": 1}
    assert v["conduct_by_officer"] == {"P001": 1, "P002": 1}
    v = statistics.yearly_statistics(catalog, 2026, SH, unit="urban-001")["verification"]
    assert (v["inspections"], v["items_checked"], v["failed"], v["conduct_checks"]) == (
        1, 2, 1, 1)
    v = statistics.yearly_statistics(catalog, 2026, SH, unit="culture-001")["verification"]
    assert (v["inspections"], v["items_checked"], v["conduct_checks"]) == (0, 0, 0)
    page = report_html.render_html(statistics.yearly_statistics(catalog, 2026, SH))
    assert "抽样机读检验 1 次，检验条目 3 个，合格 2 个，不合格 1 个；回放检查 2 次" in page


def test_unrecorded_activities_are_found_per_activity_of_the_case(catalog):
    """应录未录: a case with a recorded 询问 but no recording of its 扣押 and 送达 reports
    both; a recording without an activity type proves no particular activity."""
    mk = "market-001"
    catalog.add_item(_item(start=utc(2026, 5, 1, 1), unit=mk, case_id="SJ-7",
                           activity_type="询问"))
    catalog.add_item(_item(kind="photo", start=utc(2026, 5, 1, 2), minutes=0, unit=mk,
                           case_id="SJ-7"))
    catalog.add_item(_item(kind="document", start=None, unit=mk, device_id=None,
                           case_id="SJ-7", activity_type="扣押",
                           extra={"document_type": "扣押决定书"}))
    for cid, unit, acts in (("SJ-7", mk, "询问;扣押;送达"), ("CG-2", "urban-001", ["扣押", "查封"]),
                            ("SJ-8", mk, ["日常巡查"])):
        catalog.put_record("cases", cid, {"id": cid, "unit": unit, "opened": "2026-04-30",
                                          "closed": None, "activities": acts})
    c = statistics.yearly_statistics(catalog, 2026, SH)["unrecorded_cases"]
    rows = sorted((x["id"], x["missing"], x["recorded"], x["untyped_recordings"],
                   x["other_items"]) for x in c["cases"])
    assert rows == [("CG-2", ["扣押", "查封"], [], 0, 0),
                    ("SJ-7", ["扣押", "送达"], ["询问"], 1, 1)]
    assert (c["considered"], c["requiring_recording"], c["total"], c["missing_activities"]) \
        == (3, 2, 2, 4)
    assert c["by_activity_type"] == {"扣押": 2, "查封": 1, "送达": 1}
    # a unit that names its own activity types to be recorded
    c = statistics.yearly_statistics(catalog, 2026, SH,
                                     unit_required={"urban-001": ["查封"]})["unrecorded_cases"]
    assert [x["missing"] for x in c["cases"] if x["id"] == "CG-2"] == [["查封"]]


def test_year_gaps_read_what_the_device_register_settled(catalog):
    """The statistics read the gaps ingest keeps per year in the register, so a gap of last
    year is not this year's; an entry from before years were kept falls back on the year's
    own items."""
    from ingest import devices

    catalog.put_record("devices", "D", {"id": "D", "sequences": []})
    for year, seqs in ((2025, [1, 2, 4]), (2026, [5, 6, 9])):
        devices.note_batch(catalog, "D", [(n, year) for n in seqs])
    doc = catalog.get_record("devices", "D")
    assert statistics.year_gaps(doc, 2025) == ([3], 3)
    assert statistics.year_gaps(doc, 2026) == ([7, 8], 3)
    assert statistics.year_gaps(doc, 2024) == ([], 0)
    assert statistics.year_gaps({"sequences": [1, 9]}, 2026, [4, 7, 5]) == ([6], 3)


def test_renderings(tmp_path):
    with sqlite_catalog(tmp_path) as cat:
        fill(cat)
        s = statistics.yearly_statistics(cat, 2026, SH, unit_names={"market-001": "执法大队"})
    page = report_html.render_html(s)
    for heading in ("统计分析报告", "按单位", "按执法人员", "按设备", "逾期上传",
                    "中断录像与工作记录", "设备序号缺失", "应录未录案件", "标记与保管层级",
                    "检查问题", "抽检结果"):
        assert f">{heading}<" in page, heading
    assert page.count('src="data:image/png;base64,') == 4
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert "执法大队（market-001）" in page and "SJ-2" in page and "3, 4" in page
    assert "抽样机读检验 0 次" in page

    rows = list(csv.DictReader(io.StringIO(report_html.render_csv(s))))
    figure = {(r["section"], r["subject"], r["activity_type"], r["metric"]): r["value"]
              for r in rows}
    assert figure[("unit", "market-001", "", "hours")] == "2.5"
    assert figure[("officer", "P001", "", "as_assisting")] == "1"
    assert figure[("unit", "urban-001", "扣押", "hours")] == "1.5"
    assert figure[("sequence_gaps", "DSJ-0001", "", "missing")] == "3 4"
    assert figure[("check_failures", "", "", "format_damaged")] == "1"
    assert figure[("verification", "", "", "available")] == "True"

    tables = report_html.table_sections(s)
    assert [t[0].split(" ")[0] for t in tables][:4] == ["统计分析报告", "按单位",
                                                           "按执法人员", "按设备"]
    assert len(tables[1][2]) == 3


def test_charts_without_a_cjk_font(tmp_path, monkeypatch):
    with sqlite_catalog(tmp_path) as cat:
        fill(cat)
        s = statistics.yearly_statistics(cat, 2026, SH)
    monkeypatch.setattr(report_html, "cjk_font", lambda: None)
    assert report_html._label("扣押", False) == "seizure"
    assert report_html._label("王五 A", False) == "A"
    assert len(report_html.charts(s)) == 4


# --- the command line -----------------------------------------------------------------------
@pytest.fixture
def cli_archive(env):  # noqa: F811
    run("init")
    s = settings.load()
    archive = bootstrap.open_archive(s)
    actor = people.acting_person(archive.catalog)
    until = datetime.now(timezone.utc) + timedelta(days=10)
    t0 = utc(2026, 3, 15, 1)
    rows = [("market-001", "D1", ["P1"], 0, 30, "A1", {"deadline": {"late": True}}),
            ("market-001", "D1", ["P1"], 40, 20, "A1", {}),
            ("urban-001", "D2", ["P2"], 60, 60, None, {"format": {"damaged": True}})]
    for unit, dev, officers, offset, minutes, activity, checks in rows:
        d = Description(kind="video", unit=unit, device_id=dev, officers=officers,
                        recorded_start=t0 + timedelta(minutes=offset),
                        recorded_end=t0 + timedelta(minutes=offset + minutes),
                        activity_id=activity, activity_type="询问" if activity else None)
        archive.archive_stream([os.urandom(3000)], d, actor, until,
                               checks=checks | {"virus": CLEAN},
                               status="attention" if "format" in checks else None)
    archive.catalog.put_record("cases", "SJ-9", {"id": "SJ-9", "unit": "market-001",
                                                 "opened": "2026-03-01", "closed": None,
                                                 "activities": ["扣押"]})
    archive.finish_command()
    archive.catalog.close()
    return env


def test_report_json(cli_archive):
    out = run_json("report", "--year", "2026")
    assert out["zone"] == "Asia/Shanghai" and out["generated_at"]
    assert (out["totals"]["items"], out["totals"]["hours"]) == (3, 1.83)
    assert {u: v["hours"] for u, v in out["by_unit"].items()} == {"market-001": 0.83,
                                                                   "urban-001": 1.0}
    assert out["unit_names"]["market-001"] == "市场监督管理局执法大队"
    assert out["late_offloads"]["total"] == 1
    assert [a["activity_id"] for a in out["interrupted"]["activities"]] == ["A1"]
    assert [c["id"] for c in out["unrecorded_cases"]["cases"]] == ["SJ-9"]
    assert out["check_failures"]["format_damaged"] == 1
    assert out["verification"]["available"] is True
    same = json.loads(run("report", "--year", "2026", "--format", "json").stdout)
    assert same["totals"] == out["totals"]
    one = run_json("report", "--year", "2026", "--unit", "urban-001")
    assert one["totals"]["items"] == 1 and list(one["by_officer"]) == ["P2"]
    assert run_json("report", "--year", "2025")["totals"]["items"] == 0


def test_report_table_csv_html(cli_archive, tmp_path):
    table = run("report", "--year", "2026").stdout
    assert "统计分析报告" in table and "按执法人员" in table and "market-001" in table
    text = run("report", "--year", "2026", "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {(r["subject"], r["value"]) for r in rows
            if r["section"] == "unit" and r["metric"] == "items"
            and not r["activity_type"]} == {("market-001", "2"), ("urban-001", "1")}
    out = tmp_path / "r.csv"
    run("report", "--year", "2026", "--format", "csv", "--out", str(out))
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel reads the Chinese as UTF-8
    page = run("report", "--year", "2026", "--format", "html").stdout
    assert page.startswith("<!DOCTYPE html>") and "统计分析报告" in page
    out = tmp_path / "r.html"
    msg = run("report", "--year", "2026", "--unit", "market-001", "--format", "html",
              "--out", str(out)).stdout
    assert str(out) in msg
    assert "市场监督管理局执法大队（market-001）" in out.read_text("utf-8")


def test_report_bad_input(cli_archive):
    assert "no unit" in run("report", "--year", "2026", "--unit", "nowhere", code=2).stderr
    assert run_json("report", "--year", "2026", "--unit", "nowhere",
                    code=2)["error"] == "bad-input"
    run("report", code=2)  # --year is required
    run("report", "--year", "2026", "--format", "pdf", code=2)


# --- the HTML in a real browser -------------------------------------------------------------
def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_html_renders_in_headless_chromium(tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed (scripts/install-test.sh installs it)")
    import numpy as np
    from matplotlib.image import imread

    with sqlite_catalog(tmp_path) as cat:
        fill(cat)
        s = statistics.yearly_statistics(cat, 2026, SH)
    page = tmp_path / "report.html"
    page.write_text(report_html.render_html(s), "utf-8")
    shot = tmp_path / "shot.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
                    "--window-size=1200,2000", page.as_uri()],
                   check=True, capture_output=True, timeout=60)
    img = imread(shot)[..., :3]
    assert img.shape[:2] == (2000, 1200)
    pixels = (img.reshape(-1, 3) * 255).round().astype(np.uint8)
    non_white = (pixels.min(axis=1) < 240).mean()
    assert non_white > 0.02, f"only {non_white:.2%} of the screenshot is not white"
    assert len(np.unique(pixels, axis=0)) > 50  # text, tables and charts, not a flat page
    # the charts' bar colour (#2f6f9f) shows the inline PNG charts were decoded and drawn
    bar = np.abs(pixels.astype(int) - [0x2F, 0x6F, 0x9F]).max(axis=1) <= 6
    assert bar.sum() > 2000
