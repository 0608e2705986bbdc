"""Disposal appraisal (鉴定): a rehearsal that changes nothing, the list as appraisers read it
(masked), items rejected by an appraiser or taken out by the proposer, items held by open
inspection findings and failed verifications, the appraisal opinion in the 销毁清册, what the
register says on each destroyed item, and destroyed 档号 marked and never given again: on both
WORM stores and both catalogs, with real expiry (locks of a few seconds)."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone

import pytest

from archive.catalog.base import Query
from archive.domain.errors import IdentityError, InputError
from archive.domain.model import Description
from archive.verification import inspect_lot, record_finding
from retention import codes, cycle, disposal, transfer
from tests.support.cycle import policy
from tests.support.damage import damage
from tests.support.retention import make_team

OLD = datetime(2025, 1, 2, 1, 0, tzinfo=timezone.utc)
LOCK_S = 8  # long enough for the steps before the proposal on a busy machine


@pytest.fixture
def team(tmp_path, catalog, store):
    return make_team(tmp_path, catalog, store)


def old_item(team, n: int = 0, **fields) -> str:
    """Recorded and archived in January 2025 (routine 6 months: long expired); its store lock
    runs out in a few seconds."""
    start = OLD + timedelta(minutes=n)
    d = Description(kind="video", unit="market-001", device_id="DSJ-1", officers=["OF1"],
                    recorded_start=start, recorded_end=start + timedelta(minutes=5),
                    party=fields.pop("party", "王五"), cause="无照经营", **fields)
    until = datetime.now(timezone.utc) + timedelta(seconds=LOCK_S)
    item = team.archive.archive_stream([os.urandom(1500)], d, team.setup.actor, until).item
    item.ingested_at = OLD + timedelta(days=1)
    team.catalog.save_state(item)
    return item.id


def _finalize_2025(team, tmp_path) -> dict:
    now = datetime.now(timezone.utc)
    transfer.prepare(team.archive, team["AR1"], policy(), 2025, tmp_path / "out", now)
    transfer.accept(team.archive, team["AR2"], 2025, now)
    return cycle.finalize(team.archive, team["AR1"], policy(), 2025, tmp_path / "work", now)


def test_appraisal_rehearsal_rejection_take_out_holds_and_the_register(team, tmp_path):
    plain = old_item(team, 1)
    secret = old_item(team, 2, party="李四", confidential="personal-privacy")
    kept = old_item(team, 3)
    taken = old_item(team, 4)
    noted = old_item(team, 5)  # an auditor's finding on it before the proposal
    broken = old_item(team, 6)  # fails verification before the proposal
    late_fail = old_item(team, 7)  # fails verification after the proposal
    fresh = team.put()  # routine six months from now
    first_codes = {d["item"]: d for d in _finalize_2025(team, tmp_path)["new_codes"]}
    # the auditor plays the recording their sampled inspection drew, and records a finding
    inspect_lot(team.archive, team["AU1"], [noted], {"query": "test"}, everything=True)
    record_finding(team.archive, team["AU1"], noted, "late-start", "开始过晚")
    obj = team.archive.item(broken).storage["object"]
    damage(team.store, obj["key"], obj["version_id"])
    inspect_lot(team.archive, team["AU1"], [broken], {"query": "test"}, everything=True)

    # a rehearsal a year ahead: next year's disposal, and nothing proposed or recorded
    entries = len(list(team.catalog.ledger_entries()))
    ahead = disposal.propose(team.engine, team["AR1"],
                             datetime.now(timezone.utc) + timedelta(days=400))
    assert ahead["rehearsal"] and fresh in {e["item"] for e in ahead["items"]}
    assert {h["item"] for h in ahead["held"]} == {noted, broken}
    assert len(list(team.catalog.ledger_entries())) == entries
    assert team.catalog.list_records("disposals") == []
    with pytest.raises(IdentityError, match="takes the role"):
        disposal.propose(team.engine, team["OF1"], datetime.now(timezone.utc))
    with pytest.raises(InputError, match="nothing is due"):
        disposal.propose(team.engine, team["AR1"])  # the store locks have not run out yet
    time.sleep(LOCK_S + 1)

    doc = disposal.propose(team.engine, team["AR1"])
    assert {e["item"] for e in doc["items"]} == {plain, secret, kept, taken, late_fail}
    held = {h["item"]: h["reason"] for h in doc["held"]}
    assert "open inspection finding" in held[noted] and "开始过晚" in held[noted]
    assert "failed verification" in held[broken] and "digest-mismatch" in held[broken]

    # the appraisers read the list: 档号, 题名, party masked where they lack the clearance
    shown = disposal.show(team.engine, team["AP1"], doc["id"])
    rows = {r["item"]: r for r in shown["rows"]}
    assert rows[plain]["code"] == first_codes[plain]["code"]
    assert rows[plain]["party"] == "王五" and "王五 无照经营" in rows[plain]["title"]
    assert rows[secret]["party"] == "***" and rows[secret]["rule"] == "***"
    assert {r["decision"] for r in shown["rows"]} == {"to-destroy"}

    with pytest.raises(IdentityError, match="only they take items out"):
        disposal.take_out(team.engine, team["AR2"], doc["id"], [taken], "误列")
    disposal.take_out(team.engine, team["AR1"], doc["id"], [taken], "尚需核查")
    with pytest.raises(InputError, match="not on list"):
        disposal.approve(team.engine, team["AP1"], doc["id"], None, [(fresh, "x")])
    with pytest.raises(InputError, match="needs a reason"):
        disposal.approve(team.engine, team["AP1"], doc["id"], None, [(kept, " ")])
    disposal.approve(team.engine, team["AP1"], doc["id"], "同意", [(kept, "仍有保存价值")])
    with pytest.raises(InputError, match="already appraised"):
        disposal.reject(team.engine, team["AP1"], doc["id"], "改变主意")
    after = disposal.approve(team.engine, team["AP2"], doc["id"], "同意")
    assert after["state"] == "approved"
    decisions = {r["item"]: r for r in after["rows"]}
    assert decisions[kept]["decision"] == "rejected" and "仍有保存价值" in \
        decisions[kept]["reason"]
    assert decisions[taken]["decision"] == "taken-out"
    for p in ("AU1", "AU2"):
        disposal.witness(team.engine, team[p], doc["id"])
    # found failing after the proposal: held at execution
    obj = team.archive.item(late_fail).storage["object"]
    damage(team.store, obj["key"], obj["version_id"])
    inspect_lot(team.archive, team["AU1"], [late_fail], {"query": "test"}, everything=True)

    result = disposal.execute(team.engine, team["AR2"], doc["id"], ["AU1", "AU2"])
    assert {t["id"] for t in result["destroyed"]} == {plain, secret}
    left = {x["item"]: x["reason"] for x in result["left"]}
    assert left[kept] == "rejected by AP1: 仍有保存价值"
    assert left[taken] == "taken out by AR1: 尚需核查"
    assert "failed verification" in left[late_fail]
    for item_id in (kept, taken, late_fail, noted, broken):
        assert team.archive.item(item_id).status != "disposed"
    text = result["register"]["text_zh"]
    assert "鉴定意见" in text and f"不同意销毁 {kept}：仍有保存价值" in text
    assert f"AR1（提出人）撤出 {taken}：尚需核查" in text

    # what the 销毁清册 says, on the destroyed item itself
    gone = team.archive.item(plain).retention["disposal"]
    assert gone["list"] == doc["id"] and gone["register"]["key"] == result["register"]["key"]
    assert gone["witnesses"] == ["AU1", "AU2"] and gone["appraisers"] == ["AP1", "AP2"]
    assert gone["entry"]["party"] == "王*" and gone["entry"]["sha256"] == \
        team.archive.item(plain).sha256
    assert gone["decision"] == "经鉴定小组AP1、AP2鉴定同意销毁"

    # the destroyed 档号 is marked, and never given again
    year = {d["item"]: d for d in codes.codes_of_year(team.catalog, 2025)}
    assert year[plain]["destroyed"]["list"] == doc["id"]
    assert "destroyed" not in year[kept]
    late = old_item(team, 30)
    out = _finalize_2025(team, tmp_path)
    numbers = [d["number"] for d in first_codes.values()]
    assert [(d["item"], d["number"]) for d in out["new_codes"]] == [(late, max(numbers) + 1)]
    key = f"{out['manifest']['prefix']}/data/catalogue-zh.txt"  # the new 归档目录 says so
    listing = team.store.read_bytes(key, team.store.versions(key)[0]).decode("utf-8")
    line = next(x for x in listing.splitlines() if plain in x)
    assert "已销毁" in line and doc["id"] in line and "档号不再使用" in line
    assert team.archive.item(plain).status == "disposed"
    assert plain not in {i.id for i in team.catalog.iter_items(Query())
                         if i.status != "disposed"}

    # the rest again: the whole list rejected by an appraiser, nothing destroyed
    again = disposal.propose(team.engine, team["AR1"])
    assert {e["item"] for e in again["items"]} >= {kept, taken}
    rejected = disposal.reject(team.engine, team["AP3"], again["id"], "全部仍需保存")
    assert rejected["state"] == "rejected"
    assert {r["decision"] for r in rejected["rows"]} == {"rejected"}
    with pytest.raises(InputError, match="rejected"):
        disposal.execute(team.engine, team["AR2"], again["id"], ["AU1", "AU2"])
    assert team.archive.verify_ledger().ok
