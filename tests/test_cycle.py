"""cycle, transfer, archive and disc commands through the command line."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import bagit
import pytest

import bootstrap
from archive import people
from archive.domain.model import Description
from config import settings
from tests.support.cli import held_keys_home, run, run_json


@pytest.fixture
def office(tmp_path, monkeypatch):
    """An archive with two archivists and records of 2025 (one pending metadata)."""
    held_keys_home(tmp_path, monkeypatch)
    for pid in ("ARC1", "ARC2"):
        run("people", "add", pid, "--name", f"档案员{pid}", "--account", pid.lower(),
            "--role", "archivist")
    archive = bootstrap.open_archive(settings.load())
    actor = people.acting_person(archive.catalog)
    until = datetime.now(timezone.utc) + timedelta(days=30)
    ids = []
    for n in range(5):
        start = datetime(2025, 7, 1, 1, tzinfo=timezone.utc) + timedelta(hours=n)
        item = archive.archive_stream([os.urandom(200_000)], Description(
            kind="video", unit="resources-001" if n < 3 else "market-001",
            device_id="D1" if n != 4 else None, officers=["P1"], recorded_start=start,
            recorded_end=start + timedelta(minutes=2)), actor, until).item
        if n < 3:
            item.tier = "permanent"
            archive.catalog.save_state(item)
        ids.append(item.id)
    archive.finish_command()
    archive.catalog.close()
    yield monkeypatch, ids, tmp_path
    from tests.support.worm import release_all_for_tests

    release_all_for_tests(tmp_path)


def test_the_year_from_handover_to_finalize(office):
    env, ids, tmp = office
    st = run_json("cycle", "status", "--year", "2025", "--as-of", "2025-12-31T23:59")
    assert st["phase"] == "collecting" and st["items"] == 5
    assert st["by_tier"] == {"permanent": 3, "routine": 2}
    st = run_json("cycle", "status", "--year", "2025", "--as-of", "2026-03-01T00:00")
    assert st["phase"] == "handover-due"
    assert {o["unit"] for o in st["overdue"]} == {"resources-001", "market-001"}
    assert {b["code"] for b in st["blockers"]} == {"pending-metadata", "no-transfer"}
    early = run_json("cycle", "status", "--year", "2025", "--as-of", "2026-02-28T23:59")
    assert early["overdue"] == []  # before March 1 in Shanghai: not yet late
    english = run("cycle", "status", "--year", "2025", "--as-of", "2026-01-05").stdout
    assert "phase handover-due" in english and "Blocking the next step:" in english
    env.delenv("CUSTODY_LANG")  # custody's default: the phase and headings in Chinese
    chinese = run("cycle", "status", "--year", "2025", "--as-of", "2026-01-05").stdout
    env.setenv("CUSTODY_LANG", "en")
    assert "阶段 待移交（handover-due）" in chinese and "妨碍下一步的事项：" in chinese
    assert "Blocking" not in chinese and "phase" not in chinese

    assert "takes the role archivist" in run("transfer", "prepare", "--year", "2025", "--to",
                                             str(tmp / "t"), code=2).stderr
    env.setenv("CUSTODY_ACT_AS", "ARC1")
    assert "no accepted transfer" in run("archive", "finalize", "--year", "2025",
                                         code=2).stderr
    res = run("transfer", "prepare", "--year", "2025", "--to", str(tmp / "t"), "--no-media",
              code=1)  # one item withheld
    assert "电子档案移交清单" in res.stdout and "档案机构签名密钥指纹" in res.stdout
    assert ids[4] in res.stdout and "元数据不全" in res.stdout
    bagit.Bag(str(tmp / "t" / "transfer-2025-01")).validate()
    assert "another archivist" in run("transfer", "accept", "--year", "2025", code=2).stderr
    env.setenv("CUSTODY_ACT_AS", "ARC2")
    receipt = run("transfer", "accept", "--year", "2025").stdout
    assert "电子档案移交接收回执" in receipt and "接收人 ARC2" in receipt
    listed = run_json("transfer", "list")["transfers"]
    assert listed[0]["status"] == "accepted" and listed[0]["accepted_by"] == "ARC2"

    out = run_json("archive", "finalize", "--year", "2025")
    assert [c["code"] for c in out["new_codes"]] == [
        "J001-2025-Y-resources-001-00001", "J001-2025-Y-resources-001-00002",
        "J001-2025-Y-resources-001-00003", "J001-2025-M6-market-001-00001"]
    assert out["manifest"]["number"] == 1 and out["not_transferred"] == [ids[4]]
    assert "nothing changed" in run("archive", "finalize", "--year", "2025").stdout
    assert "J001-2025-M6-market-001-00001" in run("archive", "codes", "--year", "2025").stdout
    st = run_json("cycle", "status", "--year", "2025", "--as-of", "2026-07-01T00:00")
    assert st["phase"] == "archiving" and st["codes"] == 4
    assert [o["items"] for o in st["overdue"] if o["deadline"] == "archiving"] == [[ids[4]]]


def test_disc_commands(office):
    env, ids, tmp = office
    env.setenv("CUSTODY_ACT_AS", "ARC1")
    cap = str(4 * 1024 * 1024 + 470_000)  # two 200 kB items a disc
    out = run_json("disc", "build", "--tier", "permanent", "--year", "2025", "--capacity", cap,
                   "--to", str(tmp / "discs"))
    assert [len(d["items"]) for d in out["discs"]] == [2, 1] and out["refused"] == []
    image = out["discs"][0]["image"]
    assert run_json("disc", "verify", image)["ok"]
    assert "disc intact" in run("disc", "verify", image).stdout
    assert "nothing to write" in run("disc", "build", "--capacity", "25G", "--to",
                                     str(tmp / "discs")).stdout
    assert "too small" in run("disc", "build", "--capacity", "1K", "--to", str(tmp / "d"),
                              code=2).stderr
    run("disc", "place", out["discs"][0]["id"], "--location", "档案室 1号柜")
    listed = run("disc", "list").stdout
    assert "档案室 1号柜" in listed and "原盘不外借" in listed
    js = run_json("disc", "list")
    assert js["discs"][0]["location"] == "档案室 1号柜" and "never lent" in js["note"]
    broken = tmp / "broken"
    (broken / "data").mkdir(parents=True)
    res = run_json("disc", "verify", str(broken), code=1)
    assert not res["ok"] and {"no-declaration", "no-disc-manifest"} <= {
        p["code"] for p in res["problems"]}
