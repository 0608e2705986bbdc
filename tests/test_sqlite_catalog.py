"""SQLite-specific: real indexes used by the plans, several processes writing at once."""

from __future__ import annotations

import multiprocessing
from datetime import timedelta

from archive.catalog.base import Query
from archive.catalog.sqlite import SQLiteCatalog
from tests.support.builders import T0, make_item


def _plan(cat: SQLiteCatalog, q: Query) -> str:
    sql, params = cat.search_sql(q)
    rows = cat.db.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
    return " | ".join(r[-1] for r in rows)


def test_journal_mode_is_wal(tmp_path):
    cat = SQLiteCatalog(tmp_path / "c.sqlite")
    assert cat.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    cat.close()


def test_plans_use_indexes(tmp_path):
    cat = SQLiteCatalog(tmp_path / "c.sqlite")
    cat.add_items([make_item(party="王五", cause="无照经营", officers=["P1"]) for _ in range(20)])
    plan = _plan(cat, Query(officer="P1", start=T0, end=T0 + timedelta(days=7)))
    assert "SEARCH o USING PRIMARY KEY (officer=? AND sort_us>? AND sort_us<?)" in plan
    for q, index in [(Query(unit="u"), "items_unit"), (Query(device_id="d"), "items_device"),
                     # a case's items (named or linked) lead from the case rows
                     (Query(case_id="c"), "SEARCH item_cases USING PRIMARY KEY (case_id=?)"),
                     (Query(tier="case"), "items_tier"),
                     (Query(activity_id="a"), "items_activity_key"),
                     (Query(party="王五"), "items_party"),
                     # an activity's or a device's few items lead, never the walk of every
                     # document or every routine item (the year's statistics asked for the
                     # documents of each activity: 683 s at 300,000 items)
                     (Query(activity_id="a", kind="document"), "items_activity_key"),
                     (Query(activity_id="a", tier="routine", status="archived"),
                      "items_activity"),
                     (Query(device_id="d", kind="video"), "items_device")]:
        assert index in _plan(cat, q), (q, _plan(cat, q))
    plan = _plan(cat, Query(officer="P1", start=T0, end=T0 + timedelta(days=1)))
    assert "SCAN" not in plan and "TEMP B-TREE" not in plan
    cat.close()


def _held(n: int, tier: str, status: str):
    return make_item(start=T0 + timedelta(hours=n), tier=tier, status=status)


def test_tier_and_status_are_indexed_for_the_rarer_values_only(tmp_path):
    """Most items are routine and archived: those are walked in time order (never sorted
    after the fact), the others found through partial indexes that a routine archived item
    never enters (schema step 8); counts of one tier or status are read from the kept
    counts."""
    cat = SQLiteCatalog(tmp_path / "c.sqlite")
    items = [_held(n, ("routine", "case", "permanent")[n % 3],
                   ("archived", "attention", "pending-metadata")[n % 4 % 3])
             for n in range(24)]
    cat.add_items(items)
    partial = dict(cat.db.execute("SELECT name, sql FROM sqlite_master WHERE name IN "
                                  "('items_tier_held', 'items_status_open')"))
    assert partial["items_tier_held"].endswith("WHERE tier<>'routine'")
    assert partial["items_status_open"].endswith("WHERE status<>'archived'")
    for q, index in [(Query(tier="case"), "items_tier_held"),
                     (Query(tier="permanent", status="attention"), "items_"),
                     (Query(status="attention"), "items_status_open"),
                     (Query(tier="routine"), "SCAN i USING INDEX items_sort"),
                     (Query(status="archived"), "SCAN i USING INDEX items_sort"),
                     (Query(tier="routine", status="archived"), "items_sort")]:
        plan = _plan(cat, q)
        assert index in plan and "TEMP B-TREE" not in plan, (q, plan)
        want = [i.id for i in items if (q.tier or i.tier) == i.tier
                and (q.status or i.status) == i.status]
        assert [i.id for i in cat.search(q, limit=100).items] == want, q
        assert cat.count(q) == len(want), q
    cat.close()


def test_step_8_makes_the_tier_and_status_indexes_partial(tmp_path):
    from archive.catalog import schema

    path = tmp_path / "c.sqlite"
    cat = SQLiteCatalog(path)
    items = [_held(n, ("routine", "case")[n % 2], "archived") for n in range(6)]
    cat.add_items(items)
    fresh = sorted(cat.db.execute("SELECT name, sql FROM sqlite_master WHERE type='index' "
                                  "AND sql IS NOT NULL"))
    for statement in ("DROP INDEX items_tier_held", "DROP INDEX items_status_open",
                      "CREATE INDEX items_tier ON items(tier, sort_us)",
                      "CREATE INDEX items_status ON items(status, sort_us)"):
        cat.db.execute(statement)  # as step 7 left a catalog
    cat.set_schema_version(7)
    cat.close()
    old = SQLiteCatalog(path)
    for _ in range(2):  # run again, as after an upgrade cut off midway: the same
        assert schema.STEPS[8].apply(old) == {
            "partial_indexes": ["items_tier_held", "items_status_open"]}
    old.set_schema_version(8)
    assert sorted(old.db.execute("SELECT name, sql FROM sqlite_master WHERE type='index' "
                                 "AND sql IS NOT NULL")) == fresh
    assert [i.id for i in old.search(Query(tier="case")).items] == [i.id for i in items[1::2]]
    old.close()


