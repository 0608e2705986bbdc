"""Cases, flags, holds and promotion, applied to both WORM stores and both catalogs."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from archive.domain.errors import IdentityError, InputError, LockNotConfirmed, NotFound
from archive.domain.model import parse_iso
from retention import cases, flags
from retention.engine import RetentionEngine
from tests.support.retention import make_team, register


@pytest.fixture
def team(tmp_path, catalog, store):
    return make_team(tmp_path, catalog, store)


def store_lock(team, item_id):
    item = team.archive.item(item_id)
    obj = item.storage["object"]
    return team.store.lock(obj["key"], obj["version_id"])


def test_case_holds_while_open_and_dates_on_closure(team, tmp_path):
    register(team, tmp_path, [{"id": "SJ-1", "type": "general", "unit": "market-001",
                               "opened": "2026-01-05"}])
    a, b = team.put(), team.put()
    out = cases.link(team.engine, team["OF1"], [a], "SJ-1")
    assert out["linked"] == [a]
    item = team.archive.item(a)
    assert item.tier == "case" and item.legal_hold
    assert store_lock(team, a).legal_hold
    assert item.retention["holds"] == ["case SJ-1 is open"]
    assert not team.archive.item(b).legal_hold

    with pytest.raises(InputError, match="before it opened"):
        cases.close(team.engine, team["AR1"], "SJ-1", date(2026, 1, 1))
    with pytest.raises(InputError, match="in the future"):
        cases.close(team.engine, team["AR1"], "SJ-1", date.today() + timedelta(days=3))
    with pytest.raises(IdentityError, match="takes the role"):
        cases.close(team.engine, team["OF1"], "SJ-1", date(2026, 5, 10))
    cases.close(team.engine, team["AR1"], "SJ-1", date(2026, 5, 10))
    item = team.archive.item(a)
    assert not item.legal_hold and not store_lock(team, a).legal_hold
    assert item.retain_until.astimezone(team.engine.zone("market-001")).date() == \
        date(2037, 1, 1)
    lock = store_lock(team, a)
    assert lock.retain_until >= item.retain_until
    for m in item.storage["manifests"]:  # metadata versions are kept as long as the item
        assert team.store.lock(m["key"], m["version_id"]).retain_until >= item.retain_until
    with pytest.raises(InputError, match="already closed"):
        cases.close(team.engine, team["AR1"], "SJ-1", date(2026, 5, 11))
    actions = [e.action for e in team.catalog.ledger_entries()]
    assert "case-close" in actions and actions.count("retention") >= 2


def test_item_naming_its_case_at_ingest_is_held_until_the_register_closes_it(team, tmp_path):
    a = team.put(case_id="SJ-9")
    team.engine.run(team["AR1"])
    assert team.archive.item(a).retention["holds"] == [
        "case SJ-9 is not in the case register"]
    register(team, tmp_path, [{"id": "SJ-9", "type": "major", "unit": "market-001",
                               "opened": "2026-01-05", "closed": "2026-02-01"}])
    item = team.archive.item(a)
    assert not item.legal_hold and item.tier == "case" and item.retention["period"] == "30y"


def test_register_refuses_lowering_and_lists_every_problem(team, tmp_path):
    register(team, tmp_path, [{"id": "SJ-2", "type": "major", "unit": "market-001",
                               "opened": "2026-01-05", "closed": "2026-02-01"}])
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([
        {"id": "SJ-2", "type": "general", "unit": "market-001", "closed": "2026-02-01"},
        {"id": "SJ-3", "type": "nonsense", "unit": "market-001"},
        {"id": "SJ-4", "type": "general", "unit": "nowhere"},
        {"id": "SJ-5", "type": "general", "unit": "market-001", "opened": "2026-05-01",
         "closed": "2026-04-01"},
    ]), encoding="utf-8")
    with pytest.raises(cases.RegisterProblems) as err:
        cases.import_register(team.engine, team["AR1"], path)
    problems = err.value.problems
    assert [p["line"] for p in problems] == [1, 2, 3, 4]
    assert "would lower retention" in problems[0]["message"]
    assert team.catalog.get_record("cases", "SJ-3") is None  # nothing imported
    assert team.catalog.get_record("cases", "SJ-2")["type"] == "major"


def test_flag_covers_the_activity_holds_and_confirm_makes_permanent(team):
    a = team.put(activity_id="ACT-1", device_id="DSJ-1")
    b = team.put(activity_id="ACT-1", device_id="DSJ-2")
    c = team.put(activity_id="ACT-2")
    doc = flags.raise_flag(team.engine, team["OF1"], a, "assault", "殴打执法人员")
    assert set(doc["items"]) == {a, b}
    for i in (a, b):
        assert team.archive.item(i).legal_hold and store_lock(team, i).legal_hold
    assert not team.archive.item(c).legal_hold
    before = store_lock(team, a).retain_until

    with pytest.raises(IdentityError, match="takes the role"):
        flags.confirm(team.engine, team["AR1"], doc["id"])
    flags.confirm(team.engine, team["AP1"], doc["id"])
    item = team.archive.item(a)
    assert item.tier == "permanent" and item.retention["permanent"]
    lock = store_lock(team, a)
    assert lock.retain_until > before + timedelta(days=365 * 45) and lock.legal_hold
    with pytest.raises(InputError, match="cannot be withdrawn"):
        flags.withdraw(team.engine, team["OF1"], doc["id"], None)
    # a late offload of the same incident joins the flag on the next run
    late = team.put(activity_id="ACT-1", device_id="DSJ-3")
    assert team.archive.item(late).tier == "routine"
    team.engine.run(team["AR1"])
    assert team.archive.item(late).tier == "permanent"


def test_confirming_takes_a_second_person(team):
    a = team.put()
    doc = flags.raise_flag(team.engine, team["AP1"], a, "objection")
    with pytest.raises(IdentityError, match="second person"):
        flags.confirm(team.engine, team["AP1"], doc["id"])
    assert team.archive.item(a).tier == "routine"


def test_withdraw_releases_only_when_no_reason_is_left(team, tmp_path):
    register(team, tmp_path, [{"id": "SJ-1", "type": "general", "unit": "market-001"}])
    a = team.put()
    cases.link(team.engine, team["OF1"], [a], "SJ-1")
    f1 = flags.raise_flag(team.engine, team["OF1"], a, "complaint")
    f2 = flags.raise_flag(team.engine, team["AR1"], a, "petition")
    with pytest.raises(IdentityError, match="takes the role"):  # not theirs, not an approver
        flags.withdraw(team.engine, team["AR1"], f1["id"], "wrong item")
    flags.withdraw(team.engine, team["OF1"], f1["id"], "wrong item")
    assert team.archive.item(a).legal_hold and store_lock(team, a).legal_hold
    flags.withdraw(team.engine, team["AR1"], f2["id"], None)
    assert team.archive.item(a).retention["holds"] == ["case SJ-1 is open"]
    assert store_lock(team, a).legal_hold
    cases.close(team.engine, team["AR1"], "SJ-1", date(2026, 6, 1))
    assert not store_lock(team, a).legal_hold


def test_shared_object_keeps_the_longest_lock_and_any_hold(team, tmp_path):
    data = b"same bytes offloaded for two cases" * 100
    a = team.put(data=data, party="甲")
    b = team.put(data=data, party="乙")
    assert team.archive.item(a).sha256 == team.archive.item(b).sha256
    register(team, tmp_path, [{"id": "SJ-1", "type": "general", "unit": "market-001"}])
    cases.link(team.engine, team["OF1"], [a], "SJ-1")
    assert store_lock(team, b).legal_hold  # one object: held for a
    flags.confirm(team.engine, team["AP1"],
                  flags.raise_flag(team.engine, team["OF1"], b, "review")["id"])
    cases.close(team.engine, team["AR1"], "SJ-1", date(2026, 6, 1))
    lock = store_lock(team, a)
    assert lock.legal_hold  # b's confirmed flag still holds the object
    assert lock.retain_until >= team.archive.item(b).retain_until


def test_permanent_evidence_unit_raises_an_evidence_flag(team, tmp_path):
    register(team, tmp_path, [{"id": "GZ-1", "type": "general", "unit": "resources-001"}])
    a = team.put(unit="resources-001")
    out = cases.link(team.engine, team["OF1"], [a], "GZ-1")
    assert len(out["evidence_flags"]) == 1
    with pytest.raises(InputError, match="evidence is kept permanently"):
        flags.raise_flag(team.engine, team["OF1"], team.put(), "evidence")
    flags.confirm(team.engine, team["AP2"], out["evidence_flags"][0])
    assert team.archive.item(a).tier == "permanent"


def test_run_is_idempotent_and_check_finds_weak_locks(team, tmp_path):
    a = team.put()
    first = team.engine.run(team["AR1"])
    assert team.engine.run(team["AR1"]).changed == []
    # the rule recorded on the item (a refreshed wording when the ingest lock already fits)
    assert [c["item"] for c in first.changed] + first.refreshed == [a]
    assert team.engine.check() == []
    register(team, tmp_path, [{"id": "SJ-1", "type": "general", "unit": "market-001"}])
    # the register links the case by hand in the catalog only: the store knows nothing
    item = team.archive.item(a)
    item.retention = {**item.retention, "cases": ["SJ-1"]}
    team.catalog.save_state(item)
    problems = team.engine.check()
    assert {p["code"] for p in problems} == {"hold-missing"}
    assert {p["what"] for p in problems} == {"object", "metadata v1"}
    team.engine.run(team["AR1"])
    assert team.engine.check() == []


def test_what_if_applies_nothing(team):
    a = team.put()
    far = parse_iso("2030-01-01T00:00:00Z")
    report = team.engine.run(None, far)
    assert not report.applied and [c["item"] for c in report.candidates] == [a]
    assert team.archive.item(a).retention == {}


def test_unconfirmed_lock_is_not_recorded(team, monkeypatch, tmp_path):
    register(team, tmp_path, [{"id": "SJ-1", "type": "general", "unit": "market-001"}])
    a = team.put()
    monkeypatch.setattr(team.store, "set_legal_hold", lambda key, vid, on: store_lock(team, a))
    with pytest.raises(LockNotConfirmed):
        cases.link(team.engine, team["OF1"], [a], "SJ-1")
    assert not team.archive.item(a).legal_hold  # the catalog never claims what the store lacks


def test_unknown_case_and_item(team):
    with pytest.raises(NotFound, match="import it first"):
        cases.link(team.engine, team["OF1"], [team.put()], "NOPE")


def test_a_permanent_lock_is_renewed_long_before_it_runs_out(tmp_path, catalog, store):
    from datetime import datetime, timezone

    team = make_team(tmp_path, catalog, store)
    a = team.put()
    flags.confirm(team.engine, team["AP1"],
                  flags.raise_flag(team.engine, team["OF1"], a, "litigation")["id"])
    first = store_lock(team, a).retain_until
    assert team.engine.run(team["AR1"]).changed == []  # 50 years ahead: nothing due
    # 95 years on, by the engine's clock: fewer than renew_within_years (10) remain
    later = datetime.now(timezone.utc) + timedelta(days=365 * 95)
    aged = RetentionEngine(team.archive, team.engine.settings, clock=lambda: later)
    report = aged.run(team["AR1"])
    assert [c["item"] for c in report.changed] == [a]
    renewed = store_lock(team, a).retain_until
    assert renewed > first + timedelta(days=365 * 90) and store_lock(team, a).legal_hold
    recorded = team.archive.item(a).retain_until  # S3 keeps milliseconds, rounded up
    assert recorded <= renewed < recorded + timedelta(seconds=1)
