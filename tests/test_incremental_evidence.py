"""The evidence-flag step of 'retention run' in proportion to what changed (issue 17): it reads
the run's own incremental set (changed items, the items of cases written since, items that
fell due) instead of every item of the units that keep evidence permanently."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from retention import cases
from retention.engine import RUN_CURSOR
from tests.support.retention import clock, make_team, register  # noqa: F401  (clock: a fixture)
from tests.support.stores import local_store

UNIT = "resources-001"  # keeps evidence permanently (the default config)


@pytest.fixture
def team(tmp_path, catalog, clock):
    catalog.cursor_overlap = 0  # exact counts: MongoDB's overlap would read a few again
    with local_store(tmp_path) as store:
        yield make_team(tmp_path, catalog, store, clock)


def _run(team, **kw):
    report = cases.run(team.engine, team["AR1"], **kw)
    return report, report.coverage["evidence_items_read"]


def _flags(team, item_id):
    return [team.engine.flag(f) for f in team.archive.item(item_id).retention.get("flags", [])]


def test_the_evidence_step_reads_only_what_changed(team, tmp_path):
    assert team.engine.settings.units[UNIT]["evidence"] == "permanent"
    register(team, tmp_path, [{"id": "GZ-1", "type": "major", "unit": UNIT,
                               "opened": "2026-01-05"}])
    plain = [team.put(unit=UNIT) for _ in range(3)]
    team.put()  # market-001 keeps evidence by the case: never read by a full evidence sweep
    report, read = _run(team)
    assert report.coverage["mode"] == "full" and read == 3
    _run(team)  # reads the first run's own changes
    report, read = _run(team)
    assert read == 0 and report.evidence_flags == []
    # a new item naming the case: read alone, flagged
    named = team.put(unit=UNIT, case_id="GZ-1")
    report, read = _run(team)
    assert read == 1 and len(report.evidence_flags) == 1
    assert [(d["reason"], d["case_id"]) for d in _flags(team, named)] == [("evidence", "GZ-1")]
    # --all reads every item of the units again, and raises nothing twice
    report, read = _run(team, full=True)
    assert read == 4 and report.evidence_flags == []
    for item_id in plain:
        assert _flags(team, item_id) == []


def test_a_case_written_since_brings_its_items(team):
    early = team.put(unit=UNIT, case_id="GZ-2")  # names a case not yet in the register
    _run(team), _run(team)
    assert _run(team)[1] == 0 and _flags(team, early) == []
    # the register entry written straight into the catalog (not by 'case import', which
    # raises the flags itself): the next run reads the case's items
    team.catalog.put_record("cases", "GZ-2", {"id": "GZ-2", "type": "major", "unit": UNIT,
                                              "opened": "2026-01-05", "items": []})
    report, read = _run(team)
    assert read == 1 and len(report.evidence_flags) == 1
    assert _flags(team, early)[0]["case_id"] == "GZ-2"


def test_an_item_whose_date_falls_due_is_read_again(team, clock):
    """The due-date index is the net under the cursor: an item that somehow escaped it (here
    a cursor moved past the case's entry by hand) is read when its retain-until comes
    within the expiring days, before it can become a disposal candidate."""
    item_id = team.put(unit=UNIT, case_id="GZ-3")
    _run(team), _run(team)
    team.catalog.put_record("cases", "GZ-3", {"id": "GZ-3", "type": "major", "unit": UNIT,
                                              "opened": "2026-01-05", "items": []})
    cursor = team.catalog.get_record("meta", RUN_CURSOR)
    team.catalog.put_record("meta", RUN_CURSOR, cursor | {"seq": team.catalog.change_seq()})
    report, read = _run(team)
    assert read == 0 and report.evidence_flags == []  # escaped the cursor
    until = team.archive.item(item_id).retain_until
    assert until is not None
    clock.now[0] = until - timedelta(days=5)  # within the 30 expiring days
    report, read = _run(team)
    assert read == 1 and len(report.evidence_flags) == 1
    assert _flags(team, item_id)[0]["case_id"] == "GZ-3"


def test_a_what_if_raises_no_flag_and_reads_nothing_for_it(team, tmp_path):
    register(team, tmp_path, [{"id": "GZ-4", "type": "major", "unit": UNIT}])
    named = team.put(unit=UNIT, case_id="GZ-4")
    report = cases.run(team.engine, None, as_of=datetime.now(timezone.utc))
    assert report.evidence_flags == [] and report.coverage["evidence_items_read"] == 0
    assert _flags(team, named) == []
