"""移交清单, 电子档案移交与接收登记表 and 光盘标签 issued on the document engine from a real
transfer and disc, printed again byte for byte; 销毁清册 (with 鉴定意见) rendered with
realistic Chinese data: every character a glyph, nothing out of its cell."""

from __future__ import annotations

import os
import subprocess
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from archive import people
from archive.catalog.sqlite import SQLiteCatalog
from archive.domain.model import Description
from archive.integrity.signing import SigningKey
from archive.worm.local import LocalWormStore
from config import settings as settings_mod
from documents import issue, render
from retention import discs, transfer
from tests.support import documents as docs
from tests.support.archives import make_archive
from tests.support.cycle import SH, archivist, policy
from tests.support.worm import release_all_for_tests

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)  # 10:00 in Beijing


def _text(pdf: bytes) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.pdf"
        path.write_bytes(pdf)
        return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                              text=True, check=True).stdout


def _missing(pdf: bytes) -> set[str]:
    """Characters drawn without a glyph. ASCII digits are left out: a digit drawn only
    through an OpenType feature (tabular figures in number cells) is absent from the subset's
    character map although its glyph is there (looked at in the pages), and Latin digits are
    in every font; the CJK and rare characters are what can turn into empty boxes."""
    return {c for c in docs.missing_glyphs(pdf, _text(pdf)) if not c.isdigit()}


@pytest.fixture
def year(tmp_path):
    cat = SQLiteCatalog(tmp_path / "catalog.sqlite")
    setup = make_archive(tmp_path, cat, LocalWormStore(tmp_path / "worm"))
    a1, a2 = archivist(setup, "ARC1"), archivist(setup, "ARC2")
    people.register(setup.catalog, "P1001", "张𠮷祥", "acct-P1001", ["officer"],
                    SigningKey.generate(tmp_path / "p.key"))
    for n in range(3):
        start = datetime(2025, 5, 1, 9, tzinfo=SH) + timedelta(hours=n)
        item = setup.archive.archive_stream([os.urandom(2000)], Description(
            kind="video", unit="market-001", device_id="DSJ-0101", officers=["P1001"],
            recorded_start=start, recorded_end=start + timedelta(minutes=5),
            party="某某市䶮𠮷食品贸易有限责任公司", cause="销售过期食品",
            activity_type="现场勘验", confidential="commercial-secret" if n == 2 else None),
            setup.actor, datetime.now(timezone.utc) + timedelta(days=30)).item
        item.tier = "permanent"
        setup.catalog.save_state(item)
    s = settings_mod.load(None, tmp_path / "home")
    yield setup, a1, a2, s, tmp_path
    cat.close()
    release_all_for_tests(tmp_path)


def test_handover_papers_and_disc_label_are_issued_and_kept(year):
    setup, a1, a2, s, tmp = year
    rec = transfer.prepare(setup.archive, a1, policy(), 2025, tmp / "out", NOW)
    before = issue.issue(setup.archive, a1, s, "handover-form", rec["id"],
                         keys_dir=tmp / "keys")
    assert "尚未接收" in _text(before["pdf"])
    transfer.accept(setup.archive, a2, 2025, NOW)
    listing = issue.issue(setup.archive, a1, s, "handover-list", rec["id"],
                          keys_dir=tmp / "keys")
    text = _text(listing["pdf"])
    flat = text.replace("\n", "").replace(" ", "")
    for words in ("电子档案移交清单", "档案员ARC1（ARC1）", "2026-03-0210:00:00",
                  "张𠮷祥", "䶮𠮷食品", "***", "移交人", "盖章"):
        assert words in flat, words
    assert "2026-03-02T" not in text and "None" not in text
    again = issue.reprint(setup.archive, a2, s, "handover-list", rec["id"],
                          keys_dir=tmp / "keys")
    assert again["pdf"] == listing["pdf"] and not again["new"]
    # the form issued before acceptance stays as issued; this one is of the accepted transfer
    assert issue.reprint(setup.archive, a1, s, "handover-form", rec["id"],
                         keys_dir=tmp / "keys")["pdf"] == before["pdf"]
    out = discs.build(setup.archive, a1, policy(), "permanent", 2025, 10**8, tmp / "d", NOW)
    label = issue.issue(setup.archive, a1, s, "disc-label", out["discs"][0]["id"],
                        keys_dir=tmp / "keys")
    ltext = _text(label["pdf"])
    assert "光盘编号" in ltext and out["discs"][0]["id"] in ltext and "视频 3" in ltext
    assert docs.layout_problems(label["pdf"]) == []
    for name, pdf in (("list", listing["pdf"]), ("form", before["pdf"]),
                      ("label", label["pdf"])):
        if os.environ.get("CUSTODY_DOC_PNG"):
            docs.to_png(pdf, Path(os.environ["CUSTODY_DOC_PNG"]) / name)
        assert _missing(pdf) == set(), name


