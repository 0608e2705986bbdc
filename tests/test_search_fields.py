"""Every field a search or a verification lot is chosen by agrees with the signed record, and
a difference is found: each such field, and each kind of index row, edited directly in the
database (SQLite rows, MongoDB documents) is named by the catalog check, by 'audit verify'
and, for the items it reads, by 'verify'."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from archive.catalog import packing
from archive.catalog.base import Query
from archive.catalog.consistency import check_catalog
from archive.domain.model import Description
from archive.verification import verify_item
from tests.support.archives import Setup, make_archive
from tests.support.catalogs import CATALOG_FACTORIES
from tests.support.language import chinese, english_phrases  # noqa: F401
from tests.support.stores import local_store
from tests.support.worm import release_all_for_tests

T = datetime(2026, 3, 15, 1, 0, tzinfo=timezone.utc)
UNTIL = datetime.now(timezone.utc) + timedelta(days=30)


@contextlib.contextmanager
def _signed(tmp_path, backend: str) -> Iterator[tuple[Setup, list[str]]]:
    """Three signed items: A (a case, two people, an activity), B, C (pending)."""
    with CATALOG_FACTORIES[backend](tmp_path) as catalog, local_store(tmp_path) as store:
        setup = make_archive(tmp_path, catalog, store)
        rows = [dict(party="王五", cause="无照经营", case_id="C1", officers=["P1"],
                     assisting=["P2"], activity_id="ACT-1", activity_type="询问",
                     device_id="D1", minutes=20),
                dict(party="王五金店", cause="占道经营", officers=["P3"], device_id="D2",
                     minutes=5),
                dict(party="赵六", officers=[], device_id=None, minutes=None)]
        ids = []
        for n, r in enumerate(rows):
            minutes = r.pop("minutes")
            start = T + timedelta(hours=n) if minutes else None
            d = Description(kind="video", unit="market-001", recorded_start=start,
                            recorded_end=start + timedelta(minutes=minutes) if start else None,
                            **r)
            ids.append(setup.archive.archive_stream([os.urandom(2000)], d, setup.actor,
                                                    UNTIL).item.id)
        assert check_catalog(catalog, setup.archive.archive_keys)["problems"] == []
        yield setup, ids
    release_all_for_tests(tmp_path)


@pytest.fixture
def on_sqlite(tmp_path):
    with _signed(tmp_path, "sqlite") as signed:
        yield signed


@pytest.fixture
def on_mongo(tmp_path):
    with _signed(tmp_path, "mongomock") as signed:
        yield signed


@pytest.fixture(params=sorted(CATALOG_FACTORIES))
def on_both(request, tmp_path):
    with _signed(tmp_path, request.param) as signed:
        yield signed


def _found(setup, item_id: str | None = None) -> set[tuple[str, str]]:
    report = check_catalog(setup.catalog, setup.archive.archive_keys)
    return {(p["item"], p["field"]) for p in report["problems"]
            if item_id is None or p["item"] in (item_id, "-")}


# --- SQLite: each column and each kind of index row ---------------------------------------------
SQLITE_EDITS = {
    "unit": ("UPDATE items SET unit='urban-001' WHERE id=:a", ["unit"]),
    "device_id": ("UPDATE items SET device_id='D9' WHERE id=:a", ["device_id"]),
    "case_id": ("UPDATE items SET case_id='C9' WHERE id=:a", ["case_id"]),
    "activity_id": ("UPDATE items SET activity_id='ACT-9' WHERE id=:a", ["activity_id"]),
    "activity_type": ("UPDATE items SET activity_type='扣押' WHERE id=:a", ["activity_type"]),
    "kind": ("UPDATE items SET kind='audio' WHERE id=:a", ["kind"]),
    "start_us": ("UPDATE items SET start_us=start_us+1 WHERE id=:a", ["start"]),
    "end_us": ("UPDATE items SET end_us=end_us-60000000 WHERE id=:a", ["end"]),
    "sort_us": ("UPDATE items SET sort_us=sort_us+3600000000 WHERE id=:a", ["sort"]),
    "tier": ("UPDATE items SET tier='permanent' WHERE id=:a", ["tier"]),
    "status": ("UPDATE items SET status='attention' WHERE id=:a", ["status"]),
    "version": ("UPDATE items SET version=7 WHERE id=:a", ["version"]),
    "sha256": ("UPDATE items SET sha256=:b_sha WHERE id=:a", ["sha256"]),
    "retain_until_us": ("UPDATE items SET retain_until_us=0 WHERE id=:a", ["retain_until"]),
    # party_term pointing at another name: the item is filed under 王五金店
    "party_term": ("UPDATE items SET party_term=(SELECT party_term FROM items WHERE id=:b) "
                   "WHERE id=:a", ["party", "party_grams", "party_gram_counts"]),
    "cause_term": ("UPDATE items SET cause_term=NULL WHERE id=:a",
                   ["cause", "cause_grams", "cause_gram_counts", "cause_term_used"]),
    "officer row removed": ("DELETE FROM item_officers WHERE officer='P2'", ["officers"]),
    "officer row renamed": ("UPDATE item_officers SET officer='P9' WHERE officer='P1'",
                            ["officers"]),
    "officer row moved": ("UPDATE item_officers SET sort_us=sort_us+1 WHERE officer='P1'",
                          ["officers_sort"]),
    "case row removed": ("DELETE FROM item_cases WHERE case_id='C1'", ["cases", "cases_sort"]),
    "case row renamed": ("UPDATE item_cases SET case_id='C9' WHERE case_id='C1'", ["cases"]),
    "term text": ("UPDATE terms SET text='王九' WHERE field='party' AND text='王五'", ["party"]),
    "term unused": ("UPDATE terms SET n=0 WHERE field='party' AND text='王五'",
                    ["party_term_used"]),
    "bigram row": ("DELETE FROM term_grams WHERE field='cause' AND gram='无照' AND term_id="
                   "(SELECT cause_term FROM items WHERE id=:a)", ["cause_grams"]),
    "bigram count": ("DELETE FROM gram_counts WHERE field='cause' AND gram='无照'",
                     ["cause_gram_counts"]),
}
SQLITE_TOTALS = {
    "longest recording": ("UPDATE stats SET value=1 WHERE key='max_span_us'", "max_span_us"),
    "tier count": ("UPDATE counts SET n=n+5 WHERE key='tier' AND value='routine'",
                   "counts.tier.routine"),
    "term count": ("UPDATE terms SET n=n+1 WHERE field='cause' AND text='占道经营'",
                   "terms.cause.占道经营"),
}


def _sqlite(setup, sql: str, ids: list[str]) -> None:
    a, b = ids[0], ids[1]
    with sqlite3.connect(setup.catalog.path) as db:
        db.execute(sql, {"a": a, "b": b, "b_sha": setup.catalog.get_item(b).sha256})


@pytest.mark.parametrize("edit", sorted(SQLITE_EDITS))
def test_sqlite_field_edits_are_found(on_sqlite, edit):
    setup, ids = on_sqlite
    sql, fields = SQLITE_EDITS[edit]
    _sqlite(setup, sql, ids)
    found = _found(setup, ids[0])
    assert {(ids[0], f) for f in fields} <= found, found


@pytest.mark.parametrize("edit", sorted(SQLITE_TOTALS))
def test_sqlite_index_totals_are_checked(on_sqlite, edit):
    setup, ids = on_sqlite
    sql, field = SQLITE_TOTALS[edit]
    _sqlite(setup, sql, ids)
    assert ("-", field) in _found(setup)


def test_an_edited_party_term_hides_the_item_and_is_named(on_sqlite):
    """The case the issue names: the search misses the item, the check says why."""
    setup, ids = on_sqlite
    assert setup.catalog.count(Query(party="王五")) == 2
    _sqlite(setup, SQLITE_EDITS["party_term"][0], ids[:1] + ids[2:])  # A filed under 赵六
    assert setup.catalog.count(Query(party="王五")) == 1  # A is hidden from --party 王五
    problems = check_catalog(setup.catalog, setup.archive.archive_keys)["problems"]
    party = next(p for p in problems if p["field"] == "party")
    assert party["code"] == "search-field-mismatch" and party["item"] == ids[0]
    assert party["stored"] == "赵六" and party["signed"] == "王五"


def test_a_current_version_that_is_not_the_latest_is_found(on_sqlite):
    setup, ids = on_sqlite
    item = setup.archive.item(ids[1])
    d2 = Description.from_dict(item.description.to_dict() | {"party": "李四"})
    setup.archive.correct(ids[1], d2, setup.actor, "更正当事人")
    with sqlite3.connect(setup.catalog.path) as db:  # the item row rolled back to version 1
        old = db.execute("SELECT doc FROM item_versions WHERE item_id=? AND version=1",
                         (ids[1],)).fetchone()[0]
        doc = packing.unpack(db.execute("SELECT doc FROM items WHERE id=?",
                                        (ids[1],)).fetchone()[0])
        doc["current"] = packing.unpack(old)
        db.execute("UPDATE items SET doc=? WHERE id=?", (json.dumps(doc), ids[1]))
    found = _found(setup, ids[1])
    assert (ids[1], "current") in found


# --- MongoDB: each field of the item document ------------------------------------------------
MONGO_EDITS = {
    "unit": {"unit": "urban-001"}, "device_id": {"device_id": "D9"},
    "case_id": {"case_id": "C9"}, "cases": {"cases": []},
    "activity_id": {"activity_id": "ACT-9"}, "activity_type": {"activity_type": "扣押"},
    "kind": {"kind": "audio"}, "officers": {"officers": ["P1"]},
    "start": {"start": T + timedelta(seconds=5)}, "end": {"end": T},
    "sort": {"sort": T + timedelta(days=1)}, "party": {"party": "赵六"},
    "party_grams": {"party_grams": ["王九"]}, "cause": {"cause": "占道经营"},
    "cause_grams": {"cause_grams": []}, "tier": {"tier": "permanent"},
    "status": {"status": "attention"}, "version": {"version": 3},
    "retain_until": {"retain_until": T},
}


@pytest.mark.parametrize("edit", sorted(MONGO_EDITS))
def test_mongo_field_edits_are_found(on_mongo, edit):
    setup, ids = on_mongo
    setup.catalog.db["items"].update_one({"_id": ids[0]}, {"$set": MONGO_EDITS[edit]})
    assert (ids[0], edit) in _found(setup, ids[0])


def test_mongo_longest_recording_is_checked(on_mongo):
    setup, _ids = on_mongo
    setup.catalog.db["stats"].update_one({"_id": "max_span_us"}, {"$set": {"value": 1}})
    assert ("-", "max_span_us") in _found(setup)


# --- verify names it for each item it reads, on both catalogs ----------------------------------
def test_verify_names_the_field_of_an_item_it_reads(on_both):
    setup, ids = on_both
    if setup.catalog.backend == "sqlite":
        _sqlite(setup, SQLITE_EDITS["unit"][0], ids)
    else:
        setup.catalog.db["items"].update_one({"_id": ids[0]}, {"$set": {"unit": "urban-001"}})
    res = verify_item(setup.archive, setup.archive.item(ids[0]))
    assert not res["ok"]
    p = next(p for p in res["problems"] if p["code"] == "search-field-mismatch")
    assert (p["field"], p["stored"], p["signed"]) == ("unit", "urban-001", "market-001")
    assert "authoritative" in p["action"]
    assert verify_item(setup.archive, setup.archive.item(ids[1]))["ok"]


# --- what a person reads: the reader's language beside the English kept in reports ------------
def test_a_difference_reads_in_chinese_and_keeps_its_english_message(on_sqlite, chinese):
    setup, ids = on_sqlite
    _sqlite(setup, SQLITE_EDITS["unit"][0], ids)
    _sqlite(setup, SQLITE_TOTALS["longest recording"][0], ids)
    problems = check_catalog(setup.catalog, setup.archive.archive_keys)["problems"]
    unit = next(p for p in problems if p.get("field") == "unit")
    assert unit["message"] == (f"item {ids[0]}: unit is 'urban-001' in the catalog's index, "
                               "'market-001' in the signed description")
    assert unit["text"] == (f"条目 {ids[0]}：unit 在目录库索引中为 'urban-001'，"
                            "在经签名的著录信息中为 'market-001'")
    span = next(p for p in problems if p.get("field") == "max_span_us")
    assert span["message"].startswith("the longest recording lasts 1200000000 µs")
    assert span["text"].startswith("最长的录制时长为 1200000000 微秒")
    assert english_phrases(span["text"]) == []
