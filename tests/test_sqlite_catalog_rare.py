"""SQLite, schema step 9: an activity found by the integer its id begins with, the full id
compared in the row; kind and activity type indexed only for their rarer values (most items
are video, most activities routine patrols), their counts kept beside tier and status."""

from __future__ import annotations

import re
import sqlite3
from datetime import timedelta

from archive.catalog import schema
from archive.catalog.base import Query
from archive.catalog.consistency import check_catalog
from archive.catalog.keys import ordered_key, text_key
from archive.catalog.sqlite import SQLiteCatalog
from archive.domain.ids import uuid7
from archive.domain.model import Description, MetadataVersion
from tests.support.builders import T0, make_item

KINDS = ("video", "video", "photo", "document", "audio")
TYPES = ("日常巡查", "日常巡查", "调查取证", None, "询问", "日常巡查")


def _plan(cat: SQLiteCatalog, q: Query) -> str:
    sql, params = cat.search_sql(q)
    return " | ".join(r[-1] for r in cat.db.execute("EXPLAIN QUERY PLAN " + sql, params))


def _schema(db: sqlite3.Connection) -> set[tuple[str, str, str]]:
    rows = db.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL "
                      "AND name NOT LIKE 'sqlite_%'").fetchall()
    return {(t, n, re.sub(r"\s+", "", sql)) for t, n, sql in rows}


def _items(n: int = 30) -> list:
    activities = [uuid7(), uuid7(), "巡查-2026-001"]  # custody's ids, and one from elsewhere
    return [make_item(start=T0 + timedelta(hours=i), kind=KINDS[i % 5],
                      activity_type=TYPES[i % 6], activity_id=activities[i % 3])
            for i in range(n)]


def _want(items: list, q: Query) -> list[str]:
    return [i.id for i in items
            if all(getattr(q, k) in (None, getattr(i.description, k))
                   for k in ("kind", "activity_type", "activity_id"))]


def test_an_activity_id_is_keyed_by_its_leading_bits_in_order():
    ids = [uuid7() for _ in range(2000)]
    keys = [ordered_key(i) for i in ids]
    assert keys == sorted(keys) and len(set(keys)) == len(ids)  # rising, as the ids do
    assert ordered_key(ids[0]) == int(ids[0].replace("-", "")[:16], 16)
    assert ordered_key("巡查-2026-001") == text_key("巡查-2026-001")
    # a UUID whose first 64 bits do not fit a signed integer is hashed, not wrapped
    top = "ffffffff-ffff-7fff-bfff-ffffffffffff"
    assert ordered_key(top) == text_key(top) < 1 << 63
    assert ordered_key(None) is None


def test_kind_and_activity_type_are_indexed_for_the_rarer_values_only(tmp_path):
    cat = SQLiteCatalog(tmp_path / "c.sqlite")
    items = _items()
    cat.add_items(items)
    partial = dict(cat.db.execute("SELECT name, sql FROM sqlite_master WHERE name IN "
                                  "('items_kind_rare', 'items_activity_type_rare')"))
    assert partial["items_kind_rare"].endswith("WHERE kind<>'video'")
    assert partial["items_activity_type_rare"].endswith("WHERE activity_type<>'日常巡查'")
    activity = items[0].description.activity_id
    for q, index in [(Query(kind="photo"), "items_kind_rare"),
                     (Query(activity_type="询问"), "items_activity_type_rare"),
                     (Query(kind="video"), "SCAN i USING INDEX items_sort"),
                     (Query(activity_type="日常巡查"), "SCAN i USING INDEX items_sort"),
                     (Query(activity_id=activity), "items_activity_key (activity_key=?)"),
                     (Query(activity_id="巡查-2026-001", kind="document"),
                      "items_activity_key"),
                     (Query(activity_id=activity, activity_type="日常巡查"),
                      "items_activity_key")]:
        plan = _plan(cat, q)
        assert index in plan and "TEMP B-TREE" not in plan, (q, plan)
        want = _want(items, q)
        assert want, q
        assert [i.id for i in cat.search(q, limit=100).items] == want, q
        assert cat.count(q) == len(want), q
    # an id that shares a key with one in the catalog is told apart by its text
    cat.db.execute("UPDATE items SET activity_key=? WHERE id=?",
                   (ordered_key("别的活动"), items[1].id))
    assert cat.count(Query(activity_id="别的活动")) == 0
    cat.close()


