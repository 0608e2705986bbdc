"""The items of a case (named by their description or linked), the evidence flag a unit whose
evidence is permanent gives them either way, and a retention run that reports only real
changes, field by field: on both WORM stores and both catalogs."""

from __future__ import annotations

import pytest

from archive.domain.errors import IdentityError
from retention import cases, flags
from tests.support.retention import make_team, register


@pytest.fixture
def team(tmp_path, catalog, store):
    return make_team(tmp_path, catalog, store)


def test_the_items_of_a_case_are_those_naming_it_and_those_linked(team, tmp_path):
    register(team, tmp_path, [{"id": "SJ-1", "type": "general", "unit": "market-001",
                               "opened": "2026-01-05"},
                              {"id": "SJ-2", "type": "general", "unit": "market-001"}])
    named = [team.put(case_id="SJ-1") for _ in range(2)]
    linked = team.put()
    cases.link(team.engine, team["OF1"], [linked], "SJ-1")
    listed = {d["id"]: d for d in cases.list_cases(team.engine)}
    assert sorted(listed["SJ-1"]["items"]) == sorted(named + [linked])
    assert listed["SJ-1"]["linked"] == [linked]
    assert listed["SJ-2"]["items"] == []
    closed = cases.close(team.engine, team["AR1"], "SJ-1", cases.parse_day("2026-03-01"))
    assert sorted(closed["items"]) == sorted(named + [linked])
    for item_id in named + [linked]:
        item = team.archive.item(item_id)
        assert item.tier == "case" and item.retention["period"] == "10y"
        assert not item.legal_hold


def test_a_named_case_in_a_permanent_evidence_unit_gets_the_evidence_flag(team, tmp_path):
    # named before the case is in the register: the import raises the flag
    early = team.put(unit="resources-001", case_id="GZ-1")
    out = register(team, tmp_path, [{"id": "GZ-1", "type": "major",
                                     "unit": "resources-001", "opened": "2026-01-05"}])
    assert len(out["evidence_flags"]) == 1
    # named after: the next retention run raises it
    late = team.put(unit="resources-001", case_id="GZ-1")
    report = cases.run(team.engine, team["AR1"])
    assert len(report.evidence_flags) == 1
    # linked by hand: the same flag, once
    linked = team.put(unit="resources-001")
    assert len(cases.link(team.engine, team["OF1"], [linked], "GZ-1")["evidence_flags"]) == 1
    assert cases.run(team.engine, team["AR1"]).evidence_flags == []  # nothing raised twice
    for item_id in (early, late, linked):
        item = team.archive.item(item_id)
        docs = [team.engine.flag(f) for f in item.retention["flags"]]
        assert [(d["reason"], d["case_id"]) for d in docs] == [("evidence", "GZ-1")]
        assert item.tier == "case" and item.legal_hold
    # an item of a unit that keeps evidence by the case gets none
    register(team, tmp_path, [{"id": "SJ-3", "type": "general", "unit": "market-001"}])
    plain = team.put(case_id="SJ-3")
    cases.run(team.engine, team["AR1"])
    assert team.archive.item(plain).retention.get("flags", []) == []
    # confirmed by a second person: permanent, as for a linked item
    flag_id = team.archive.item(late).retention["flags"][0]
    flags.confirm(team.engine, team["AP1"], flag_id)
    assert team.archive.item(late).tier == "permanent"
    # withdrawn by a confirmer (not by whoever ran the rules): not raised again
    withdrawn = team.archive.item(early).retention["flags"][0]
    with pytest.raises(IdentityError, match="takes the role"):
        flags.withdraw(team.engine, team["AR1"], withdrawn, "mine to withdraw?")
    flags.withdraw(team.engine, team["AP1"], withdrawn, "not evidence after all")
    assert cases.run(team.engine, team["AR1"]).evidence_flags == []
    assert team.archive.item(early).retention["holds"] == ["case GZ-1 is open"]


def test_a_run_reports_only_real_changes_and_names_the_fields(team, tmp_path):
    register(team, tmp_path, [{"id": "SJ-1", "type": "general", "unit": "market-001",
                               "opened": "2026-01-05", "closed": "2026-02-01"},
                              {"id": "SJ-2", "type": "general", "unit": "market-001",
                               "opened": "2026-01-05"}])
    a = team.put()
    cases.run(team.engine, team["AR1"])
    again = cases.run(team.engine, team["AR1"])
    assert again.changed == [] and again.refreshed == []

    # only the rule's wording differs: refreshed, counted apart, not a change
    item = team.archive.item(a)
    item.retention = {**item.retention, "rule": "routine footage (an older wording)"}
    team.catalog.save_state(item)
    entries = len(list(team.catalog.ledger_entries()))
    report = cases.run(team.engine, team["AR1"])
    assert report.changed == [] and report.refreshed == [a]
    assert team.archive.item(a).retention["rule"].startswith("routine footage of market-001")
    assert len(list(team.catalog.ledger_entries())) == entries

    # an item naming a case closed before it arrived: the run gives it the case's period
    b = team.put(case_id="SJ-1")
    report = cases.run(team.engine, team["AR1"])
    assert [c["item"] for c in report.changed] == [b]
    fields = report.changed[0]["fields"]
    assert set(fields) == {"tier", "retain_until", "legal_hold", "period"}
    assert fields["tier"] == {"before": "routine", "after": "case"}
    assert fields["legal_hold"] == {"before": True, "after": False}
    assert fields["period"] == {"before": "6m", "after": "10y"}
    assert fields["retain_until"]["after"].startswith("2036-12-31T16:00")
    assert cases.run(team.engine, team["AR1"]).changed == []

    # a register update of an open case's type changes only the period its code carries
    c = team.put()
    cases.link(team.engine, team["OF1"], [c], "SJ-2")
    out = register(team, tmp_path, [{"id": "SJ-2", "type": "major", "unit": "market-001",
                                     "opened": "2026-01-05"}])
    assert [(x["item"], x["fields"]) for x in out["retention_changes"]] == [
        (c, {"period": {"before": "10y", "after": "30y"}})]
