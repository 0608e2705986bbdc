"""The handover package modelled on DA/T 93-2022 (说明文件, 文件目录 XML valid against our
schema, records under 电子档案/ named by 档号 with their real extension, still a valid BagIt
bag), checked by the receiver from a second home holding only the archive's public key, and
the check recorded by `transfer accept`."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import bagit
import pytest
from lxml import etree

from archive import people
from archive.catalog.sqlite import SQLiteCatalog
from archive.domain.errors import ProblemFound
from archive.domain.model import Description
from archive.integrity.signing import SigningKey, public_pem
from archive.worm.local import LocalWormStore
from retention import handover, transfer
from retention.codes import Wanted, assign_codes
from tests.support.archives import make_archive
from tests.support.cli import run, run_json
from tests.support.corpus import make_image, make_mp4, make_pdf
from tests.support.cycle import SH, archivist, policy
from tests.support.worm import release_all_for_tests

NOW = datetime.now(timezone.utc)
NS = {"c": handover.CATALOG_NS}


@pytest.fixture
def package(tmp_path):
    cat = SQLiteCatalog(tmp_path / "catalog.sqlite")
    setup = make_archive(tmp_path, cat, LocalWormStore(tmp_path / "worm"))
    a1, a2 = archivist(setup, "ARC1"), archivist(setup, "ARC2")
    people.register(setup.catalog, "P1001", "张警官", "acct-P1001", ["officer"],
                    SigningKey.generate(tmp_path / "p1001.key"))
    until = NOW + timedelta(days=30)
    start = datetime(2025, 5, 1, 9, tzinfo=SH)
    common = {"unit": "market-001", "officers": ["P1001"], "recorded_start": start,
              "recorded_end": start + timedelta(seconds=1), "party": "某某食品有限公司",
              "cause": "销售过期食品", "activity_type": "现场勘验"}
    media = tmp_path / "media"
    media.mkdir()
    video = setup.archive.archive_stream(
        [make_mp4(media / "v.mp4", 1, creation_time="2025-05-01T01:00:00Z").read_bytes()],
        Description(kind="video", device_id="DSJ-0101", title="现场检查录像（1/2）",
                    **common), setup.actor, until,
        checks={"format": {"extension": "mp4", "extension_matches": True,
                           "mime": "video/mp4"}}).item
    photo = setup.archive.archive_stream(
        [make_image(media / "p.jpg").read_bytes()],
        Description(kind="photo", device_id="DSJ-0101", source={"original_name": "现场照片.JPG"},
                    **common), setup.actor, until).item
    scan = setup.archive.archive_stream(
        [make_pdf(media / "d.pdf").read_bytes()],
        Description(kind="document", unit="market-001", party="某某食品有限公司",
                    recorded_start=start, extra={"document_type": "询问笔录"}), setup.actor, until,
        checks={"format": {"extension": "", "extension_matches": None,
                           "mime": "application/pdf"}}).item
    # one record already coded (a late item of a year archived before): named by its 档号
    code = assign_codes(setup.archive, a1, [Wanted(video, "permanent")], "J001", 2025, 5,
                        NOW)[0]["code"]
    rec = transfer.prepare(setup.archive, a1, policy(), 2025, tmp_path / "out", NOW)
    pem = tmp_path / "archive.pem"
    pem.write_text(public_pem(setup.archive.key.public))
    yield setup, a1, a2, rec, pem, {"video": video, "photo": photo, "scan": scan}, code
    cat.close()
    release_all_for_tests(tmp_path)


def test_package_is_laid_out_after_da_t_93_and_valid(package):
    setup, _, _, rec, _, items, code = package
    root = Path(rec["package"])
    bagit.Bag(str(root)).validate()  # still a valid BagIt bag
    data = root / "data"
    records = sorted(p.name for p in (data / handover.RECORDS).iterdir())
    assert records == sorted([f"{code}.mp4", f"{items['photo'].id}.jpg",
                              f"{items['scan'].id}.pdf"])
    assert (data / handover.RECORDS / f"{code}.mp4").read_bytes() == setup.store.read_bytes(
        items["video"].storage["object"]["key"], items["video"].storage["object"]["version_id"])
    assert not any("某某" in n or "现场" in n for n in records)  # never a title or party
    xml = (data / handover.CATALOG).read_bytes()
    schema = etree.XMLSchema(etree.parse(str(handover.SCHEMA)))
    doc = etree.fromstring(xml)
    schema.assertValid(doc)
    rows = doc.findall("c:电子档案列表/c:电子档案", NS)
    assert len(rows) == 3
    by_id = {r.findtext("c:条目标识", namespaces=NS): r for r in rows}
    v = by_id[items["video"].id]
    assert v.findtext("c:档号", namespaces=NS) == code
    assert v.findtext("c:题名", namespaces=NS) == "现场检查录像（1/2）"
    assert v.find("c:执法人员", NS).text == "张警官" and v.find("c:执法人员", NS).get(
        "标识") == "P1001"
    assert v.findtext("c:开始时间", namespaces=NS) == "2025-05-01T09:00:00+08:00"
    assert v.find("c:文件", NS).get("SHA256") == items["video"].sha256
    p = by_id[items["photo"].id]
    assert p.findtext("c:档号", namespaces=NS) == ""
    assert p.findtext("c:题名", namespaces=NS) == ("2025年5月1日 张警官 现场勘验 某某食品有限公司 "
                                                   "销售过期食品 现场照片")
    assert doc.findtext("c:移交信息/c:移交人", namespaces=NS) == "档案员ARC1"
    text = (data / handover.EXPLANATION).read_text("utf-8")
    for words in ("档案员ARC1（ARC1）", "3 件", "四性检测", "DA/T 93-2022", "非符合性声明",
                  "北京时间（Asia/Shanghai）"):
        assert words in text
    # the schema rejects what the catalog must not hold
    bad = etree.fromstring(xml)
    bad.find("c:电子档案列表/c:电子档案/c:文件", NS).set("SHA256", "xyz")
    assert not schema.validate(bad)


def _second_home(tmp_path, monkeypatch) -> Path:
    """A receiver's machine: an empty custody home; nothing of the sender's but the key."""
    home = tmp_path / "receiver"
    home.mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "receiver-user"))
    monkeypatch.setenv("CUSTODY_HOME", str(home))
    monkeypatch.delenv("CUSTODY_CONFIG", raising=False)
    return home


def test_receiver_checks_the_package_with_only_the_public_key(package, tmp_path, monkeypatch):
    _, _, _, rec, pem, items, code = package
    home = _second_home(tmp_path, monkeypatch)
    key = home / "archive.pem"
    key.write_bytes(pem.read_bytes())
    out = run_json("transfer", "verify", rec["package"], "--key", str(key))
    assert out["ok"], out["problems"]
    assert out["form"]["items"] == 3 and out["form"]["coded"] == 1
    assert out["form"]["carrier"] == handover.CARRIER_ZH
    assert all(v["result"] == "pass" for v in out["form"]["properties"].values())
    assert {r["item"] for r in out["items"]} == {i.id for i in items.values()}
    text = run("transfer", "verify", rec["package"], "--key", str(key)).stdout
    assert "真实性：通过" in text and "核验通过" in text
    assert sorted(p.name for p in home.iterdir()) == ["archive.pem"]  # nothing else needed

    # one byte changed in a record: its integrity fails, named by 档号
    target = Path(rec["package"]) / "data" / handover.RECORDS / f"{code}.mp4"
    raw = bytearray(target.read_bytes())
    raw[100] ^= 0xFF
    target.write_bytes(bytes(raw))
    bad = run_json("transfer", "verify", rec["package"], "--key", str(key), code=1)
    row = next(r for r in bad["items"] if r["archive_code"] == code)
    assert row["properties"]["integrity"]["result"] == "fail"
    assert bad["form"]["properties"]["integrity"]["failed_items"] == 1
    # a key the receiver does not trust: nothing is authentic
    other = SigningKey.generate(tmp_path / "other.key")
    stranger = home / "other.pem"
    stranger.write_text(public_pem(other.public))
    forged = run_json("transfer", "verify", rec["package"], "--key", str(stranger), code=1)
    assert forged["package"]["authenticity"]["result"] == "fail"


def test_catalog_altered_or_file_slipped_in_is_caught(package):
    setup, _, _, rec, _, items, _ = package
    root = Path(rec["package"]) / "data"
    catalog = root / handover.CATALOG
    catalog.write_bytes(catalog.read_bytes().replace("张警官".encode(), "李警官".encode()))
    (root / handover.RECORDS / "extra.mp4").write_bytes(b"not from the archive")
    report = transfer.verify_package(Path(rec["package"]), keys=setup.archive.archive_keys)
    codes = {p["code"] for p in report["problems"]}
    assert "file-not-signed" in codes and "undeclared-file" in codes
    assert report["package"]["authenticity"]["result"] == "fail"
    assert report["package"]["security"]["result"] == "fail"


def test_accept_records_the_receivers_check(package):
    setup, _, a2, rec, _, items, code = package
    t = transfer.accept(setup.archive, a2, 2025, NOW)
    check = t["receipt"]["receipt"]["package_check"]
    assert check["ok"] and check["items"] == 3
    assert transfer.verify_receipt(setup.archive, t)  # the check is under ARC2's signature
    entry = [e for e in setup.catalog.ledger_entries() if e.action == "transfer-accepted"][-1]
    assert entry.details["package_check"]["ok"] is True
    assert "接收核验（四性检测） 真实性 通过" in transfer.render_receipt_zh(t, policy())


def test_accept_refuses_a_package_altered_since_prepared(package):
    setup, _, a2, rec, _, items, code = package
    target = Path(rec["package"]) / "data" / handover.RECORDS / f"{code}.mp4"
    target.write_bytes(target.read_bytes()[:-1] + b"\x00")
    with pytest.raises(ProblemFound, match="not the one prepared"):
        transfer.accept(setup.archive, a2, 2025, NOW)
    assert transfer.transfers_of(setup.archive, 2025)[-1]["status"] == "prepared"
    assert json.loads(json.dumps(rec["withheld"])) == []


def _pdf_text(pdf: bytes) -> str:
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.pdf"
        path.write_bytes(pdf)
        return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                              text=True, check=True).stdout.replace(" ", "")


def test_the_receiver_issues_the_four_property_report(package, tmp_path, monkeypatch):
    """transfer verify --pdf at the receiver's own home (initialised, holding the sender's
    public key only): the 四性检测报告 of the package, per record and for the package, each
    check by its code and Chinese name; a damaged record fails it, named by its 档号."""
    import os

    from tests.support import documents as docs
    from tests.support.cli import held_keys_home

    _, _, _, rec, pem, items, code = package
    held_keys_home(tmp_path / "receiver", monkeypatch)
    out = tmp_path / "check.pdf"
    got = run_json("transfer", "verify", rec["package"], "--key", str(pem), "--pdf", str(out))
    doc = got["document"]
    assert got["ok"] and doc["kind"] == "handover-check-report" and "测字第0001号" in \
        doc["number"]
    pdf = out.read_bytes()
    text = _pdf_text(pdf)
    for words in ("四性检测报告", "移交环节", "接收方检测", "ZS-21", "元数据版本签名有效",
                  "WZ-22", "数据包检测", "ZS-20", code, "检测人", "签名"):
        assert words in text, words
    assert "存在不通过项0件" in text and "数据包检测结论通过" in text
    assert docs.layout_problems(pdf) == []
    assert {c for c in docs.missing_glyphs(pdf, text) if not c.isdigit()} == set()
    again = tmp_path / "again.pdf"
    run("print", "handover-check-report", doc["subject"], "--out", str(again))
    assert again.read_bytes() == pdf
    if os.environ.get("CUSTODY_DOC_PNG"):
        docs.to_png(pdf, Path(os.environ["CUSTODY_DOC_PNG"]) / "handover_check")

    target = Path(rec["package"]) / "data" / handover.RECORDS / f"{code}.mp4"
    raw = bytearray(target.read_bytes())
    raw[100] ^= 0xFF
    target.write_bytes(bytes(raw))
    bad_out = tmp_path / "bad.pdf"
    bad = run_json("transfer", "verify", rec["package"], "--key", str(pem), "--pdf",
                   str(bad_out), code=1)
    assert bad["document"]["number"].endswith("测字第0002号")
    btext = _pdf_text(bad_out.read_bytes())
    assert "存在不通过项1件" in btext and "摘要值不符" in btext
    # without a check there is nothing to report: refused, not an empty report
    run("print", "handover-check-report", "0197a3b2-0000-7000-8000-000000000009", "--out",
        str(tmp_path / "none.pdf"), code=2)


def test_accept_hands_its_check_to_the_report(package, tmp_path):
    from config import settings as settings_mod
    from documents import issue

    setup, _, a2, rec, _, items, code = package
    t = transfer.accept(setup.archive, a2, 2025, NOW)
    report = t["package_report"]
    assert report["ok"] and len(report["items"]) == 3
    assert "package_report" not in setup.catalog.get_record("transfers", t["id"])
    doc = issue.issue(setup.archive, a2, settings_mod.load(None, tmp_path / "home"),
                      "handover-check-report", keys_dir=tmp_path / "keys",
                      params={"report": report, "formats_checked": False, "by": "receiver"})
    text = _pdf_text(doc["pdf"])
    assert "四性检测报告" in text and code in text and "无法检测" in text  # KY-22 not run