def _realistic(kind: str, n: int) -> dict:
    items = [{"n": i, "id": f"0197a3b2-{i:04d}-7000-8000-000000000000",
              "archive_code": f"J001-2025-Y-market-001-{i:05d}",
              "title": f"2025年5月{1 + i % 28}日 张𠮷祥、刘䶮等 现场勘验 {docs.UNIT_NAME} "
                       f"销售过期食品 执法记录仪视频（{i}/{n}）",
              "file": f"电子档案/J001-2025-Y-market-001-{i:05d}.mp4", "kind": "video",
              "unit": {"id": "market-001", "name": docs.UNIT_NAME}, "size": 1_234_567_890 + i,
              "sha256": f"{i:02x}" * 32, "sm3": f"{i + 1:02x}" * 32,
              "findings": ["ingest-time-inconsistent"] if i % 7 == 0 else [],
              "decision": "destroyed", "at": docs.T0} for i in range(1, n + 1)]
    person = docs.PEOPLE
    if kind == "handover_list":
        return {"unit": None, "transfer": "2025-01", "year": 2025, "number": 1, "fonds": "J001",
                "prepared_at": docs.T0, "prepared_by": person[0], "items": items,
                "withheld": [{"item": items[0], "reasons": ["pending-metadata"]}],
                "bytes": sum(i["size"] for i in items), "manifest_sha256": "ab" * 32}
    if kind == "disc_readme":
        return {"disc": "J001-GP-0001", "tier": "permanent", "year": 2025,
                "first_code": items[0]["archive_code"], "last_code": items[-2]["archive_code"],
                "items": n, "uncoded": 1, "kinds": {"video": n - 2, "photo": 2},
                "bytes": sum(i["size"] for i in items), "written_at": docs.T0,
                "written_by": person[0],
                "files": [{"n": i["n"], "id": i["id"],
                           "archive_code": None if i["n"] == n else i["archive_code"],
                           "file": f"records/{i['archive_code']}.mp4", "kind": "video",
                           "size": i["size"], "sha256": i["sha256"], "sm3": i["sm3"]}
                          for i in items]}
    if kind == "appraisal_opinion":
        rows = [it | {"tier": "routine", "retain_until": docs.T0,
                      "decision": ("destroy", "rejected", "taken-out")[i % 3],
                      "reason": None if i % 3 == 0 else f"涉及{docs.PARTY}未结行政复议，需继续保存",
                      "by": None if i % 3 == 0 else person[1 + i % 2]}
                for i, it in enumerate(items)]
        return {"unit": None, "list": "D0197a3b2-0000-7000-8000-000000000009",
                "state": "approved", "proposed_by": person[0], "proposed_at": docs.T0,
                "appraisers_needed": 2,
                "appraisals": [{"by": p, "at": docs.T0, "decision": "approve",
                                "note": "保管期限已满，经逐件鉴定无继续保存价值", "rejected": 3}
                               for p in person[1:5]],
                "items": rows, "to_destroy": sum(r["decision"] == "destroy" for r in rows),
                "kept": sum(r["decision"] != "destroy" for r in rows), "items_hash": "ef" * 32}
    return {"unit": None, "list": "D0197a3b2-0000-7000-8000-000000000009",
            "proposed_by": person[0], "proposed_at": docs.T0,
            "appraisals": [{"by": p, "decision": "approve", "note": "保管期限已满，无继续保存价值",
                            "rejected": 1} for p in person[1:3]],
            "witnesses": person[3:5], "executed_by": person[:1], "destroyed_at": [docs.T0],
            "items": items, "kept": [{"item": items[1], "reason": "涉及未结行政复议",
                                      "by": person[1]}],
            "registers": ["registers/destruction/D0197-01.json"]}


@pytest.mark.parametrize("kind,title", [("handover_list", "电子档案移交清单"),
                                        ("disposal_register", "电子档案销毁清册"),
                                        ("appraisal_opinion", "电子档案鉴定意见"),
                                        ("disc_readme", "盘内说明")])
def test_papers_with_realistic_data_fit_their_cells(kind, title, tmp_path):
    rec = docs.record(kind, _realistic(kind, 30), True, title)
    pdf = render.html_to_pdf(render.render_html(rec, f"{kind}.html"), rec)
    text = _text(pdf)
    assert _missing(pdf) == set()
    assert docs.layout_problems(pdf) == []
    assert 2 <= docs.page_count(pdf) <= 10
    flat = text.replace("\n", "").replace(" ", "")
    assert "J001-2025-Y-market-001-00030" in flat and "签名" in flat
    if os.environ.get("CUSTODY_DOC_PNG"):  # to look at the pages: CUSTODY_DOC_PNG=folder
        docs.to_png(pdf, Path(os.environ["CUSTODY_DOC_PNG"]) / kind)
