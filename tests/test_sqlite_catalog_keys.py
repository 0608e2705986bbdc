"""SQLite: items found by their bytes through an integer key (schema step 6), the full text
compared in the row; by their dedupe key through the same key, since a dedupe key begins with
its item's digest (step 7); dedupe keys unique by add_items's own check."""

from __future__ import annotations

import gc
import re
import sqlite3

import pytest

from archive.catalog import schema
from archive.catalog import sqlite as sqlite_catalog
from archive.catalog.keys import text_key
from archive.catalog.sqlite import SQLiteCatalog
from archive.domain.errors import DuplicateItem, InputError
from tests.support.builders import make_item


def _deduped(seed: str, key: str):
    item = make_item(seed=seed)
    item.dedupe = f"{item.sha256}:{key}"
    return item


def _schema(db: sqlite3.Connection) -> set[tuple[str, str, str]]:
    rows = db.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL "
                      "AND name NOT LIKE 'sqlite_%'").fetchall()
    return {(t, n, re.sub(r"\s+", "", sql)) for t, n, sql in rows}


def test_the_key_is_63_bits_and_none_stays_none():
    assert text_key(None) is None
    keys = {text_key(f"{n:064x}") for n in range(1000)}
    assert len(keys) == 1000 and all(0 <= k < 1 << 63 for k in keys)


def test_texts_sharing_a_key_are_told_apart_by_their_full_text(tmp_path, monkeypatch):
    # every text on one key: what a collision of 63 bits would do, a thousand times over
    monkeypatch.setattr(sqlite_catalog, "text_key", lambda t: None if t is None else 7)
    cat = SQLiteCatalog(tmp_path / "c.sqlite")
    a, b = _deduped("a", "k1"), _deduped("b", "k2")
    cat.add_items([a])
    cat.add_items([b])  # another dedupe key on the same integer: not a duplicate
    assert cat.item_by_dedupe(a.dedupe).id == a.id
    assert cat.item_by_dedupe(b.dedupe).id == b.id
    assert cat.item_by_dedupe(f"{a.sha256}:other") is None
    assert [i.id for i in cat.items_of_object(a.sha256)] == [a.id]
    assert [i.id for i in cat.items_of_object(b.sha256)] == [b.id]
    again = _deduped("a", "k1")  # the same bytes and description as a, another id
    with pytest.raises(DuplicateItem) as exc:
        cat.add_items([make_item(), again])
    assert exc.value.subject == a.id
    assert cat.count_by("tier") == {"routine": 2}  # the refused batch left nothing
    cat.close()


def test_a_duplicate_in_a_large_batch_is_refused_and_nothing_is_written(tmp_path):
    cat = SQLiteCatalog(tmp_path / "c.sqlite")
    first = _deduped("x", "k")
    cat.add_items([first])
    batch = [_deduped(f"s{n}", "k") for n in range(1500)]  # written by the second thread
    copy = _deduped("x", "k")
    with pytest.raises(DuplicateItem):
        cat.add_items(batch + [copy])
    assert cat.item_by_dedupe(batch[0].dedupe) is None
    cat.add_items(batch)
    assert cat.item_by_dedupe(batch[-1].dedupe).id == batch[-1].id
    assert cat.index_state(batch[7].id) == cat.expected_index(batch[7])
    cat.close()


def test_a_schema_5_catalog_is_keyed_by_step_6_idempotently(tmp_path):
    path = tmp_path / "c.sqlite"
    cat = SQLiteCatalog(path)
    items = [_deduped(f"i{n}", "k") for n in range(5)] + [make_item()]
    cat.add_items(items)
    fresh = _schema(cat.db)
    cat.close()
    # the catalog as schema 5 left it: text indexes, no key columns
    with sqlite3.connect(path) as db:
        for statement in (
                "DROP INDEX items_activity_key", "ALTER TABLE items DROP COLUMN activity_key",
                "DROP INDEX items_object_key",
                "ALTER TABLE items DROP COLUMN dedupe_key",
                "ALTER TABLE items DROP COLUMN object_key",
                "CREATE UNIQUE INDEX items_dedupe ON items(dedupe) WHERE dedupe IS NOT NULL",
                "CREATE INDEX items_object ON items(sha256)",
                "DROP INDEX items_tier_held", "DROP INDEX items_status_open",
                "CREATE INDEX items_tier ON items(tier, sort_us)",
                "CREATE INDEX items_status ON items(status, sort_us)", "PRAGMA user_version=5"):
            db.execute(statement)
    db.close()
    old = SQLiteCatalog(path)
    assert old.schema_version == 5
    done = schema.STEPS[6].apply(old)
    assert done == {"columns_added": ["object_key", "dedupe_key"], "items_keyed": 6}
    assert schema.STEPS[6].apply(old) == {"columns_added": [], "items_keyed": 0}
    assert schema.STEPS[7].apply(old) == {"dedupe_index_dropped": True}
    schema.STEPS[8].apply(old)
    schema.STEPS[9].apply(old)
    old.set_schema_version(9)
    assert _schema(old.db) == fresh
    for item in items:
        assert old.index_state(item.id) == old.expected_index(item)
        if item.dedupe:
            assert old.item_by_dedupe(item.dedupe).id == item.id
        assert [i.id for i in old.items_of_object(item.sha256)] == [item.id]
    with pytest.raises(DuplicateItem):
        old.add_items([_deduped("i0", "k")])
    old.close()


