"""access, view, export and verify-export through the command line; masking in the existing
commands; tampering with exports and with the access entries of the ledger."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from datetime import datetime, timedelta, timezone

import bagit
import pytest

import bootstrap
from archive import people
from archive.domain.model import Description
from archive.integrity.signing import SigningKey, public_pem
from config import settings
from tests.support.cli import held_keys_home, run, run_json


@pytest.fixture
def office(tmp_path, monkeypatch):
    """admin (this OS account), officer O1, legal L1 (法制股, personal-privacy), leader B1."""
    held_keys_home(tmp_path, monkeypatch)
    run("people", "add", "O1", "--name", "执法员甲", "--account", "o1", "--role", "officer")
    out = run_json("people", "add", "L1", "--name", "法制员乙", "--account", "l1",
                   "--role", "legal", "--position", "法制股", "--clearance", "personal-privacy")
    assert out["positions"] == ["法制股"] and out["clearances"] == ["personal-privacy"]
    run("people", "add", "B1", "--name", "局长丙", "--account", "b1", "--role", "approver")
    assert run_json("people", "grant", "B1", "--position", "局领导")["positions"] == ["局领导"]
    archive = bootstrap.open_archive(settings.load())
    actor = people.acting_person(archive.catalog)
    until = datetime.now(timezone.utc) + timedelta(days=30)
    ids = {}
    t0 = datetime(2026, 3, 2, 1, tzinfo=timezone.utc)
    for name, conf, party in (("a", None, "王五"), ("b", None, "赵六"),
                              ("secret", "personal-privacy", "李四")):
        d = Description(kind="video", unit="market-001", device_id="D1", officers=["O1"],
                        recorded_start=t0, recorded_end=t0 + timedelta(minutes=2), party=party,
                        cause="销售假冒商品", case_id=f"C-{name}", confidential=conf,
                        source={"original_name": f"DSJ/{name}.mp4"})
        ids[name] = archive.archive_stream([os.urandom(50_000)], d, actor, until).item.id
    archive.finish_command()
    archive.catalog.close()
    monkeypatch.ids = ids
    monkeypatch.tmp = tmp_path
    yield monkeypatch
    from tests.support.worm import release_all_for_tests

    release_all_for_tests(tmp_path)


def act(office, person: str | None) -> None:
    if person is None:
        office.delenv("CUSTODY_ACT_AS", raising=False)
    else:
        office.setenv("CUSTODY_ACT_AS", person)


def approved(office, purpose: str, *items: str, reason: str = "行政复议答复") -> str:
    act(office, "O1")
    req = run_json("access", "request", "--items", ",".join(items), "--reason", reason,
                   "--purpose", purpose)
    act(office, "L1")
    assert run_json("access", "approve", req["id"], "--note", "同意")["status"] == "approved"
    act(office, "O1")
    return req["id"]


def test_request_approve_deny_list(office):
    ids = office.ids
    act(office, "O1")
    q = run_json("access", "request", "--query", "unit=market-001", "--reason", "复查",
                 "--purpose", "view", "--until", "2099-12-31")
    assert sorted(q["items"]) == sorted([ids["a"], ids["b"]])  # not the confidential one
    assert "waiting for approval" in run("access", "request", "--items", ids["secret"],
                                         "--reason", "复查", "--purpose", "view").stdout
    err = run("access", "approve", q["id"], code=2).stderr
    assert "may not decide their own request" in err
    act(office, "B1")
    assert "position 法制股" in run("access", "approve", q["id"], code=2).stderr
    act(office, "L1")
    out = run_json("access", "deny", q["id"], "--note", "理由不充分")
    assert out["status"] == "denied" and out["by"] == "L1"
    assert "already denied" in run("access", "approve", q["id"], code=2).stderr
    rows = run_json("access", "list")["requests"]
    assert [r["status"] for r in rows] == ["denied", "pending"]
    assert "已驳回" in run("access", "list").stdout
    assert "one of them" in run("access", "request", "--reason", "x", "--purpose", "view",
                                code=2).stderr
    act(office, "nobody")
    assert "not a registered person" in run("access", "request", "--items", ids["a"],
                                            "--reason", "x", "--purpose", "view",
                                            code=2).stderr


def test_view_with_player_and_register(office, tmp_path):
    ids = office.ids
    act(office, "O1")
    err = run("view", ids["a"], "--player", "cat", code=2).stderr
    assert "refused" in err and "no approved request" in err
    req = approved(office, "view", ids["a"])
    counted = tmp_path / "bytes-the-player-read"
    out = run_json("view", ids["a"], "--player", f"sh -c 'wc -c > {counted}'")
    assert out["outcome"] == "completed" and out["request"] == req
    assert int(counted.read_text()) == 50_000
    assert "refused" in run("view", ids["b"], "--player", "cat", code=2).stderr
    assert "one of them" in run("view", ids["a"], code=2).stderr
    act(office, "L1")
    entries = run_json("access", "register")["entries"]
    assert [(e["kind"], e["outcome"]) for e in entries] == [
        ("refusal", "拒绝"), ("view", "已调阅"), ("refusal", "拒绝")]
    assert entries[1]["reason"] == "行政复议答复" and entries[1]["approved_by"] == "L1"
    table = run("access", "register").stdout
    assert "调阅登记" in table and "执法员甲（O1）" in table and "播放器" in table
    csv_out = run("access", "register", "--format", "csv", "--from", "2020-01-01").stdout
    assert csv_out.splitlines()[0] == "时间,调阅人,调阅事由,审批人,申请编号,条目,方式,结果"
    assert len(csv_out.splitlines()) == 4
    pdf = tmp_path / "register.pdf"
    run("access", "register", "--format", "pdf", "--out", str(pdf))
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 5000
    assert run_json("access", "register", "--to", "2020-01-01")["entries"] == []
    # the viewer's own key signed the ledger entry of the view
    led = _ledger(office)
    view = [r for r in led if r[1] == "access-view"]
    assert view and view[0][2] == "O1"


def test_view_expired_is_refused_and_recorded(office, monkeypatch):
    import archive.access.requests as access

    ids = office.ids
    approved(office, "view", ids["a"])
    later = datetime.now(timezone.utc) + timedelta(days=access.DEFAULT_DAYS + 1)
    monkeypatch.setattr(access, "_now", lambda: later)
    assert "expired" in run("view", ids["a"], "--player", "cat", code=2).stderr
    monkeypatch.undo()
    refusals = [r for r in _ledger(office) if r[1] == "access-refused"]
    assert "expired" in json.loads(refusals[-1][4])["reason"]


def _ledger(office):
    db = sqlite3.connect(office.tmp / "data" / "catalog.sqlite")
    rows = db.execute("SELECT seq, action, actor, subject, details FROM ledger ORDER BY seq"
                      ).fetchall()
    db.close()
    return rows


@pytest.fixture
def exported(office):
    ids = office.ids
    req = approved(office, "extract", ids["a"], ids["secret"], reason="移送公安机关")
    dest = office.tmp / "export"
    out = run_json("export", req, "--to", str(dest), "--iso")
    pem = office.tmp / "trusted.pem"
    s = settings.load()
    pem.write_text(public_pem(bootstrap.load_archive_key(s).public))
    office.export = out
    office.dest = dest
    office.pem = pem
    return office


def test_export_is_a_valid_bag_and_verifies(exported):
    o = exported
    bagit.Bag(str(o.dest)).validate()
    assert o.export["iso"] == str(o.dest) + ".iso"
    text = run("verify-export", str(o.dest), "--key", str(o.pem)).stdout
    assert "Export intact" in text
    iso = run_json("verify-export", o.export["iso"], "--key", str(o.pem))
    assert iso["ok"] and iso["items"] == 2 and iso["extractor"] == "O1"
    fp = run_json("key", "list")["keys"][0]["fingerprint"]
    assert run_json("verify-export", str(o.dest), "--fingerprint", fp)["ok"]
    record = json.loads((o.dest / "custody" / "extraction-record.json").read_text())
    assert record["request"]["approved_by"] == "L1"
    act(o, "L1")
    entries = run_json("access", "register")["entries"]
    assert entries[-1]["kind"] == "export" and entries[-1]["outcome"] == "已提取"


def _problems(*args, code=1):
    out = run_json("verify-export", *args, code=code)
    return {(p["code"], p["path"].split("/")[-1]) for p in out["problems"]}


def test_verify_export_names_alterations(exported):
    o = exported
    a = next((o.dest / "data" / o.ids["a"]).glob("*.mp4"))
    with open(a, "r+b") as f:  # one payload byte
        b = f.read(1)
        f.seek(0)
        f.write(bytes([b[0] ^ 1]))
    (o.dest / "data" / "extra.txt").write_text("added")
    meta = next((o.dest / "data" / o.ids["secret"]).glob("metadata-*.json"))
    meta.unlink()
    got = _problems(str(o.dest), "--key", str(o.pem))
    assert ("altered", "a.mp4") in got
    assert ("unlisted", "extra.txt") in got and ("added", "extra.txt") in got
    assert ("missing", meta.name) in got and ("removed", meta.name) in got
    text = run("verify-export", str(o.dest), "--key", str(o.pem), code=1).stdout
    assert "a.mp4" in text and " problems" in text


def test_rebagged_alteration_still_caught(exported):
    """Someone alters a copy and re-makes the bag's manifests with bagit-python: the bag is
    valid, but the file no longer matches the signed extraction record."""
    o = exported
    a = next((o.dest / "data" / o.ids["a"]).glob("*.mp4"))
    a.write_bytes(b"replaced")
    bag = bagit.Bag(str(o.dest))
    bag.save(manifests=True)
    bagit.Bag(str(o.dest)).validate()
    got = _problems(str(o.dest), "--key", str(o.pem))
    assert ("altered", "a.mp4") in got


def test_forged_record_and_wrong_key(exported, tmp_path):
    o = exported
    rec_path = o.dest / "custody" / "extraction-record.json"
    record = json.loads(rec_path.read_text())
    # a forger re-signs with their own "archive" key and puts it in the package
    forger = SigningKey.generate(tmp_path / "forger.key")
    record["request"]["approved_by"] = "B1"
    record["archive_key"]["public_key"] = public_pem(forger.public)
    from archive.domain.canonical import canonical

    rec_path.write_bytes(canonical(record))
    sig_path = o.dest / "custody" / "extraction-record.signatures.json"
    sigs = json.loads(sig_path.read_text())
    sigs["archive"] = {"key_id": forger.key_id, "signature": forger.sign(record)}
    sig_path.write_bytes(canonical(sigs))
    (o.dest / "custody" / "keys" / "archive.pem").write_text(public_pem(forger.public))
    bagit.Bag(str(o.dest)).save(manifests=True)
    got = _problems(str(o.dest), "--key", str(o.pem))
    assert ("wrong-key", "extraction-record.signatures.json") in got
    assert ("bad-extractor-signature", "extraction-record.signatures.json") in got
    fp = run_json("key", "list")["keys"][0]["fingerprint"]
    assert ("untrusted-key", "archive.pem") in _problems(str(o.dest), "--fingerprint", fp)
    # a trusted key, an edited record without re-signing: forged
    shutil.rmtree(o.dest)
    run("verify-export", o.export["iso"], "--key", str(o.pem))
    other = tmp_path / "other.pem"
    other.write_text(public_pem(forger.public))
    assert ("wrong-key", "extraction-record.signatures.json") in _problems(
        o.export["iso"], "--key", str(other))
    assert "one of them" in run("verify-export", o.export["iso"], code=2).stderr


def test_record_edited_in_place_is_forged(exported):
    o = exported
    rec_path = o.dest / "custody" / "extraction-record.json"
    rec_path.write_bytes(rec_path.read_bytes().replace(b'"approved_by":"L1"',
                                                       b'"approved_by":"B1"'))
    got = _problems(str(o.dest), "--key", str(o.pem))
    assert ("forged-record", "extraction-record.json") in got
    assert ("tag-altered", "extraction-record.json") in got


def test_export_refusals(office):
    ids = office.ids
    req = approved(office, "view", ids["a"])
    err = run("export", req, "--to", str(office.tmp / "x"), code=2).stderr
    assert "viewing only" in err
    assert not (office.tmp / "x").exists()


def test_an_approval_counts_its_exports(office):
    """access approve --exports 2: a second export within the day re-delivers the same
    package; --new takes the second use; a third is refused, and all of it is registered."""
    ids = office.ids
    act(office, "O1")
    req = run_json("access", "request", "--items", ids["a"], "--reason", "移送公安机关",
                   "--purpose", "extract")["id"]
    act(office, "L1")
    assert ", 2 exports allowed;" in run("access", "approve", req, "--exports", "2").stdout
    assert "--exports" in run("access", "deny", req, "--exports", "2", code=2).stderr
    act(office, "O1")
    first = run_json("export", req, "--to", str(office.tmp / "e1"))
    assert first["use"] == 1 and first["uses"] == {
        "allowed": 2, "used": [first["id"]], "left": 1, "redeliver_hours": 24,
        "redeliverable": [{"export": first["id"], "by": "O1",
                           "until": first["uses"]["redeliverable"][0]["until"]}]}
    text = run("export", req, "--to", str(office.tmp / "e1-again")).stdout
    assert f"Export {first['id']}:" in text and "the same package again" in text
    assert "1 left" in text
    assert "export 2 of 2; 0 left" in run("export", req, "--to", str(office.tmp / "e2"),
                                          "--new").stdout
    err = run("export", req, "--to", str(office.tmp / "e3"), "--new", code=2).stderr
    assert "allows 2 exports, all used" in err and not (office.tmp / "e3").exists()
    act(office, "L1")
    assert run_json("access", "list")["requests"][0]["exports_allowed"] == 2
    outcomes = [e["outcome"] for e in run_json("access", "register")["entries"]
                if e["request"] == req]
    assert outcomes == ["已提取", "重新交付（不另计次）", "已提取", "拒绝"]


def test_an_auditor_plays_and_inspects_items_of_their_sample(office):
    ids = office.ids
    act(office, None)
    run("people", "add", "AU1", "--name", "审计员丁", "--account", "au1", "--role", "auditor")
    act(office, "AU1")
    err = run("view", ids["a"], "--player", "cat", code=2).stderr
    assert "no approved request" in err and "no sampled verification by AU1" in err
    err = run("inspect", ids["a"], "--finding", "late-start", code=2).stderr
    assert "could not watch" in err
    lot = run_json("verify", "--query", "unit=market-001", "--all")
    assert set(lot["items"]) == set(ids.values())
    player = "sh -c 'cat > /dev/null'"
    out = run_json("view", ids["a"], "--player", player)
    assert out["inspection"] == lot["id"] and out["request"] is None
    assert "under inspection" in run("view", ids["b"], "--player", player,
                                     "--inspection", lot["id"]).stderr
    assert "lacks the clearance personal-privacy" in run(
        "view", ids["secret"], "--player", "true", code=2).stderr
    assert run_json("inspect", ids["a"], "--finding", "late-start")["finding"] == "late-start"
    assert "could not watch" in run("inspect", ids["secret"], "--finding", "other",
                                    code=2).stderr
    act(office, "L1")
    entries = run_json("access", "register")["entries"]
    played = [e for e in entries if e.get("inspection")]
    assert [(e["item"], e["outcome"]) for e in played] == [(ids["a"], "已调阅"),
                                                           (ids["b"], "已调阅")]
    assert f"检查 {lot['id']}" in run("access", "register", "--format", "csv").stdout


def test_masking_in_existing_commands(office):
    ids = office.ids
    for who in ("O1", "nobody", None):  # officer, unknown person, admin without clearance
        act(office, who)
        rows = run_json("search", "--unit", "market-001")["items"]
        secret = next(r for r in rows if r["id"] == ids["secret"])
        assert secret["party"] == "***" and secret["cause"] == "***" and secret["masked"]
        assert "李四" not in run("search").stdout
        assert run_json("search", "--party", "李四")["items"] == []
        assert run_json("search", "--case", "C-secret")["items"] == []
        counts = run_json("search", "--count-by", "party")["counts"]
        assert "李四" not in counts and counts["***"] == 1
        shown = run("show", ids["secret"]).stdout
        assert "李四" not in shown and "***" in shown
        assert "李四" not in json.dumps(run_json("show", ids["secret"]), ensure_ascii=False)
        report = run_json("report", "--year", "2026")
        assert "C-secret" not in json.dumps(report, ensure_ascii=False)
    act(office, "L1")
    assert run_json("search", "--party", "李四")["items"][0]["party"] == "李四"
    assert "李四" in run("show", ids["secret"]).stdout
    assert run_json("search", "--count-by", "party")["counts"]["李四"] == 1


def test_masking_in_pending_and_quarantine(office):
    s = settings.load()
    archive = bootstrap.open_archive(s)
    actor = people.acting_person(archive.catalog)
    d = Description(kind="video", party="李四", cause="泄密", confidential="personal-privacy",
                    source={"original_name": "李四笔录.mp4"})
    archive.archive_stream([os.urandom(1000)], d, actor,
                           datetime.now(timezone.utc) + timedelta(days=30))
    archive.catalog.put_record("quarantine", "b1:李四.mp4", {
        "id": "b1:李四.mp4", "file": "李四.mp4", "path": "/q/李四.mp4", "sha256": "ab" * 32,
        "at": "2026-03-02T00:00:00Z", "reasons": [{"message": "Eicar-Test-Signature"}],
        "declared": d.to_dict()})
    archive.finish_command()
    archive.catalog.close()
    act(office, "O1")
    pend = run_json("pending")["items"]
    assert pend and pend[0]["party"] == "***" and pend[0]["original_name"] == "***"
    assert "李四" not in run("pending").stdout
    assert "李四" not in json.dumps(run_json("quarantine", "list"), ensure_ascii=False)
    assert "李四" not in run("quarantine", "list").stdout
    assert "李四" not in run("quarantine", "show", "b1:李四.mp4").stdout
    act(office, "L1")
    assert run_json("pending")["items"][0]["party"] == "李四"
    assert "李四" in run("quarantine", "show", "b1:李四.mp4").stdout


@pytest.mark.parametrize("tamper, code", [
    ("UPDATE ledger SET details = replace(details, '复查', '随便看看') "
     "WHERE action = 'access-request'", "edited"),
    ("DELETE FROM ledger WHERE action = 'access-approved'", "removed"),
    ("SWAP", "reordered"),
])
def test_audit_verify_locates_tampered_access_entries(office, tamper, code):
    ids = office.ids
    act(office, "O1")
    req = run_json("access", "request", "--items", ids["a"], "--reason", "复查",
                   "--purpose", "view")
    act(office, "L1")
    run("access", "approve", req["id"])
    act(office, "O1")
    run("view", ids["a"], "--player", "true")
    assert run_json("audit", "verify")["ok"]
    db = sqlite3.connect(office.tmp / "data" / "catalog.sqlite")
    seqs = {a: s for s, a, *_ in _ledger(office)}
    if tamper == "SWAP":  # swap the contents of the approval and the view
        cols = "at, actor, action, subject, details, prev_hash, hash, actor_key_id, " \
               "actor_signature"
        a, b = seqs["access-approved"], seqs["access-view"]
        ra = db.execute(f"SELECT {cols} FROM ledger WHERE seq=?", (a,)).fetchone()
        rb = db.execute(f"SELECT {cols} FROM ledger WHERE seq=?", (b,)).fetchone()
        sets = ", ".join(f"{c.strip()}=?" for c in cols.split(","))
        db.execute(f"UPDATE ledger SET {sets} WHERE seq=?", (*rb, a))
        db.execute(f"UPDATE ledger SET {sets} WHERE seq=?", (*ra, b))
        where = a
    else:
        db.execute(tamper)
        where = seqs["access-request" if code == "edited" else "access-approved"]
    db.commit()
    db.close()
    report = run_json("audit", "verify", code=1)
    assert (code, where) in {(p["code"], p["seq"]) for p in report["problems"]}, report


def test_a_paper_approval_recorded_by_the_keeper(office, chinese):
    """A leader with no account signs on paper; the administrator (a keeper) records it with
    the scan; the requester then exports under it; refusals are shown in Chinese."""
    run("people", "add", "Z1", "--name", "赵局长", "--role", "legal", "--position", "法制股")
    act(office, "O1")
    req = run_json("access", "request", "--items", office.ids["a"], "--reason", "行政复议答复",
                   "--purpose", "extract")
    scan = office.tmp / "审批单.pdf"
    scan.write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    today = datetime.now(timezone.utc).astimezone(settings.load().unit_zone(None)).date()
    refused = run("access", "record-paper", req["id"], "--approver", "Z1", "--approve",
                  "--scan", str(scan), "--signed-on", str(today), code=2)
    assert "登记纸质审批" in refused.output  # an officer is no keeper
    act(office, None)
    out = run("access", "record-paper", req["id"], "--approver", "Z1", "--approve",
              "--scan", str(scan), "--signed-on", datetime.now(timezone.utc).isoformat())
    assert "赵局长（Z1）" in out.output and "审批单.pdf" in out.output
    doc = run_json("access", "list")["requests"]
    mine = next(r for r in doc if r["id"] == req["id"])
    assert mine["status"] == "approved"
    act(office, "O1")
    run("export", req["id"], "--to", str(office.tmp / "out"))
    assert run("audit", "verify").exit_code == 0
