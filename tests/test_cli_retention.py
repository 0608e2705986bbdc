"""case, flag, retention and dispose through the command line, each person acting with their
own key (the test-only key folder)."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone

import bootstrap
from archive import people
from archive.domain.model import Description
from config import settings
from tests.support.cli import run, run_json
from tests.support.office import PEOPLE, office  # noqa: F401  (office: a fixture)


def as_(office, person: str) -> None:
    office.setenv("CUSTODY_ACT_AS", person)


def archive_items(n: int, *, old: bool = False, lock_s: int = 0, **fields) -> list[str]:
    archive = bootstrap.open_archive(settings.load())
    actor = people.acting_person(archive.catalog)
    now = datetime.now(timezone.utc)
    start = datetime(2025, 1, 2, tzinfo=timezone.utc) if old else now - timedelta(hours=3)
    until = now + (timedelta(seconds=lock_s) if lock_s else timedelta(days=200))
    ids = []
    for n_ in range(n):
        d = Description(kind="video", unit="market-001", device_id="DSJ-1", officers=["OF1"],
                        recorded_start=start + timedelta(minutes=n_),
                        recorded_end=start + timedelta(minutes=n_ + 1), party="王五",
                        cause="占道经营", **fields)
        item = archive.archive_stream([os.urandom(1500)], d, actor, until).item
        if old:
            item.ingested_at = start + timedelta(days=1)
            archive.catalog.save_state(item)
        ids.append(item.id)
    archive.finish_command()
    archive.catalog.close()
    return ids


def test_case_register_link_close(office, tmp_path):
    a, b = archive_items(2)
    reg = tmp_path / "register.csv"
    reg.write_text("id,type,unit,opened,closed,filing_year,activities\n"
                   "SJ-2026-01,general,market-001,2026-02-01,,,询问;扣押\n"
                   "SJ-2026-02,major,market-001,2026-02-03,,,现场勘验\n", encoding="utf-8")
    as_(office, "OF1")
    assert "may not import" in run("case", "import", str(reg), code=2).stderr
    as_(office, "AR1")
    out = run_json("case", "import", str(reg))
    assert out["added"] == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("id,type,unit\nX,unknown,market-001\nY,general,mars\n", encoding="utf-8")
    err = run_json("case", "import", str(bad), code=2)
    assert [p["line"] for p in err["problems"]] == [2, 3]
    as_(office, "OF1")
    out = run_json("case", "link", a, b, "--case", "SJ-2026-02")
    assert set(out["linked"]) == {a, b}
    shown = run_json("show", a, "--lock")
    assert shown["tier"] == "case" and shown["lock_in_store"]["legal_hold"]
    as_(office, "AR1")
    text = run("case", "close", "SJ-2026-02", "--date", "2026-03-01").stdout
    assert "case SJ-2026-02 closed on 2026-03-01; 2 items" in text
    shown = run_json("show", a, "--lock")
    assert not shown["lock_in_store"]["legal_hold"]
    assert shown["retain_until"].startswith("2056-12-31T16:00")  # 1 Jan 2057 in Shanghai
    assert "already closed" in run("case", "close", "SJ-2026-02", "--date", "2026-03-02",
                                   code=2).stderr
    assert "SJ-2026-01" in run("case", "list").stdout


def test_flag_confirm_and_check(office):
    a, b = archive_items(2, activity_id="ACT-9")
    as_(office, "OF1")
    out = run_json("flag", a, "--reason", "obstruction", "--note", "阻碍执法")
    assert set(out["items"]) == {a, b}
    assert "needs a written reason" in run("flag", a, "--reason", "other", code=2).stderr
    assert "second person" not in run("flag", "list").stdout
    assert "takes the role approver" in run("flag", "confirm", out["id"], code=2).stderr
    as_(office, "AP1")
    text = run("flag", "confirm", out["id"]).stdout
    assert "2 items permanent" in text
    assert run_json("show", b)["tier"] == "permanent"
    assert "cannot be withdrawn" in run("flag", "withdraw", out["id"], code=2).stderr
    run("retention", "run")
    assert "every lock in the store" in run("retention", "check").stdout


def test_retention_check_exits_1_on_a_weak_lock(office):
    (a,) = archive_items(1)
    as_(office, "AR1")
    run("retention", "run")
    # the catalog is told of a confirmed flag the store never heard of
    archive = bootstrap.open_archive(settings.load())
    archive.catalog.put_record("flags", "F-X", {"id": "F-X", "reason": "assault",
                                                "state": "confirmed", "items": [a]})
    item = archive.catalog.get_item(a)
    item.retention = {**item.retention, "flags": ["F-X"]}
    archive.catalog.save_state(item)
    archive.catalog.close()
    out = run_json("retention", "check", code=1)
    assert {p["code"] for p in out["problems"]} == {"lock-short", "hold-missing"}
    assert "lock-short: item" in run("retention", "check", code=1).stdout


def test_retention_run_what_if_and_dispose(office):
    gone = archive_items(3, old=True, lock_s=3)
    as_(office, "AR1")
    what_if = run_json("retention", "run", "--as-of", "2030-01-01")
    assert not what_if["applied"] and {c["item"] for c in what_if["candidates"]} >= set(gone)
    rehearsal = run("dispose", "propose", "--as-of", "2030-01-01").stdout
    assert "would be proposed" in rehearsal and "nothing was proposed" in rehearsal
    assert gone[0] in rehearsal
    assert "nothing is due" in run("dispose", "propose", code=2).stderr
    time.sleep(4)
    listed = run_json("dispose", "propose")
    lid = listed["id"]
    assert {r["item"] for r in listed["rows"]} == set(gone)
    run("dispose", "take-out", lid, gone[2], "--reason", "尚需核查")
    as_(office, "AP1")
    shown = run("dispose", "show", lid).stdout
    assert "已撤出" in shown and "拟销毁" in shown and "王五" in shown
    assert "proposed" in run("dispose", "approve", lid, "--reject", gone[1], "仍有保存价值",
                             "--note", "同意销毁").stdout
    as_(office, "AP2")
    run("dispose", "approve", lid, "--note", "同意销毁")
    for person in ("AU1", "AU2"):
        as_(office, person)
        run("dispose", "witness", lid)
    as_(office, "AR2")
    text = run("dispose", "execute", lid, "--witness", "AU1", "--witness", "AU2").stdout
    assert "销毁清册" in text and "监销人 AU1、AU2" in text and "鉴定意见" in text
    assert f"不同意销毁 {gone[1]}：仍有保存价值" in text
    shown = run_json("show", gone[0])
    assert shown["status"] == "disposed" and shown["retention"]["disposal"]["list"] == lid
    assert run_json("show", gone[1])["status"] != "disposed"
    assert "executed" in run("dispose", "list").stdout
    as_(office, "AR1")
    again = run_json("dispose", "propose")["id"]
    as_(office, "AP1")
    assert "state rejected" in run("dispose", "reject", again, "--reason", "仍需保存").stdout
    as_(office, "AR2")
    assert "rejected" in run("dispose", "execute", again, "--witness", "AU1", "--witness",
                             "AU2", code=2).stderr
    assert run_json("audit", "verify")["ok"]


def test_case_list_counts_named_items_and_run_names_changed_fields(office, tmp_path):
    named = archive_items(2, case_id="SJ-2026-05")
    reg = tmp_path / "register.csv"
    reg.write_text("id,type,unit,opened,closed,filing_year,activities\n"
                   "SJ-2026-05,general,market-001,2026-01-02,2026-01-20,,询问\n",
                   encoding="utf-8")
    as_(office, "AR1")
    run("case", "import", str(reg))
    listed = {c["id"]: c for c in run_json("case", "list")["cases"]}
    assert sorted(listed["SJ-2026-05"]["items"]) == sorted(named)
    assert listed["SJ-2026-05"]["linked"] == []
    row = next(x for x in run("case", "list").stdout.splitlines() if "SJ-2026-05" in x)
    assert [c.strip() for c in row.split("│")][-3:-1] == ["2", "0"]  # items, of them linked
    run("retention", "run")
    assert "0 changed" in run("retention", "run").stdout
    (late,) = archive_items(1, case_id="SJ-2026-05")  # arrives after the case closed
    text = run("retention", "run").stdout
    assert "1 changed" in text
    line = next(x for x in text.splitlines() if late in x)
    assert "tier routine -> case" in line and "legal hold" not in line  # never held
    assert "period 6m -> 10y" in line and "retain until" in line


def test_refusals_are_recorded_signed_by_whoever_tried(office):
    (a,) = archive_items(1)
    as_(office, "OF1")
    flag = run_json("flag", a, "--reason", "complaint")["id"]
    assert "takes the role approver" in run("flag", "confirm", flag, code=2).stderr
    as_(office, "stranger")  # no such person: the archive itself signs the record
    assert "not a registered person" in run("flag", "confirm", flag, code=2).stderr
    as_(office, "AR1")
    entries = [e for e in _ledger() if e.action == "refused"]
    assert [(e.actor, e.details["by"]) for e in entries] == [("OF1", "OF1"),
                                                             ("custody", "OS:stranger")]
    assert all(e.details["attempted"].endswith("flag confirm") for e in entries)
    assert run_json("audit", "verify")["ok"]
    register = run("access", "register").stdout
    assert "OS:stranger" in register and "拒绝" in register


def _ledger():
    archive = bootstrap.open_archive(settings.load())
    try:
        return list(archive.catalog.ledger_entries())
    finally:
        archive.catalog.close()
