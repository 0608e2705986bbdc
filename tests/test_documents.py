"""Official documents (issue 14): issued once from a signed record, kept in the WORM store,
printed again byte for byte, signed (PAdES, ECDSA P-256) by a certificate the archive key
certifies, verified offline; the lot verdict of a sampled verification; and every document
kind rendered with realistic Chinese data, read back as a reader would see it."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from archive import people, verification
from archive.access import requests as access
from archive.access.export import export
from archive.catalog.sqlite import SQLiteCatalog
from archive.domain.errors import IdentityError, InputError
from archive.domain.sampling import acceptance, lot_verdict
from archive.integrity.signing import Keyring, SigningKey
from config import settings as settings_mod
from documents import issue, render, sign
from reports.registers import register_document
from tests.support import documents as docs
from tests.support.access import access_team, add_person
from tests.support.damage import damage
from tests.support.worm import release_all_for_tests

CTX = access.AccessContext(approver_position=lambda unit: "法制股")


@pytest.fixture
def team(tmp_path):
    s = access_team(tmp_path, SQLiteCatalog(tmp_path / "catalog.sqlite"))
    s.settings = settings_mod.load(None, tmp_path)
    s.keys = tmp_path / "keys"
    s.archivist = add_person(s, "AR1", ["archivist"])
    s.auditor = add_person(s, "AU1", ["auditor"])
    yield s
    release_all_for_tests(tmp_path)


def _flip(pdf: bytes, at: int) -> bytes:
    b = bytearray(pdf)
    b[at] ^= 0x01
    return bytes(b)


# --- the engine: issued once, kept, printed again, verified offline ------------------------
def test_a_document_is_kept_and_printed_again_byte_for_byte(team):
    s = team
    import i18n

    i18n.use("en")  # the officer reads English; the bureau's document is still Chinese
    with pytest.raises(access.AccessRefused) as refused:  # a refused view: an access event
        from archive.access import viewing

        viewing.open_view(s.archive, s.officer, s.items["a"], None, "player")
    assert "has no approved request covering item" in i18n.localize(refused.value)
    # a refusal of something else (a flag) is the ledger's, not the 调阅登记's
    people.record_refusal(s.archive, s.officer, "flag confirm", IdentityError("不得确认"))
    doc = register_document(s.archive, s.archivist, s.settings, None, None, keys_dir=s.keys)
    assert doc["new"] and doc["pdf"].startswith(b"%PDF")
    year = datetime.now(timezone.utc).astimezone(ZoneInfo("Asia/Shanghai")).year
    assert doc["number"] == f"〔{year}〕阅字第0001号"  # the 文号 people cite; the id stays
    rows = json.loads(s.store.read_bytes(
        doc["record_key"], s.store.versions(doc["record_key"])[0]))["data"]["rows"]
    assert [(r["how"], r["refusal"]) for r in rows] == [("view", True)]
    assert "没有包括条目" in rows[0]["reason"] and "approved" not in rows[0]["reason"]
    again = issue.reprint(s.archive, s.archivist, s.settings, "access-register",
                          doc["subject"], keys_dir=s.keys)
    assert again["pdf"] == doc["pdf"] and not again["new"]
    page = issue.html(s.archive, s.archivist, s.settings, "access-register", doc["subject"])
    assert "调阅登记" in page and "时间均为北京时间" in page  # what the web console shows
    stored = s.store.read_bytes(doc["pdf_key"], s.store.versions(doc["pdf_key"])[0])
    assert stored == doc["pdf"]
    actions = [e.action for e in s.catalog.ledger_entries()]
    assert actions.count("document-issued") == 1 and actions.count("document-printed") == 1
    # offline: the signature, the certificate's statement and the record, by the public key
    ring = Keyring()
    ring.add(s.archive.key.public)
    report = sign.verify_pdf(doc["pdf"], ring)
    assert report["ok"], report["problems"]
    assert report["algorithm"] == "sha256_ecdsa" and report["record"]["kind"] == "access-register"
    for at in (len(doc["pdf"]) // 3, len(doc["pdf"]) - 40):  # content, and the signature dict
        broken = sign.verify_pdf(_flip(doc["pdf"], at), ring)
        assert not broken["ok"], at
    stranger = Keyring()
    stranger.add(SigningKey.generate(s.keys / "other.key").public)
    codes = {p["code"] for p in sign.verify_pdf(doc["pdf"], stranger)["problems"]}
    assert codes == {"certificate-not-certified", "record-signature-invalid"}
    # the document key: 0600 beside the archive key, its certificate published in the store
    assert (s.keys / "document.key").stat().st_mode & 0o777 == 0o600
    assert any(k.startswith(sign.STORE_PREFIX) for k, _, _ in s.store.list_keys("keys/"))


def test_a_document_key_follows_the_archive_key(team):
    s = team
    first = register_document(s.archive, s.archivist, s.settings, None, None, keys_dir=s.keys)
    old = s.archive.key
    s.archive.key = SigningKey.generate(s.keys / "archive-2.key")  # as 'custody key rotate'
    s.archive.archive_keys.add(s.archive.key.public)
    second = register_document(s.archive, s.archivist, s.settings, None, None, keys_dir=s.keys)
    one, two = (sign.verify_pdf(d["pdf"], s.archive.archive_keys) for d in (first, second))
    assert one["ok"] and two["ok"]
    assert one["certificate_sha256"] != two["certificate_sha256"]
    assert (one["archive_key_id"], two["archive_key_id"]) == (old.key_id, s.archive.key.key_id)
    assert list((s.keys / "retired").glob("*document.key"))
    only_new = Keyring()
    only_new.add(s.archive.key.public)
    assert not sign.verify_pdf(first["pdf"], only_new)["ok"]


def test_print_refuses_who_may_not_and_what_was_never_issued(team):
    s = team
    req = access.create_request(s.archive, s.officer, "移送公安机关", "extract",
                                items=[s.items["a"], s.items["secret"]])
    access.decide(s.archive, s.legal, req["id"], True, "同意提取", CTX)
    made = export(s.archive, s.officer, req["id"], s.key_dir.parent / "out")
    other = add_person(s, "O2", ["officer"])
    with pytest.raises(IdentityError, match="may not print a 提取说明"):
        issue.issue(s.archive, other, s.settings, "export-statement", made["id"],
                    keys_dir=s.keys)
    # the extractor prints the statement of their own export; an archivist gets the same bytes
    mine = issue.issue(s.archive, s.officer, s.settings, "export-statement", made["id"],
                       keys_dir=s.keys)
    assert issue.issue(s.archive, s.archivist, s.settings, "export-statement", made["id"],
                       keys_dir=s.keys)["pdf"] == mine["pdf"]
    text = _text(mine["pdf"])
    for expected in ("提取说明", "名O1（O1）", "名L1（L1）", "移送公安机关", "2026-03-01 09:00:00",
                     "时间均为北京时间（Asia/Shanghai）", made["items"][0]["sha256"][:16],
                     "签名", "盖章", "第1页共2页"):
        assert expected in text, expected
    assert "2026-03-01T" not in text and "None" not in text
    with pytest.raises(InputError, match="has been issued"):
        issue.reprint(s.archive, s.archivist, s.settings, "sampling-report", made["id"],
                      keys_dir=s.keys)
    with pytest.raises(InputError, match="no document kind"):
        issue.issue(s.archive, s.archivist, s.settings, "nonsense", made["id"], keys_dir=s.keys)
    with pytest.raises(InputError, match="not a document id"):
        issue.issue(s.archive, s.archivist, s.settings, "export-statement", "../x",
                    keys_dir=s.keys)


def test_printed_again_from_either_store(tmp_path, store):
    """The document and its record live in the WORM store: local directory or S3."""
    from tests.support.archives import make_archive

    s = make_archive(tmp_path, SQLiteCatalog(tmp_path / "c.sqlite"), store)
    settings = settings_mod.load(None, tmp_path)
    first = register_document(s.archive, s.actor, settings, None, None,
                              keys_dir=tmp_path / "keys")
    again = issue.reprint(s.archive, s.actor, settings, "access-register", first["subject"],
                          keys_dir=tmp_path / "keys")
    assert again["pdf"] == first["pdf"] and sign.verify_pdf(again["pdf"],
                                                            s.archive.archive_keys)["ok"]
    assert [d["subject"] for d in issue.issued(s.archive)] == [first["subject"]]
    release_all_for_tests(tmp_path)


def _text(pdf: bytes) -> str:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.pdf"
        path.write_bytes(pdf)
        return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                              text=True, check=True).stdout


# --- the lot verdict (GB/T 2828.1 Table 2-A) ----------------------------------------------
@pytest.mark.parametrize("letter, aql, n, ac", [
    ("E", 1.0, 13, 0), ("F", 1.0, 13, 0), ("G", 1.0, 50, 1), ("H", 1.0, 50, 1),
    ("J", 1.0, 80, 2), ("K", 1.0, 125, 3), ("L", 1.0, 200, 5), ("N", 1.0, 500, 10),
    ("Q", 1.0, 1250, 21), ("R", 1.0, 1250, 21), ("A", 1.0, 13, 0), ("K", 2.5, 125, 7),
    ("J", 6.5, 80, 10), ("H", 0.065, 200, 0), ("L", None, 200, 0), ("C", None, 5, 0),
])
def test_acceptance_numbers(letter, aql, n, ac):
    plan = acceptance(letter, aql)
    assert (plan["sample_size"], plan["ac"], plan["re"]) == (n, ac, ac + 1)


def test_the_default_plan_accepts_no_defect():
    assert acceptance("L")["equivalent_aql"] == 0.065
    assert lot_verdict(0, 0, 1) == "accept" and lot_verdict(1, 0, 1) == "reject"
    assert lot_verdict(5, 5, 6) == "accept" and lot_verdict(6, 5, 6) == "reject"
    with pytest.raises(InputError):
        acceptance("L", 0.3)


def test_a_damaged_record_fails_the_lot_and_the_report_says_what_restores_it(team):
    s = team
    a = s.archive.item(s.items["a"])
    damage(s.store, a.storage["object"]["key"], a.storage["object"]["version_id"])
    lot = [s.items["a"], s.items["b"]]
    rec = verification.inspect_lot(s.archive, s.auditor, lot, {"query": "unit=market-001"},
                                   sample=2, seed=1)
    v = rec["verdict"]
    assert (v["result"], v["zh"], v["defects"], v["ac"], v["re"]) == (
        "reject", "批不合格", 1, 0, 1)
    assert v["failed"] == [{"item": a.id, "problems": ["digest-mismatch"]}]
    assert v["full_check"] == 'custody verify --query "unit=market-001" --all'
    # the verdict is in the record the inspector signed
    body = {k: val for k, val in rec.items() if k != "signature"}
    assert people.people_keyring(s.catalog).verify(body, rec["signer_key_id"], rec["signature"])
    assert "批不合格" in verification.render_zh(rec)
    text = _text(issue.issue(s.archive, s.auditor, s.settings, "sampling-report", rec["id"],
                             keys_dir=s.keys)["pdf"])
    for expected in ("抽样检验报告", "批不合格", "摘要值不符", "从第二副本恢复", "应对全批进行全检",
                     "Re = 1"):
        assert expected in text, expected
    four = _text(issue.issue(s.archive, s.auditor, s.settings, "preservation-check-report",
                             rec["id"], keys_dir=s.keys)["pdf"])
    assert "四性检测报告" in four and "WZ-11" in four and "不通过" in four
    good = verification.inspect_lot(s.archive, s.auditor, [s.items["b"]], {"year": 2026},
                                    everything=True, seed=1)
    assert good["verdict"]["result"] == "accept" and "full_check" not in good["verdict"]
    ledger = _text(issue.issue(s.archive, s.auditor, s.settings, "inspection-ledger",
                               params={}, keys_dir=s.keys)["pdf"])
    assert "检查台帐" in ledger and "批不合格" in ledger and "批合格" in ledger


def test_the_ingest_four_property_report(team):
    s = team
    from ingest import checks

    entries = [e.to_dict() for e in checks.four_properties(
        digests={"sha256": "ab" * 32}, signed=True, source={"original_name": "DSJ_0001.MP4"},
        consistency={"result": "fail"}, missing=[], size=10, fmt={"mime": "video/mp4",
                                                                  "kind_allowed": True},
        sequence=1, virus={"status": "clean", "engine": "ClamAV"}, lock={"retain_until": "x"})]
    s.catalog.put_record("batches", "B1", {
        "batch_id": "B1", "station": "S1", "root": "/媒体/2026",
        "started_at": "2026-03-01T01:00:00Z", "finished_at": "2026-03-01T01:05:00Z",
        "counts": {"archived": 1}, "late": 0,
        "files": [{"file": "DSJ_0001.MP4", "item_id": s.items["a"], "state": "archived",
                   "checks": {"four_property": entries}},
                  {"file": "virus.exe", "item_id": None, "state": "quarantined",
                   "state_zh": "已隔离", "checks": {},
                   "reasons": [{"code": "virus", "message": "virus found: Eicar-Signature",
                                "text": "发现病毒：Eicar-Signature"}]}]})
    text = _text(issue.issue(s.archive, s.archivist, s.settings, "ingest-check-report", "B1",
                             keys_dir=s.keys)["pdf"])
    for expected in ("四性检测报告", "归档（入库）环节", "ZS-04", "媒体时间与登记时间一致", "AQ-01",
                     "病毒检测", "不通过", "DSJ_0001.MP4", "未入库文件", "virus.exe", "已隔离",
                     "发现病毒：Eicar-Signature"):
        assert expected in text, expected


# --- every kind, realistic data, read back as a reader sees it -----------------------------
KINDS = (("access_register", True), ("export_statement", False), ("sampling_report", False),
         ("inspection_ledger", True), ("four_property", True))


@pytest.fixture(scope="session")
def rendered() -> dict[str, bytes]:
    """Each kind rendered once per session: the 调阅登记 with 500 rows, the others with 30
    items (their pages repeat; WeasyPrint lays out 500 rows in tens of seconds)."""
    out = {}
    for kind, landscape in KINDS:
        data = docs.realistic(kind, 500 if kind == "access_register" else 30)
        rec = docs.record(kind, data, landscape, "文书")
        out[kind] = render.html_to_pdf(render.render_html(rec, f"{kind}.html"), rec)
    return out


@pytest.mark.parametrize("kind", [k for k, _ in KINDS])
def test_every_character_has_a_glyph_and_nothing_leaves_its_cell(rendered, kind):
    pdf = rendered[kind]
    text = _text(pdf)  # what is drawn: each character must be a glyph of an embedded font
    assert docs.UNIT_NAME in text.replace("\n", "").replace(" ", "")
    assert docs.missing_glyphs(pdf, text) == set()
    assert docs.layout_problems(pdf) == []
    if kind in ("sampling_report", "four_property"):  # the lot in words, never KEY=VALUE
        flat = "".join(text.split())
        assert "当事人含“王五”；2025年度" in flat and "unit=" not in flat, kind


def test_page_counts(rendered):
    # 500 register rows, each naming a long company twice (reason and 题名): 3 to 8 a page
    assert 500 // 8 <= docs.page_count(rendered["access_register"]) <= 500 // 3
    for kind in ("export_statement", "sampling_report", "inspection_ledger", "four_property"):
        assert 2 <= docs.page_count(rendered[kind]) <= 12, kind
    text = _text(rendered["access_register"])
    n = docs.page_count(rendered["access_register"])
    assert f"第{n}页共{n}页" in text.replace(" ", "") and "䶮" in text and "𠮷" in text


def test_a_layout_check_sees_text_out_of_its_cell():
    """The check itself: a word forced beyond the page is caught."""
    html = ("<html><body style='width:400mm'><p style='white-space:nowrap'>"
            + "越界" * 200 + "</p></body></html>")
    assert docs.layout_problems(render.html_to_pdf(html))


def test_at_the_command_line(tmp_path, monkeypatch):
    from tests.support.cli import held_keys_home, run, run_json

    held_keys_home(tmp_path, monkeypatch)
    pdf, again = tmp_path / "r.pdf", tmp_path / "r2.pdf"
    out = run_json("access", "register", "--format", "pdf", "--out", str(pdf))
    assert out["kind"] == "access-register" and pdf.read_bytes().startswith(b"%PDF")
    run("print", "access-register", out["subject"], "--out", str(again))
    assert again.read_bytes() == pdf.read_bytes()
    (pem,) = (tmp_path / "data" / "keys" / "public").glob("*.pem")
    assert "文书完好" in run("verify-pdf", str(pdf), "--key", str(pem)).stdout
    pdf.write_bytes(_flip(pdf.read_bytes(), 2000))
    assert run_json("verify-pdf", str(pdf), "--key", str(pem), code=1)["ok"] is False
    assert "access-register" in run("documents").stdout
    ledger = tmp_path / "ledger.pdf"
    doc = run_json("inspections", "list", "--pdf", str(ledger))
    assert doc["kind"] == "inspection-ledger" and "检查台帐" in _text(ledger.read_bytes())
    run("print", "access-register", "0197a3b2-0000-7000-8000-000000000009", "--out",
        str(tmp_path / "x.pdf"), code=2)
    # batch show --pdf: the batch's 四性检测报告, the same bytes as print gives
    import bootstrap
    from config import settings as settings_mod

    archive = bootstrap.open_archive(settings_mod.load())
    archive.catalog.put_record("batches", "B9", {
        "batch_id": "B9", "station": "S1", "root": "/媒体/2026", "counts": {"rejected": 1},
        "started_at": "2026-03-01T01:00:00Z", "finished_at": "2026-03-01T01:05:00Z",
        "late": 0, "files": [{"file": "空文件.mp4", "item_id": None, "state": "rejected",
                              "state_zh": "拒收", "checks": {},
                              "reasons": [{"code": "empty", "message": "empty file"}]}]})
    archive.catalog.close()
    batch_pdf = tmp_path / "batch.pdf"
    shown = run_json("batch", "show", "B9", "--pdf", str(batch_pdf))
    assert shown["kind"] == "ingest-check-report" and "测字第" in shown["number"]
    btext = _text(batch_pdf.read_bytes())
    assert "未入库文件" in btext and "空文件.mp4" in btext and "拒收" in btext
    run("print", "ingest-check-report", "B9", "--out", str(again))
    assert again.read_bytes() == batch_pdf.read_bytes()
    assert "no batch" in run("batch", "show", "B10", "--pdf", str(tmp_path / "b.pdf"),
                             code=2).stderr