def test_a_key_that_drifted_from_its_digest_is_an_index_problem(tmp_path):
    cat = SQLiteCatalog(tmp_path / "c.sqlite")
    item = make_item()
    cat.add_items([item])
    cat.db.execute("UPDATE items SET object_key=object_key+1 WHERE id=?", (item.id,))
    state = cat.index_state(item.id)
    assert state["sha256"] != item.sha256 and state != cat.expected_index(item)
    cat.close()


def test_a_dedupe_key_that_does_not_name_its_bytes_is_refused(tmp_path):
    """The dedupe key is found through the index on the bytes, so it must begin with them
    (``model.dedupe_key`` makes it so): another is refused, naming the item, and nothing is
    written."""
    cat = SQLiteCatalog(tmp_path / "c.sqlite")
    good, bad = _deduped("g", "k"), make_item(seed="b")
    bad.dedupe = f"{good.sha256}:other"
    with pytest.raises(InputError, match="does not begin with its digest") as exc:
        cat.add_items([good, bad])
    assert exc.value.subject == bad.id
    assert cat.get_item(good.id) is None
    cat.close()


def test_step_7_drops_the_dedupe_index_and_refuses_a_catalog_it_cannot_serve(tmp_path):
    path = tmp_path / "c.sqlite"
    cat = SQLiteCatalog(path)
    item = _deduped("i", "k")
    cat.add_items([item])
    fresh = _schema(cat.db)
    cat.db.execute("CREATE INDEX items_dedupe_key ON items(dedupe_key) "
                   "WHERE dedupe_key IS NOT NULL")  # as step 6 left a catalog
    assert schema.STEPS[7].apply(cat) == {"dedupe_index_dropped": True}
    assert schema.STEPS[7].apply(cat) == {"dedupe_index_dropped": True}  # run again: the same
    assert _schema(cat.db) == fresh
    assert cat.item_by_dedupe(item.dedupe).id == item.id
    cat.db.execute("UPDATE items SET dedupe='elsewhere:k' WHERE id=?", (item.id,))
    with pytest.raises(InputError, match="1 items have a dedupe key"):
        schema.STEPS[7].apply(cat)
    cat.close()


def test_a_large_batch_has_a_larger_page_cache_given_back_after_it(tmp_path, monkeypatch):
    """A bulk load keeps its dirty pages in a larger cache until its commit, with no cyclic
    garbage collection; the connection has its usual cache and the collector runs again
    afterwards, whether the batch went in or was refused."""
    monkeypatch.setattr(sqlite_catalog, "_BULK_ITEMS", 3)
    cat = SQLiteCatalog(tmp_path / "c.sqlite")
    seen, collecting = [], []
    real = SQLiteCatalog._refuse_existing

    def refuse(self, db, items):
        seen.append(db.execute("PRAGMA cache_size").fetchone()[0])
        collecting.append(gc.isenabled())
        real(self, db, items)

    monkeypatch.setattr(SQLiteCatalog, "_refuse_existing", refuse)
    usual = cat.db.execute("PRAGMA cache_size").fetchone()[0]
    assert usual == -sqlite_catalog._CACHE_KIB
    cat.add_items([make_item()])
    batch = [_deduped(f"b{n}", "k") for n in range(3)]
    cat.add_items(batch)
    with pytest.raises(DuplicateItem):
        cat.add_items([_deduped("b0", "k"), make_item(), make_item()])
    assert seen == [usual, -sqlite_catalog._BULK_CACHE_KIB, -sqlite_catalog._BULK_CACHE_KIB]
    assert collecting == [True, False, False] and gc.isenabled()
    assert cat.db.execute("PRAGMA cache_size").fetchone()[0] == usual
    assert cat.item_by_dedupe(batch[2].dedupe).id == batch[2].id
    cat.close()
