"""The year statistics brought up to date from what changed (issue 17): after any changes the
figures equal a full read, on every catalog; a kept state that cannot be trusted (missing,
incomplete, of another form or configuration) is not used but computed anew."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import i18n
from archive.domain.errors import InputError
from archive.domain.model import Description, MetadataVersion
from config import settings as config
from reports import statistics
from tests.support.builders import T0, digests, make_item
from tests.support.catalogs import CATALOG_FACTORIES
from tests.support.language import chinese, english_phrases  # noqa: F401

YEAR = 2026
UNITS = ("market-001", "urban-001", None)
# the edges of 2026 in Shanghai and UTC, and the years either side
STARTS = (None, datetime(2025, 12, 31, 15, 59, tzinfo=timezone.utc),
          datetime(2025, 12, 31, 16, tzinfo=timezone.utc),
          datetime(2026, 3, 1, 1, tzinfo=timezone.utc),
          datetime(2026, 3, 1, 1, 20, 0, 123457, tzinfo=timezone.utc),
          datetime(2026, 12, 31, 15, 59, tzinfo=timezone.utc),
          datetime(2026, 12, 31, 16, tzinfo=timezone.utc),
          datetime(2027, 6, 1, tzinfo=timezone.utc))

description = st.fixed_dictionaries({
    "kind": st.sampled_from(("video", "audio", "photo", "document", "data")),
    "start": st.sampled_from(STARTS),
    "minutes": st.sampled_from((0, 1.5, 30, 61.25)),
    "unit": st.sampled_from(UNITS),
    "device_id": st.sampled_from((None, "DSJ-1", "DSJ-2")),
    "officers": st.lists(st.sampled_from(("P1", "P2", "P3")), max_size=2),
    "assisting": st.lists(st.sampled_from(("P2", "P9")), max_size=2),
    "activity_id": st.sampled_from((None, "A1", "A2")),
    "activity_type": st.sampled_from((None, "询问", "扣押", "日常巡查")),
    "case_id": st.sampled_from((None, "SJ-1", "SJ-2")),
    "important": st.booleans(),
    "confidential": st.sampled_from((None, "personal-privacy")),
    "extra": st.sampled_from(({}, {"document_type": "工作记录", "document_date": "2026-05-01"},
                              {"document_date": "2025-12-31"}, {"sequence": 3},
                              {"sequence": 7})),
})
state = st.fixed_dictionaries({
    "status": st.sampled_from(("archived", "attention", "pending-metadata")),
    "tier": st.sampled_from(("routine", "case", "permanent")),
    "checks": st.sampled_from(({}, {"deadline": {"late": True, "due": "2026-03-02T00:00:00Z"}},
                               {"virus": {"status": "clean"}}, {"format": {"damaged": True}},
                               {"verification": {"ok": False}})),
    "retention": st.sampled_from(({}, {"flags": ["obstruction"]}, {"cases": ["SJ-2"]})),
})
register = st.sampled_from((
    ("devices", "DSJ-1", {"id": "DSJ-1", "unit": "market-001",
                          "sequence_years": {"2026": [1, 3]}, "gaps_by_year": {"2026": [2]}}),
    ("devices", "DSJ-2", {"id": "DSJ-2", "unit": "urban-001", "sequences": [7]}),
    ("cases", "SJ-1", {"id": "SJ-1", "unit": "market-001", "opened": "2026-02-01",
                       "activities": ["询问", "扣押"]}),
    ("cases", "SJ-2", {"id": "SJ-2", "unit": "urban-001", "opened": "2026-04-01",
                       "activities": ["扣押"]}),
    ("inspections", "I1", {"id": "I1", "type": "conduct-check", "at": "2026-05-01",
                           "unit": "market-001", "officers": ["P1"], "finding": "ok"}),
))
change = st.one_of(
    st.tuples(st.just("add"), description, state),
    st.tuples(st.just("describe"), st.integers(0, 50), description),
    st.tuples(st.just("state"), st.integers(0, 50), state),
    st.tuples(st.just("register"), register),
)


def _item(desc: dict, st_: dict):
    d = dict(desc)
    item = make_item(start=d.pop("start"), minutes=d.pop("minutes"), kind=d.pop("kind"),
                     status=st_["status"], tier=st_["tier"], **d)
    item.checks, item.retention = dict(st_["checks"]), dict(st_["retention"])
    return item


def _describe(catalog, item_id: str, desc: dict) -> None:
    item = catalog.get_item(item_id)
    d = dict(desc)
    start = d.pop("start")
    minutes = d.pop("minutes")
    new = Description(kind=d.pop("kind"), recorded_start=start,
                      recorded_end=start + timedelta(minutes=minutes) if start else None, **d)
    catalog.add_version(item_id, MetadataVersion(
        item_id=item_id, version=item.version + 1, description=new,
        digests=digests(item.sha256), created_at=T0, created_by="P000", reason="correction"),
        item.status)


def _apply(catalog, ids: list[str], op: tuple) -> None:
    if op[0] == "add":
        item = _item(op[1], op[2])
        catalog.add_item(item)
        ids.append(item.id)
    elif op[0] == "describe" and ids:
        _describe(catalog, ids[op[1] % len(ids)], op[2])
    elif op[0] == "state" and ids:
        item = catalog.get_item(ids[op[1] % len(ids)])
        item.status, item.tier = op[2]["status"], op[2]["tier"]
        item.checks, item.retention = dict(op[2]["checks"]), dict(op[2]["retention"])
        catalog.save_state(item)
    elif op[0] == "register":
        catalog.put_record(*op[1])


def _full(catalog, conf, unit: str | None, clearances: frozenset[str]) -> dict:
    """What a full read gives, computed beside the kept state (which it does not touch)."""
    p = statistics.report_parameters(conf, unit)
    return statistics.yearly_statistics(
        catalog, YEAR, p["zone"], unit, p["required_activity_types"],
        unit_zones=p["unit_zones"], unit_names=p["unit_names"], clearances=clearances,
        unit_required=p["unit_required"])


def _figures(stats: dict) -> dict:
    return {k: v for k, v in stats.items() if k not in ("generated_at", "coverage")}


@pytest.fixture(scope="module")
def conf():
    home = Path(tempfile.mkdtemp(prefix="custody-stats-home-"))
    yield config.load(None, home)
    shutil.rmtree(home, ignore_errors=True)


@pytest.mark.parametrize("backend", sorted(CATALOG_FACTORIES))
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(first=st.lists(st.tuples(st.just("add"), description, state), max_size=8),
       rounds=st.lists(st.lists(change, min_size=1, max_size=5), min_size=1, max_size=4),
       unit=st.sampled_from((None, "market-001")),
       clearances=st.sampled_from((frozenset(), frozenset({"personal-privacy"}))))
def test_figures_kept_from_changes_equal_a_full_read(backend, conf, first, rounds, unit,
                                                    clearances):
    directory = Path(tempfile.mkdtemp(prefix="custody-stats-"))
    try:
        with CATALOG_FACTORIES[backend](directory) as catalog:
            ids: list[str] = []
            for op in first:
                _apply(catalog, ids, op)
            stats = statistics.year_report(catalog, conf, YEAR, unit, clearances)
            assert stats["coverage"]["mode"] == "full"
            assert _figures(stats) == _figures(_full(catalog, conf, unit, clearances))
            for ops in rounds:
                for op in ops:
                    _apply(catalog, ids, op)
                stats = statistics.year_report(catalog, conf, YEAR, unit, clearances)
                # never a full read: the kept state is brought up to date or given again
                assert stats["coverage"]["mode"] in ("incremental", "cached")
                assert _figures(stats) == _figures(_full(catalog, conf, unit, clearances))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _report(catalog, conf, **kw) -> tuple[dict, dict]:
    stats = statistics.year_report(catalog, conf, YEAR, None, frozenset(), **kw)
    return stats, stats.pop("coverage")


def test_an_update_reads_only_the_changed_items_and_moves_them_between_years(catalog, conf):
    catalog.cursor_overlap = 0  # counts exact reads
    items = [make_item(start=datetime(2026, 5, 1, h, tzinfo=timezone.utc), activity_id="A1",
                       activity_type="询问") for h in range(4)]
    for item in items:
        catalog.add_item(item)
    _, cov = _report(catalog, conf)
    assert cov["mode"] == "full" and cov["items_read"] == 4
    last_full = cov["last_full_sweep"]
    # one item re-described into 2025: it leaves the year's figures
    moved = dataclasses.replace(items[0].description,
                                recorded_start=datetime(2025, 5, 1, tzinfo=timezone.utc),
                                recorded_end=datetime(2025, 5, 1, 0, 10, tzinfo=timezone.utc))
    _describe(catalog, items[0].id, {"kind": moved.kind, "start": moved.recorded_start,
                                     "minutes": 10, "unit": moved.unit,
                                     "device_id": moved.device_id, "officers": moved.officers,
                                     "activity_id": "A1", "activity_type": "询问"})
    stats, cov = _report(catalog, conf)
    assert cov["mode"] == "incremental" and cov["items_read"] == 1
    assert cov["reason"] == "items of the year changed" and cov["last_full_sweep"] == last_full
    assert stats["totals"]["items"] == 3
    assert stats["interrupted"]["activities"][0]["segments"] == 3
    # a work record of the activity scanned in another year: counted on the interruption
    record = make_item(kind="document", start=None, activity_id="A1",
                       extra={"document_type": "工作记录", "document_date": "2027-01-05"})
    catalog.add_item(record)
    stats, cov = _report(catalog, conf)
    assert cov["mode"] == "incremental" and cov["items_read"] == 1
    assert cov["reason"] == "items of the year's cases or activities changed"
    assert stats["totals"]["items"] == 3
    assert stats["interrupted"]["activities"][0]["work_records"] == 1
    assert _figures(stats) == _figures(_full(catalog, conf, None, frozenset()))
    # a register: its figures are read again, the items' rows stand
    catalog.put_record("cases", "SJ-9", {"id": "SJ-9", "unit": "market-001",
                                         "opened": "2026-02-01", "activities": ["询问"]})
    stats, cov = _report(catalog, conf)
    assert cov["mode"] == "incremental" and cov["reason"] == "the cases register changed"
    assert cov["items_read"] == 0 and stats["unrecorded_cases"]["total"] == 1
    _, cov = _report(catalog, conf)
    assert cov["mode"] == "cached" and cov["items_read"] == 0


def test_a_kept_state_that_cannot_be_trusted_is_computed_anew(catalog, conf):
    catalog.cursor_overlap = 0  # MongoDB reads its last changes again: not "cached" then
    catalog.add_item(make_item(start=datetime(2026, 5, 1, tzinfo=timezone.utc)))
    key = f"statistics:{YEAR}:*:"
    assert _report(catalog, conf)[1]["reason"] == "no earlier report"
    # another report of the year wrote one bucket of rows meanwhile (or a run was cut off
    # after writing it): rows of two runs are not mixed
    kept = catalog.get_working(f"{key}:rows:5")
    catalog.put_working(f"{key}:rows:5", kept | {"mark": "another run"})
    catalog.add_item(make_item(start=datetime(2026, 6, 1, tzinfo=timezone.utc)))
    stats, cov = _report(catalog, conf)
    assert cov["mode"] == "full" and cov["reason"] == "the kept figures are incomplete"
    assert stats["totals"]["items"] == 2
    # the buckets are read only when something changed: until then the figures stand
    catalog.put_working(key, catalog.get_working(key) | {"marks": []})
    assert _report(catalog, conf)[1]["mode"] == "cached"
    catalog.add_item(make_item(start=datetime(2026, 7, 1, tzinfo=timezone.utc)))
    stats, cov = _report(catalog, conf)
    assert cov["mode"] == "full" and cov["reason"] == "the kept figures are incomplete"
    assert stats["totals"]["items"] == 3
    # a state an older custody kept, in another form
    catalog.put_working(key, catalog.get_working(key) | {"format": 1})
    _, cov = _report(catalog, conf)
    assert cov["mode"] == "full" and cov["reason"] == "the kept figures are of another form"
    # the configuration the figures were computed under changed
    catalog.put_working(key, catalog.get_working(key) | {"config": "other"})
    _, cov = _report(catalog, conf)
    assert cov["mode"] == "full" and cov["reason"] == "the configuration changed"
    _, cov = _report(catalog, conf, full=True)
    assert cov["mode"] == "full" and cov["reason"] == "--all" and cov["items_read"] == 3
    assert _report(catalog, conf)[1]["mode"] == "cached"


def test_a_unit_outside_the_configuration_is_refused_before_anything_is_kept(catalog, conf):
    with pytest.raises(InputError, match="no unit 'nowhere'"):
        statistics.year_report(catalog, conf, YEAR, "nowhere", frozenset())
    assert catalog.get_working(f"statistics:{YEAR}:nowhere:") is None


INCREMENTAL = {"mode": "incremental", "reason": "items of the year changed", "items_read": 12,
               "since_seq": 3, "to_seq": 40, "last_full_sweep": "2026-12-01T00:00:00Z"}


def test_the_command_line_says_the_figures_were_brought_up_to_date():
    from commands.reports import _coverage

    i18n.use("en")
    assert _coverage(INCREMENTAL) == (
        "Coverage: brought up to date from 12 changed items (items of the year changed); "
        "every item of the year last read at 2026-12-01T00:00:00Z (--all reads them again)")


def test_in_chinese_too(chinese):  # noqa: F811
    from commands.reports import _coverage

    line = _coverage(INCREMENTAL)
    assert line.startswith("统计范围：根据 12 个已改变的条目更新（本年度的条目已改变）")
    assert english_phrases(line, ("--all",)) == []