def _writer(path: str, tag: str) -> None:
    cat = SQLiteCatalog(path)
    for b in range(10):
        cat.add_items([make_item(party=f"{tag}当事人{b}", officers=[tag]) for _ in range(50)])
    cat.close()


def test_two_processes_insert_items_at_once(tmp_path):
    path = str(tmp_path / "c.sqlite")
    SQLiteCatalog(path).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, t)) for t in ("甲", "乙")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    cat = SQLiteCatalog(path)
    assert cat.count(Query()) == 1000
    assert cat.count_by("officer") == {"甲": 500, "乙": 500}
    assert cat.count(Query(party="当事")) == 1000
    assert cat.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    cat.close()


def test_counters_agree_with_a_scan(tmp_path):
    cat = SQLiteCatalog(tmp_path / "c.sqlite")
    items = [make_item(tier="case" if n % 3 == 0 else "routine") for n in range(30)]
    cat.add_items(items)
    for item in items[:5]:
        item.tier, item.status = "permanent", "attention"
        cat.save_state(item)
    for key in ("tier", "status"):
        scanned = dict(cat.db.execute(f"SELECT {key}, count(*) FROM items GROUP BY {key}"))
        assert cat.count_by(key) == scanned
    assert cat.count_by("tier") == {"case": 8, "routine": 17, "permanent": 5}
    cat.close()


def test_a_snapshot_reads_one_state_while_others_write(tmp_path):
    """The index check compares the counts the index keeps with the items it walked: an
    ingest meanwhile must not look like a wrong count."""
    cat = SQLiteCatalog(tmp_path / "c.sqlite")
    other = SQLiteCatalog(tmp_path / "c.sqlite")
    cat.add_items([make_item()])
    with cat.snapshot():
        assert cat.count(Query()) == 1
        other.add_items([make_item(), make_item()])
        assert cat.count(Query()) == 1
        assert cat.index_totals()["counts"]["status"] == {"archived": 1}
    assert cat.count(Query()) == 3
    other.close()
    cat.close()


def test_a_batch_goes_in_in_the_order_its_items_were_ingested(tmp_path):
    """Whatever order a batch comes in (a rebuild may bring any), its rows are written in
    id order, which is ingest order: each index is then filled in one sweep."""
    cat = SQLiteCatalog(tmp_path / "c.sqlite")
    items = [make_item(start=T0 + timedelta(hours=n)) for n in range(30)]
    shuffled = items[1::2] + items[::-1][1::2]
    cat.add_items(shuffled)
    written = [r[0] for r in cat.db.execute("SELECT id FROM items ORDER BY rowid")]
    assert written == sorted(i.id for i in items)
    assert [i.id for i in cat.search(Query(), limit=30).items] == [i.id for i in items]
    cat.close()


def test_a_substring_page_is_sorted_from_the_index_and_reads_only_its_records(tmp_path):
    """A substring matches many names, whose items are sorted by time together: the time
    and rowid come from the index on (name, time), and only the page's records are read."""
    import random

    cat = SQLiteCatalog(tmp_path / "c.sqlite")
    hours = list(range(60))
    random.Random(7).shuffle(hours)
    items = [make_item(start=T0 + timedelta(hours=h), party=f"超市{h % 9}号",
                       cause=("占道经营" if h % 2 else "无照经营")) for h in hours]
    cat.add_items(items + [make_item(party="别的当事人")])
    plan = _plan(cat, Query(party="超市"))
    assert "COVERING INDEX items_party" in plan, plan
    by_time = sorted(items, key=lambda i: i.description.recorded_start)
    for q, want in [(Query(party="超市"), by_time),
                    (Query(party="超市", cause="占道"),
                     [i for i in by_time if i.description.cause == "占道经营"]),
                    (Query(party="超市", start=T0 + timedelta(hours=10),
                           end=T0 + timedelta(hours=20)), by_time[10:20])]:
        got, cursor = [], None
        while True:
            page = cat.search(q, limit=7, cursor=cursor)
            got += [i.id for i in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert got == [i.id for i in want], q
        assert cat.count(q) == len(want)
    cat.close()


def test_names_are_remembered_between_batches_only_once_committed(tmp_path, monkeypatch):
    """A batch's party and cause ids are remembered for the next batch only after its
    commit: a batch rolled back takes the ids it created with it, and a name another writer
    created is looked up, not created twice."""
    import pytest

    from archive.catalog import sqlite as sqlite_catalog

    path = tmp_path / "c.sqlite"
    cat = SQLiteCatalog(path)
    cat.add_items([make_item(party="甲商店", cause="无照经营")])
    real_insert = sqlite_catalog._insert

    def failing(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(sqlite_catalog, "_insert", failing)
    with pytest.raises(OSError):
        cat.add_items([make_item(party="乙商店", cause="无照经营")])
    monkeypatch.setattr(sqlite_catalog, "_insert", real_insert)
    other = SQLiteCatalog(path)  # another writer, which creates a name of its own
    other.add_items([make_item(party="丙商店")])
    items = [make_item(party=p, cause="无照经营") for p in ("甲商店", "乙商店", "丙商店")]
    cat.add_items(items)
    for item in items:
        assert cat.index_state(item.id) == cat.expected_index(item), item.description.party
    assert cat.count(Query(party="商店")) == 5
    assert cat.count(Query(party="乙商")) == 1 and cat.count(Query(party="丙商")) == 2
    assert cat.db.execute("SELECT count(*) FROM terms WHERE field='party'").fetchone()[0] == 3
    other.close()
    cat.close()
