"""people, verify, inspect and inspections through the command line."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pytest

import bootstrap
from archive import people
from archive.domain.model import Description
from config import settings
from tests.support.cli import held_keys_home, run, run_json  # noqa: F401


@pytest.fixture
def team(tmp_path, monkeypatch):
    """An archive with an administrator and an auditor whose keys the test holds."""
    held_keys_home(tmp_path, monkeypatch)
    run("people", "add", "A01", "--name", "审计员甲", "--account", "auditor1",
        "--role", "auditor")
    archive = bootstrap.open_archive(settings.load())
    actor = people.acting_person(archive.catalog)
    until = datetime.now(timezone.utc) + timedelta(days=30)
    for n in range(30):
        start = datetime(2026, 3, 1, 1, tzinfo=timezone.utc) + timedelta(hours=n)
        archive.archive_stream([os.urandom(2000)], Description(
            kind="photo", unit="market-001", device_id="D1", officers=["P1"],
            recorded_start=start, recorded_end=start, party="王五"), actor, until)
    archive.finish_command()
    archive.catalog.close()
    yield monkeypatch
    from tests.support.worm import release_all_for_tests

    release_all_for_tests(tmp_path)


def test_people_commands(team):
    listed = run_json("people", "list")["people"]
    assert {p["id"] for p in listed} == {"admin", "A01"}
    run("people", "rekey", "A01")
    assert {p["id"]: p["keys"] for p in run_json("people", "list")["people"]}["A01"] == 2
    run("people", "disable", "A01")
    team.setenv("CUSTODY_ACT_AS", "A01")
    assert "disabled" in run("verify", "--year", "2026", code=2).stderr
    team.delenv("CUSTODY_ACT_AS")
    run("people", "enable", "A01")
    assert "nobody disables themselves" in run("people", "disable", "admin", code=2).stderr
    team.setenv("CUSTODY_ACT_AS", "A01")
    assert "may not add people" in run("people", "add", "X", "--name", "x", "--account", "x",
                                       "--role", "auditor", code=2).stderr


def test_verify_year_and_query(team):
    assert "takes the role auditor" in run("verify", "--year", "2026", code=2).stderr
    team.setenv("CUSTODY_ACT_AS", "A01")
    out = run_json("verify", "--year", "2026", "--seed", "42")
    assert out["lot"] == {"year": 2026, "size": 30}
    assert out["plan"]["code_letter"] == "D" and len(out["items"]) == 8
    assert out["by"] == "A01" and out["summary"]["failed"] == []
    again = run_json("verify", "--year", "2026", "--seed", "42")
    assert again["items"] == out["items"]
    q = run_json("verify", "--query", "unit=market-001 from=2026-03-01T09:00+08:00 "
                 "to=2026-03-01T12:00+08:00", "--all")
    assert q["lot"]["size"] == 3 and len(q["items"]) == 3
    assert "不合格 0" in run("verify", "--year", "2026", "--sample", "2").stdout
    assert run_json("verify", "--year", "2025", code=2)["error"] == "bad-input"  # empty lot
    assert "one of them" in run("verify", code=2).stderr
    assert "KEY=VALUE" in run("verify", "--query", "colour=red", code=2).stderr
    listed = run_json("inspections", "list")["inspections"]
    assert len(listed) == 4 and all(i["type"] == "sampled-verification" for i in listed)
    text = run("inspections", "show", out["id"]).stdout
    assert "检查台帐" in text and "随机种子 42" in text and "样本量字码 D" in text
    assert "抽样机读检验" in run("inspections", "list").stdout
    item = out["items"][0]
    spot = run_json("inspect", item, "--finding", "late-start", "--note", "开始过晚")
    assert spot["finding_zh"] == "录像开始过晚"
    assert run_json("audit", "verify")["ok"]
