"""Runs proportional to what changed (issue 17): 'retention run' reads what changed or fell
due since its last run, with nothing falling through; 'retention check' reads a rotating
slice so that every lock is read within the configured days; each says what it covered."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from retention import engine as engine_module
from tests.support.office import office  # noqa: F401  (a fixture)
from tests.support.retention import clock, make_team  # noqa: F401  (clock: a fixture)
from tests.support.stores import local_store


@pytest.fixture
def team(tmp_path, catalog, clock):
    # MongoDB's runs read the last ``cursor_overlap`` changes again (a write lands a moment
    # after taking its number): these tests count exact reads, so none here
    catalog.cursor_overlap = 0
    with local_store(tmp_path) as store:
        yield make_team(tmp_path, catalog, store, clock)


def _run(team, **kw):
    report = team.engine.run(team["AR1"], **kw)
    return report, report.coverage


def test_a_run_reads_what_changed_and_what_fell_due_and_nothing_else(team, clock):
    a, b, c = team.put(), team.put(), team.put()
    _, cov = _run(team)
    assert cov["mode"] == "full" and cov["reason"] == "no earlier run"
    assert cov["items_read"] == 3 and cov["last_full_sweep"]
    first_sweep = cov["last_full_sweep"]
    # the first run recorded each item's rule: its own changes are read once more
    assert _run(team)[1]["items_read"] == 3
    # nothing changed: nothing read
    _, cov = _run(team)
    assert cov["mode"] == "incremental" and cov["items_read"] == 0
    assert cov["last_full_sweep"] == first_sweep
    # one item's state changed: that one
    item = team.catalog.get_item(b)
    item.events.append({"type": "note", "at": "2026-01-01T00:00:00Z"})
    team.catalog.save_state(item)
    _, cov = _run(team)
    assert cov["items_read"] == 1
    # a's date comes within the expiring window: it is read and listed, then as a candidate
    until = team.catalog.get_item(a).retain_until
    for x in (b, c):  # later than a, so that a alone falls due
        item = team.catalog.get_item(x)
        item.retain_until = until + timedelta(days=400)
        team.catalog.save_state(item)
    _run(team)
    clock.now[0] = until - timedelta(days=10)
    report, cov = _run(team)
    assert cov["items_read"] == 1 and [r["item"] for r in report.expiring] == [a]
    clock.now[0] = until + timedelta(days=1)
    report, cov = _run(team)
    assert cov["items_read"] == 1 and [r["item"] for r in report.candidates] == [a]
    _, cov = _run(team)  # listed once; --all lists every candidate again
    assert cov["items_read"] == 0
    report, cov = _run(team, full=True)
    assert cov["mode"] == "full" and cov["reason"] == "--all" and cov["items_read"] == 3
    assert [r["item"] for r in report.candidates] == [a]
    assert cov["last_full_sweep"] != first_sweep


def test_a_case_written_since_the_last_run_brings_its_items(team):
    a, _b = team.put(case_id="SJ-7"), team.put()
    _run(team), _run(team)  # the second reads the first one's own changes
    team.catalog.put_record("cases", "SJ-7", {"id": "SJ-7", "type": "general",
                                              "unit": "market-001", "opened": "2026-01-05"})
    report, cov = _run(team)
    assert cov["items_read"] == 1
    assert [c["item"] for c in report.changed] == [a]  # now held by the register's case


def test_changed_rules_send_the_next_run_over_everything(team):
    team.put(), team.put()
    _run(team), _run(team)
    team.engine.settings.units["market-001"]["routine_months"] += 1
    _, cov = _run(team)
    assert cov["mode"] == "full" and cov["reason"] == "the retention rules changed"
    assert cov["items_read"] == 2
    _run(team)
    assert _run(team)[1]["items_read"] == 0


def test_a_what_if_reads_everything_and_moves_no_cursor(team, clock):
    team.put()
    _run(team), _run(team)
    report = team.engine.run(None, clock() + timedelta(days=3000))
    assert report.coverage["mode"] == "full" and len(report.candidates) == 1
    assert _run(team)[1]["items_read"] == 0


def test_the_check_reads_a_rotating_slice_and_every_lock_within_the_days(team, clock,
                                                                          monkeypatch):
    monkeypatch.setattr(engine_module, "CHECK_MIN_SLICE", 1)
    team.engine.check_within_days = 3
    ids = sorted(team.put() for _ in range(6))
    _run(team)  # the locks the rules require
    seen = []
    for day in range(3):
        out = team.engine.check_run()
        cov = out["coverage"]
        assert out["problems"] == [] and cov["mode"] == "slice"
        seen += [i for i in ids if cov["from"] <= i <= cov["to"]]
        assert cov["sweep_complete"] is (day == 2)
        clock.now[0] += timedelta(days=1)
    assert seen == ids  # each once, within the three days
    assert cov["last_full_sweep"] is not None and cov["sweep_read"] == 6
    # a run late in the sweep reads all that is left: the days are a promise
    first = team.engine.check_run()["coverage"]
    clock.now[0] += timedelta(days=2, hours=12)
    last = team.engine.check_run()["coverage"]
    assert first["items_read"] == 2 and last["items_read"] == 4 and last["sweep_complete"]
    full = team.engine.check_run(full=True)["coverage"]
    assert full["mode"] == "full" and full["items_read"] == 6


def test_year_statistics_are_given_again_until_something_of_the_year_changes(team):
    from reports.statistics import year_report

    a = team.put()
    old = team.put(start=datetime(2024, 6, 1, 2, tzinfo=timezone.utc))
    settings, cat = team.engine.settings, team.catalog
    year = team.catalog.get_item(a).description.recorded_start.year

    def report(**kw):
        stats = year_report(cat, settings, year, None, frozenset(), **kw)
        return stats, stats.pop("coverage")

    first, cov = report()
    assert cov["mode"] == "full" and cov["reason"] == "no earlier report"
    again, cov = report()
    assert cov["mode"] == "cached" and again == first
    item = cat.get_item(old)  # another year's item: the figures stand
    item.events.append({"type": "note", "at": "2026-01-01T00:00:00Z"})
    cat.save_state(item)
    cov = report()[1]
    assert cov["mode"] == "cached" and cov["items_read"] == 1
    assert report()[1]["items_read"] == 0  # read up to there already
    item = cat.get_item(a)  # this year's: brought up to date from that item alone
    item.status = "attention"
    cat.save_state(item)
    fresh, cov = report()
    assert cov["mode"] == "incremental" and cov["reason"] == "items of the year changed"
    assert cov["items_read"] == 1
    assert fresh["totals"]["by_status"] == {"attention": 1}
    cat.put_record("devices", "DSJ-1", {"id": "DSJ-1", "unit": "market-001"})
    assert report()[1]["reason"] == "the devices register changed"
    assert report(full=True)[1]["reason"] == "--all"


def test_the_commands_state_their_coverage_and_take_all(office):  # noqa: F811
    import os

    import bootstrap
    from archive import people
    from archive.domain.model import Description
    from config import settings
    from tests.support.cli import run, run_json

    archive = bootstrap.open_archive(settings.load())
    actor = people.acting_person(archive.catalog)
    start = datetime.now(timezone.utc) - timedelta(hours=3)
    d = Description(kind="video", unit="market-001", device_id="DSJ-1", officers=["OF1"],
                    recorded_start=start, recorded_end=start + timedelta(minutes=1))
    archive.archive_stream([os.urandom(1500)], d, actor,
                           datetime.now(timezone.utc) + timedelta(days=200))
    archive.finish_command()
    archive.catalog.close()
    office.setenv("CUSTODY_ACT_AS", "AR1")
    assert run_json("retention", "run")["coverage"]["mode"] == "full"
    run("retention", "run")
    out = run("retention", "run").stdout
    assert "coverage: 0 items read: changed since the last run" in out
    assert run_json("retention", "run", "--all")["coverage"]["reason"] == "--all"
    check = run_json("retention", "check")
    assert check["coverage"]["mode"] == "slice" and check["coverage"]["sweep_complete"]
    assert run_json("retention", "check", "--all")["coverage"]["mode"] == "full"
    year = str(start.year)
    assert run_json("report", "--year", year)["coverage"]["mode"] == "full"
    assert run_json("report", "--year", year)["coverage"]["mode"] == "cached"
    assert "Coverage: every item of the year read (--all)" in run(
        "report", "--year", year, "--all").stdout
