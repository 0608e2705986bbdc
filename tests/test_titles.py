"""题名 and 档号 on every item, and what search and show read to people: Chinese names, people by
name with their id, units by configured name, times in the unit's zone; masked titles."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from archive import people
from archive.access import lookup
from archive.access.masking import mask_description, mask_item, mask_show, mask_summary
from archive.catalog.base import Query
from archive.domain.model import Description, Item, MetadataVersion, dedupe_key, item_summary
from archive.domain.names import View, local_time, person_label, zone_label
from archive.domain.titles import compose_title, masked_title, retitled, with_title
from archive.integrity.signing import SigningKey
from ingest.completion import complete
from retention.codes import Wanted, assign_codes
from tests.support.builders import digests
from tests.support.corpus import make_mp4, make_pdf
from tests.support.ingesting import env, ingest_folder  # noqa: F401  (env: a fixture)

SH = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 3, 15, 9, 30, tzinfo=SH)  # 01:30 UTC: the date is the local one
NONE: frozenset[str] = frozenset()


def _desc(**kw) -> Description:
    base = dict(kind="video", unit="market-001", device_id="DSJ-0101", officers=["P1001"],
                recorded_start=START, recorded_end=START + timedelta(minutes=3),
                activity_type="现场勘验", party="王五", cause="无照经营",
                confidential="personal-privacy", extra={"segment": "2/3"})
    return Description(**(base | kw))


def _item(desc: Description, status: str = "archived") -> Item:
    d = digests("t")
    v = MetadataVersion("i-1", 1, desc, d, datetime(2026, 3, 16, tzinfo=timezone.utc), "P0",
                        "ingest")
    return Item("i-1", d.sha256, v, datetime(2026, 3, 16, tzinfo=timezone.utc), status=status)


def test_composed_title_reads_as_a_register_line():
    title = compose_title(_desc(), SH, {"P1001": "张警官"})
    assert title == "2026年3月15日 张警官 现场勘验 王五 无照经营 执法记录仪视频（2/3）"
    # the date is the unit's: 23:30 UTC on the 14th is the 15th in Beijing
    late = _desc(recorded_start=datetime(2026, 3, 14, 23, 30, tzinfo=timezone.utc),
                 recorded_end=None, extra={})
    assert compose_title(late, SH, {}).startswith("2026年3月15日 P1001 ")
    doc = _desc(kind="document", device_id=None, extra={"document_type": "询问笔录"},
                recorded_start=None, recorded_end=None, officers=[])
    assert compose_title(doc, SH) == "现场勘验 王五 无照经营 询问笔录"


def test_title_is_signed_only_when_set_and_does_not_make_another_item():
    plain = _desc()
    assert "title" not in plain.to_dict() and "title_composed" not in plain.to_dict()
    titled = with_title(plain, None, SH, {"P1001": "张警官"})
    assert titled.title_composed and titled.to_dict()["title"].endswith("（2/3）")
    # an item stored before titles existed and its copy offloaded since are one item
    assert dedupe_key("a" * 64, plain) == dedupe_key("a" * 64, titled)
    back = Description.from_dict(json.loads(json.dumps(titled.to_dict())))
    assert back == titled
    given = with_title(plain, "  王五无照经营案现场检查录像 ", SH)
    assert given.title == "王五无照经营案现场检查录像" and not given.title_composed
    # a correction recomposes a composed title, never a given one
    assert "李四" in retitled(Description.from_dict(titled.to_dict() | {"party": "李四"})).title
    assert retitled(given).title == given.title


def test_a_title_is_as_confidential_as_its_party_and_cause():
    composed = with_title(_desc(), None, SH, {"P1001": "张警官"})
    d = composed.to_dict()
    assert masked_title(d) == "2026年3月15日 张警官 现场勘验 *** *** 执法记录仪视频（2/3）"
    assert masked_title(with_title(_desc(), "王五无照经营现场", SH).to_dict()) == "***"
    for shown in (mask_description(d, NONE), mask_item(_item(composed), NONE).description.to_dict(),
                  mask_summary(item_summary(_item(composed)), _item(composed), NONE)):
        text = json.dumps(shown, ensure_ascii=False)
        assert "王五" not in text and "无照经营" not in text and "张警官" in text
    cleared = frozenset({"personal-privacy"})
    assert "王五" in mask_description(d, cleared)["title"]
    show = {"description": d, "versions": [{"manifest": {"description": d}}], "retention": {},
            "events": []}
    assert "王五" not in json.dumps(mask_show(show, NONE), ensure_ascii=False)


def test_names_times_and_zones_people_read():
    assert local_time("2025-06-18T06:00:00Z", SH) == "2025-06-18 14:00:00"
    assert zone_label(SH) == "北京时间（Asia/Shanghai）"
    assert person_label("P1001", "张警官") == "张警官（P1001）"
    assert person_label("P9", None) == "P9"
    view = View(zone_of=lambda unit: SH, unit_names={"market-001": "市场监督管理局执法大队"})
    assert view.unit("market-001") == "市场监督管理局执法大队" and view.unit("x") == "x"


def _register(setup, pid: str, name: str, tmp_path) -> None:
    people.register(setup.catalog, pid, name, f"acct-{pid}", ["officer"],
                    SigningKey.generate(tmp_path / f"{pid}.key"))


def test_ingest_stores_the_title_search_and_show_read_it(env, tmp_path):  # noqa: F811
    setup, s, _, _ = env
    _register(setup, "P1001", "张警官", tmp_path)
    _register(setup, "P3001", "䶮协管", tmp_path)
    root = tmp_path / "offload"
    root.mkdir()
    utc = START.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    make_mp4(root / "a.mp4", 1, creation_time=utc)
    make_pdf(root / "b.pdf")
    make_mp4(root / "c.mp4", 2)
    end = (START + timedelta(seconds=1)).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = [{"file": "a.mp4", "unit": "market-001", "device_id": "DSJ-0101",
             "officer_id": "P1001;+P3001", "party": "王五", "cause": "无照经营",
             "activity_type": "现场勘验", "segment": "2/3", "confidential": "个人隐私",
             "recorded_start": utc, "recorded_end": end},
            {"file": "b.pdf", "kind": "document", "unit": "market-001",
             "title": "王五无照经营案询问笔录", "document_type": "询问笔录",
             "confidential": "个人隐私"},
            {"file": "c.mp4", "segment": "3/2"}]
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    report = ingest_folder(env, root, manifest)
    by = {f.file: f for f in report.files}
    assert by["a.mp4"].state == "archived", by["a.mp4"].reasons
    assert by["a.mp4"].to_dict()["state_zh"] == "已入库"  # not 已归档: no 档号 yet
    video = setup.catalog.get_item(by["a.mp4"].item_id)
    assert video.description.title == ("2026年3月15日 张警官 现场勘验 王五 无照经营 "
                                       "执法记录仪视频（2/3）")
    assert video.description.title_composed
    assert setup.archive.show(video.id)["signature_valid"]
    doc = setup.catalog.get_item(by["b.pdf"].item_id)
    assert doc.description.title == "王五无照经营案询问笔录" and not doc.description.title_composed
    assert any("segment" in r["message"] for r in by["c.mp4"].reasons)
    pending = setup.catalog.get_item(by["c.mp4"].item_id)
    assert pending.status == "pending-metadata" and pending.description.title_composed

    # once archived its 档号 is on the row, with what people read beside the codes
    assign_codes(setup.archive, setup.actor, [Wanted(video, "permanent")], "J001", 2026, 5,
                 datetime.now(timezone.utc))
    view = View(zone_of=s.unit_zone, unit_names={"market-001": "市场监督管理局执法大队"})
    page = lookup.search_items(setup.archive, frozenset(CLEARED), Query(unit="market-001"),
                               view=view)
    row = next(r for r in page["items"] if r["id"] == video.id)
    assert row["archive_code"].startswith("J001-2026-") and row["archive_code"].endswith(
        "-market-001-00001")
    assert row["zh"]["status"] == "已归档" and row["zh"]["kind"] == "视频"
    assert row["zh"]["officers"] == ["张警官（P1001）"]
    assert row["zh"]["unit"] == "市场监督管理局执法大队"
    assert row["zh"]["recorded_start"] == "2026-03-15 09:30:00"
    assert row["recorded_start"] == "2026-03-15T01:30:00Z"  # JSON keeps ISO 8601 in UTC
    assert page["zone"] == "北京时间（Asia/Shanghai）"
    other = next(r for r in page["items"] if r["id"] == doc.id)
    assert other["archive_code"] is None and other["zh"]["status"] == "已入库"

    shown = lookup.show_item(setup.archive, NONE, video.id, view=view)
    assert shown["archive_code"] == row["archive_code"]
    assert shown["zh"]["assisting"] == ["䶮协管（P3001）"]
    for out in (shown, lookup.search_items(setup.archive, NONE, Query(), view=view)):
        text = json.dumps(out, ensure_ascii=False)
        assert "王五" not in text and "无照经营" not in text, text
    assert "张警官" in shown["title"]
    assert lookup.show_item(setup.archive, NONE, doc.id, view=view)["title"] == "***"

    # a completion of the pending item composes its title again from the new fields
    fix = tmp_path / "fix.csv"
    fix.write_text("file,unit,device_id,officer_id,party,cause\n"
                   "c.mp4,market-001,DSJ-9,P1001,张三,占道经营\n", encoding="utf-8")
    assert complete(setup.archive, s, setup.actor, fix)["problems"] == []
    done = setup.catalog.get_item(by["c.mp4"].item_id)
    assert "张三 占道经营" in done.description.title and "张警官" in done.description.title


CLEARED = ("personal-privacy",)


def test_an_item_stored_before_titles_has_one_composed_on_read(env, tmp_path):  # noqa: F811
    setup, s, _, _ = env
    desc = _desc()  # no title, as every version signed before this change
    setup.archive.archive_stream([b"old bytes"], desc, setup.actor,
                                 datetime(2027, 1, 1, tzinfo=timezone.utc))
    item = next(iter(setup.catalog.iter_items(Query())))
    assert item.description.title is None
    view = View(zone_of=s.unit_zone)
    shown = lookup.show_item(setup.archive, frozenset(CLEARED), item.id, view=view)
    assert shown["title"] == "2026年3月15日 P1001 现场勘验 王五 无照经营 执法记录仪视频（2/3）"
    assert shown["signature_valid"]
    hidden = lookup.search_items(setup.archive, NONE, Query(), view=view)["items"][0]
    assert hidden["title"] == "2026年3月15日 P1001 现场勘验 *** *** 执法记录仪视频（2/3）"