def test_counts_of_kind_and_activity_type_are_kept_and_follow_new_versions(tmp_path):
    cat = SQLiteCatalog(tmp_path / "c.sqlite")
    items = _items(12)
    cat.add_items(items[:7])
    cat.add_items(items[7:])

    def by(key: str) -> dict:
        want: dict = {}
        for i in items:
            value = getattr(i.description, key) or ""
            want[value] = want.get(value, 0) + 1
        return want

    assert cat.count_by("kind") == by("kind") == {"video": 6, "photo": 2, "document": 2,
                                                  "audio": 2}
    # the items without an activity type, under "", as a grouped count gives them
    assert cat.count_by("activity_type") == by("activity_type") == {
        "日常巡查": 6, "调查取证": 2, "": 2, "询问": 2}
    assert cat.count(Query(kind="document")) == 2 and cat.count(Query(activity_type="")) == 0
    # a corrected version changes the kind and drops the activity type: the counts follow
    first = items[0]
    d2 = Description.from_dict(first.description.to_dict() | {"kind": "photo",
                                                               "activity_type": None})
    cat.add_version(first.id, MetadataVersion(first.id, 2, d2, first.current.digests, T0,
                                              "P000", "correction"), "archived")
    items[0] = cat.get_item(first.id)
    assert cat.count_by("kind") == by("kind") and cat.count_by("kind")["photo"] == 3
    assert cat.count_by("activity_type") == by("activity_type")
    assert cat.count_by("activity_type")[""] == 3
    assert cat.count(Query(kind="video")) == 5
    assert check_catalog(cat, None)["problems"] == []
    cat.close()


def test_a_count_or_an_activity_key_that_drifted_is_an_index_problem(tmp_path):
    cat = SQLiteCatalog(tmp_path / "c.sqlite")
    items = _items(6)
    cat.add_items(items)
    cat.db.execute("UPDATE counts SET n=n+1 WHERE key='kind' AND value='photo'")
    cat.db.execute("UPDATE items SET activity_key=activity_key+1 WHERE id=?", (items[2].id,))
    problems = check_catalog(cat, None)["problems"]
    assert {(p["item"], p.get("field")) for p in problems} == {
        (items[2].id, "activity_id"), ("-", "counts.kind.photo")}
    cat.close()


def _as_step_8_left_it(path) -> None:
    with sqlite3.connect(path) as db:
        for statement in (
                "DROP INDEX items_activity_key", "DROP INDEX items_kind_rare",
                "DROP INDEX items_activity_type_rare",
                *(f"DROP TRIGGER items_recounted_{k}"
                  for k in ("tier", "status", "kind", "activity_type")),
                "ALTER TABLE items DROP COLUMN activity_key",
                "CREATE INDEX items_activity ON items(activity_id, sort_us)",
                "CREATE INDEX items_activity_type ON items(activity_type, sort_us)",
                "CREATE INDEX items_kind ON items(kind, sort_us)",
                "CREATE TRIGGER items_recounted AFTER UPDATE OF tier, status ON items "
                "WHEN OLD.tier IS NOT NEW.tier OR OLD.status IS NOT NEW.status BEGIN "
                "UPDATE counts SET n=n-1 WHERE key='tier' AND value=OLD.tier; "
                "INSERT INTO counts VALUES ('tier', NEW.tier, 1) "
                "ON CONFLICT DO UPDATE SET n=n+1; "
                "UPDATE counts SET n=n-1 WHERE key='status' AND value=OLD.status; "
                "INSERT INTO counts VALUES ('status', NEW.status, 1) "
                "ON CONFLICT DO UPDATE SET n=n+1; END",
                "DELETE FROM counts WHERE key IN ('kind', 'activity_type')",
                "PRAGMA user_version=8"):
            db.execute(statement)
    db.close()


def test_step_9_brings_a_schema_8_catalog_to_the_new_indexes_idempotently(tmp_path):
    path = tmp_path / "c.sqlite"
    cat = SQLiteCatalog(path)
    items = _items(18)
    cat.add_items(items)
    fresh = _schema(cat.db)
    counts = sorted(cat.db.execute("SELECT * FROM counts"))
    cat.close()
    _as_step_8_left_it(path)
    old = SQLiteCatalog(path)
    assert old.schema_version == 8
    assert schema.STEPS[9].apply(old) == {
        "column_added": True, "items_keyed": 18,
        "partial_indexes": ["items_kind_rare", "items_activity_type_rare"]}
    # run again, as after an upgrade cut off midway: nothing more to key, the same counts
    assert schema.STEPS[9].apply(old)["items_keyed"] == 0
    old.set_schema_version(9)
    assert _schema(old.db) == fresh
    assert sorted(old.db.execute("SELECT * FROM counts")) == counts
    for item in items:
        assert old.index_state(item.id) == old.expected_index(item)
    for q in (Query(activity_id=items[4].description.activity_id), Query(kind="audio"),
              Query(activity_type="询问")):
        assert [i.id for i in old.search(q, limit=100).items] == _want(items, q), q
    old.close()


def test_each_partial_index_leaves_out_a_value_custody_writes(tmp_path):
    """A partial index leaves out the commonest value by name: a name custody never writes
    would leave out nothing, and a search for that value would walk every item."""
    from archive.domain import model

    vocab = {"tier": model.TIERS, "status": model.STATUSES, "kind": model.KINDS,
             "activity_type": model.ACTIVITY_TYPES}
    cat = SQLiteCatalog(tmp_path / "c.sqlite")
    left_out = [re.search(r"WHERE (\w+)<>'([^']+)'$", sql).groups() for (sql,) in cat.db.execute(
        "SELECT sql FROM sqlite_master WHERE type='index' AND tbl_name='items' "
        "AND sql LIKE '%<>%'")]
    cat.close()
    assert {c for c, _ in left_out} == set(vocab)
    for column, value in left_out:
        assert value in vocab[column], (column, value)
