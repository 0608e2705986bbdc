"""Appraisal per item (鉴定): an appraiser approves a disposal list except single items, each
rejected with a reason; the rejected items leave the list (recorded with the appraiser and the
reason, in the list, the 鉴定意见 and the 销毁清册) and are kept at the execution. The checks a
console asks before a passkey signs (``check_*``) refuse exactly as the decisions do, and record
their refusals. At the command line: ``dispose approve --reject ITEM REASON``."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone

import pytest

from archive.domain.errors import IdentityError, InputError
from archive.domain.model import Description
from retention import disposal
from tests.support.cli import run, run_json
from tests.support.office import office  # noqa: F401  (office: a fixture)
from tests.support.retention import make_team

OLD = datetime(2025, 1, 2, 1, 0, tzinfo=timezone.utc)
LOCK_S = 4


@pytest.fixture
def team(tmp_path, catalog, store):
    return make_team(tmp_path, catalog, store)


def _old_items(team, n: int) -> list[str]:
    """Recorded in January 2025 (routine: long expired); store locks that run out in a few
    seconds."""
    until = datetime.now(timezone.utc) + timedelta(seconds=LOCK_S)
    ids = []
    for i in range(n):
        start = OLD + timedelta(minutes=i)
        d = Description(kind="video", unit="market-001", device_id="DSJ-1", officers=["OF1"],
                        recorded_start=start, recorded_end=start + timedelta(minutes=5),
                        party="王五", cause="无照经营")
        item = team.archive.archive_stream([os.urandom(1200)], d, team.setup.actor, until).item
        item.ingested_at = OLD + timedelta(days=1)
        team.catalog.save_state(item)
        ids.append(item.id)
    time.sleep(LOCK_S + 0.5)
    return ids


def _refusals(team) -> int:
    return sum(1 for e in team.catalog.ledger_entries() if e.action == "refused")


def test_an_appraiser_rejects_single_items_with_reasons_and_they_are_kept(team):
    a, b, c = _old_items(team, 3)
    doc = disposal.propose(team.engine, team["AR1"])
    lid = doc["id"]
    out = disposal.approve(team.engine, team["AP1"], lid, "其余同意",
                           [(b, "  仍有保存价值 "), (c, "当事人已申请复议")])
    decisions = {r["item"]: r for r in out["rows"]}
    assert decisions[a]["decision"] == "to-destroy"
    assert decisions[b]["decision"] == "rejected"
    assert decisions[b]["reason"] == "rejected by 人员AP1（AP1）: 仍有保存价值"  # trimmed, with who
    assert out["state"] == "proposed"  # one appraisal of the two needed
    entry = [e for e in team.catalog.ledger_entries() if e.action == "dispose-approve"][-1]
    assert entry.details["rejected"] == [{"item": b, "reason": "仍有保存价值"},
                                         {"item": c, "reason": "当事人已申请复议"}]
    # the second appraiser approves the rest: approval of what is left is unchanged
    out = disposal.approve(team.engine, team["AP2"], lid, None)
    assert out["state"] == "approved"
    assert {r["item"]: r["decision"] for r in out["rows"]}[b] == "rejected"  # never overridden
    shown = disposal.show(team.engine, team["AU1"], lid)
    assert shown["appraisals"][0]["rejected"][0] == {"item": b, "reason": "仍有保存价值"}
    opinion = disposal.appraisal_opinion(team.catalog.get_record("disposals", lid))
    assert {(r["item"], r["by"]) for r in opinion["rejected"]} == {(b, "AP1"), (c, "AP1")}

    for p in ("AU1", "AU2"):
        disposal.witness(team.engine, team[p], lid)
    result = disposal.execute(team.engine, team["AR2"], lid, ["AU1", "AU2"])
    assert [t["id"] for t in result["destroyed"]] == [a]
    kept = {x["item"]: x for x in result["left"]}
    assert set(kept) == {b, c} and kept[b]["reason"] == "rejected by AP1: 仍有保存价值"
    assert "不同意销毁" in result["register"]["text_zh"] and "仍有保存价值" in \
        result["register"]["text_zh"]
    assert team.archive.item(b).status == "archived"
    assert team.archive.item(a).status == "disposed"
    assert team.archive.verify_ledger().ok


def test_every_item_rejected_one_by_one_leaves_nothing_to_destroy(team):
    a, b = _old_items(team, 2)
    lid = disposal.propose(team.engine, team["AR1"])["id"]
    out = disposal.approve(team.engine, team["AP1"], lid, None, [(a, "保留"), (b, "保留")])
    assert out["state"] == "rejected"
    with pytest.raises(InputError, match="rejected or every item"):
        disposal.check_execute(team.engine, team["AR2"], lid, ["AU1", "AU2"])
    with pytest.raises(InputError, match="nothing is left to witness"):
        disposal.check_witness(team.engine, team["AU1"], lid)


def test_the_checks_refuse_as_the_decisions_do_and_record_it(team):
    a, b = _old_items(team, 2)
    fresh_list = disposal.new_list_id()
    assert disposal.check_propose(team.engine, team["AR1"]) == [a, b] or \
        set(disposal.check_propose(team.engine, team["AR1"])) == {a, b}
    with pytest.raises(IdentityError, match="takes the role|role"):
        disposal.check_propose(team.engine, team["AP1"])
    lid = disposal.propose(team.engine, team["AR1"], None, fresh_list)["id"]
    assert lid == fresh_list
    with pytest.raises(InputError, match="not a new disposal list id"):
        disposal.propose(team.engine, team["AR1"], None, fresh_list)  # taken
    with pytest.raises(InputError, match="not a new disposal list id"):
        disposal.propose(team.engine, team["AR1"], None, "../x")

    before = _refusals(team)
    for check in (lambda: disposal.check_approve(team.engine, team["AR1"], lid),
                  lambda: disposal.approve(team.engine, team["AR1"], lid, None)):
        with pytest.raises(IdentityError, match="other people"):  # the proposer
            check()
    for check in (lambda: disposal.check_approve(team.engine, team["AU1"], lid),
                  lambda: disposal.check_reject(team.engine, team["AU1"], lid, "不")):
        with pytest.raises(IdentityError):  # not the appraiser role
            check()
    assert _refusals(team) == before + 4  # each refusal of who acts is recorded

    with pytest.raises(InputError, match="needs a reason"):
        disposal.check_approve(team.engine, team["AP1"], lid, [(a, "  ")])
    with pytest.raises(InputError, match="is not on list"):
        disposal.check_approve(team.engine, team["AP1"], lid, [("no-such-item", "x")])
    with pytest.raises(InputError, match="rejected twice"):
        disposal.approve(team.engine, team["AP1"], lid, None, [(a, "x"), (a, "y")])
    assert disposal.check_approve(team.engine, team["AP1"], lid, [(a, " 保留 ")]) == [
        {"item": a, "reason": "保留"}]
    assert team.catalog.get_record("disposals", lid)["approvals"] == []  # a check writes none

    disposal.approve(team.engine, team["AP1"], lid, None, [(a, "保留")])
    with pytest.raises(InputError, match="already appraised"):
        disposal.check_approve(team.engine, team["AP1"], lid)
    with pytest.raises(InputError, match="already appraised"):
        disposal.check_reject(team.engine, team["AP1"], lid, "改变主意")
    with pytest.raises(IdentityError, match="1 valid appraisal approvals of 2"):
        disposal.check_execute(team.engine, team["AR2"], lid, ["AU1", "AU2"])
    disposal.approve(team.engine, team["AP2"], lid, None)
    with pytest.raises(IdentityError, match="has not signed"):
        disposal.check_execute(team.engine, team["AR2"], lid, ["AU1", "AU2"])
    disposal.witness(team.engine, team["AU1"], lid)
    with pytest.raises(IdentityError, match="already signed their presence"):
        disposal.check_witness(team.engine, team["AU1"], lid)
    with pytest.raises(IdentityError, match="cannot witness"):
        disposal.check_witness(team.engine, team["AR1"], lid)
    disposal.witness(team.engine, team["AU2"], lid)
    assert disposal.witnesses_present(team.engine, lid) == ["AU1", "AU2"]
    assert disposal.check_execute(team.engine, team["AR2"], lid,
                                  ["AU1", "AU2", "AU1"]) == ["AU1", "AU2"]
    with pytest.raises(IdentityError, match="needs 2 witnesses"):
        disposal.check_execute(team.engine, team["AR2"], lid, ["AU1", "AU1"])
    assert all(team.archive.item(i).status == "archived" for i in (a, b))  # checks only


def _expired_cli_items(n: int) -> list[str]:
    import bootstrap
    from archive import people
    from config import settings

    archive = bootstrap.open_archive(settings.load())
    actor = people.acting_person(archive.catalog)
    until = datetime.now(timezone.utc) + timedelta(seconds=3)
    ids = []
    for i in range(n):
        start = OLD + timedelta(minutes=i)
        d = Description(kind="video", unit="market-001", device_id="DSJ-1", officers=["OF1"],
                        recorded_start=start, recorded_end=start + timedelta(minutes=1),
                        party="王五", cause="占道经营")
        item = archive.archive_stream([os.urandom(1500)], d, actor, until).item
        item.ingested_at = OLD + timedelta(days=1)
        archive.catalog.save_state(item)
        ids.append(item.id)
    archive.finish_command()
    archive.catalog.close()
    time.sleep(3.5)
    return ids


def test_dispose_approve_reject_at_the_command_line(office):  # noqa: F811
    a, b = _expired_cli_items(2)
    office.setenv("CUSTODY_ACT_AS", "AR1")
    lid = run_json("dispose", "propose")["id"]
    office.setenv("CUSTODY_ACT_AS", "AP1")
    refused = run("dispose", "approve", lid, "--reject", "no-such-item", "x", code=2).stderr
    assert "is not on list" in refused
    refused = run("dispose", "approve", lid, "--reject", a, " ", code=2).stderr
    assert "needs a reason" in refused
    out = run("dispose", "approve", lid, "--reject", a, "仍有保存价值").stdout
    assert a in out and "仍有保存价值" in out
    shown = run_json("dispose", "show", lid)
    rows = {r["item"]: r for r in shown["rows"]}
    assert rows[a]["decision"] == "rejected" and rows[b]["decision"] == "to-destroy"
    assert shown["appraisals"][0]["rejected"] == [{"item": a, "reason": "仍有保存价值"}]
    refused = run("dispose", "approve", lid, code=2).stderr
    assert "already appraised" in refused
    office.setenv("CUSTODY_ACT_AS", "AR1")
    assert "other people" in run("dispose", "approve", lid, code=2).stderr
