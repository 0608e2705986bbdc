"""The catalog at a bureau's scale (issue 17): documents packed, each signed metadata
version stored once, objects written in batches, and the schema step that brings an older
SQLite catalog there."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archive.catalog import packing, schema
from archive.catalog.base import Query
from archive.catalog.sqlite import SQLiteCatalog
from archive.domain.errors import InputError, ServiceUnavailable
from archive.domain.model import (
    Description,
    Digests,
    Lock,
    MetadataVersion,
    ObjectRecord,
    StoredVersion,
)
from tests.support.builders import T0, make_item


def _obj(seed: str) -> ObjectRecord:
    sha = hashlib.sha256(seed.encode()).hexdigest()
    lock = Lock("LOCAL-WORM", T0, False, {"read_only_mode": True})
    return ObjectRecord(Digests(4, sha, "0" * 64),
                        StoredVersion("local", "/w", f"objects/{sha[:2]}/{sha}", "v1", 4, lock),
                        T0)


def _v2(item, party: str) -> MetadataVersion:
    d = Description.from_dict(item.description.to_dict() | {"party": party})
    return MetadataVersion(item_id=item.id, version=2, description=d,
                           digests=item.current.digests, created_at=T0, created_by="P000",
                           reason="更正")


def test_the_dictionary_never_changes():
    """Rows packed with it must stay readable: a new dictionary gets a new first byte."""
    assert hashlib.sha256(packing._DICTIONARY_1).hexdigest() == packing.DICTIONARY_SHA256


def test_packed_and_plain_documents_read_alike():
    doc = {"party": "王五", "n": [1, 2.5, None, True]}
    packed = packing.pack(doc)
    assert packed[0] == 2 and packing.unpack(packed) == doc  # Zstandard
    older = packing._deflate(packing.dumps(doc).encode())
    assert older[0] == 1 and packing.unpack(older) == doc  # deflate rows stay readable
    assert packing.unpack(json.dumps(doc)) == doc  # a row from before schema 4
    with pytest.raises(ValueError, match="dictionary 9"):
        packing.unpack(b"\x09" + packed[1:])


def test_documents_are_packed_and_each_version_stored_once(tmp_path):
    cat = SQLiteCatalog(tmp_path / "c.sqlite")
    it = make_item(party="王五")
    cat.add_item(it)
    assert cat.add_objects([_obj("a"), _obj("b"), _obj("a")]) == 2
    db = cat.db
    assert db.execute("SELECT count(*) FROM item_versions").fetchone()[0] == 0
    cat.add_version(it.id, _v2(it, "李四"), "archived")
    # the earlier version once among the versions, the current one once in the record
    assert db.execute("SELECT item_id, version FROM item_versions").fetchall() == [(it.id, 1)]
    assert [v.version for v in cat.versions(it.id)] == [1, 2]
    assert cat.versions(it.id)[0].to_dict() == it.current.to_dict()
    assert cat.get_item(it.id).description.party == "李四"
    for table in ("items", "objects", "item_versions"):
        assert {t for (t,) in db.execute(f"SELECT typeof(doc) FROM {table}")} == {"blob"}
    cat.close()


def test_step_4_packs_an_older_catalog_and_drops_the_version_copies(tmp_path):
    path = tmp_path / "c.sqlite"
    cat = SQLiteCatalog(path)
    a, b = make_item(party="王五"), make_item(party="张三")
    cat.add_items([a, b])
    cat.add_object(_obj("a"))
    cat.add_version(a.id, _v2(a, "李四"), "archived")
    want = {i: [v.to_dict() for v in cat.versions(i)] for i in (a.id, b.id)}
    cat.close()
    with sqlite3.connect(path) as db:  # as schema 3 stored it: plain JSON, versions twice
        for table, key in (("items", "rowid"), ("objects", "sha256"),
                           ("item_versions", "rowid")):
            rows = db.execute(f"SELECT {key}, doc FROM {table}").fetchall()
            db.executemany(f"UPDATE {table} SET doc=? WHERE {key}=?",
                           [(packing.unpack_text(d), k) for k, d in rows])
        for item_id, version, doc in db.execute("SELECT id, version, doc FROM items"
                                                ).fetchall():
            db.execute("INSERT INTO item_versions VALUES (?, ?, ?)",
                       (item_id, version, packing.dumps(json.loads(doc)["current"])))
        db.execute("PRAGMA user_version=3")
    db.close()
    old = SQLiteCatalog(path)
    assert old.schema_version == 3
    out = schema.STEPS[4].apply(old)
    assert out == {"documents_packed": 4, "version_copies_dropped": 2}
    assert {i: [v.to_dict() for v in old.versions(i)] for i in want} == want
    assert {t for (t,) in old.db.execute("SELECT typeof(doc) FROM items")} == {"blob"}
    assert schema.STEPS[4].apply(old) == {"documents_packed": 0, "version_copies_dropped": 0}
    old.close()


def test_a_batch_of_several_chunks_goes_in_whole(tmp_path):
    """Batches above two chunks have their records compressed on a second thread while the
    chunk before goes in: every record lands with its own row."""
    cat = SQLiteCatalog(tmp_path / "c.sqlite")
    cat.add_items([make_item(party="王3五")])  # a name already known when the batch comes
    items = [make_item(party=f"王{n % 7}五") for n in range(1_050)]
    cat.add_items(items)
    assert cat.count(Query()) == 1_051 and cat.count(Query(party="王3")) == 151
    assert all(cat.get_item(i.id).to_record() == i.to_record() for i in items)
    assert dict(cat.db.execute("SELECT text, n FROM terms WHERE field='party'")) == {
        f"王{n}五": 150 + (n == 3) for n in range(7)}
    assert cat.db.execute("SELECT count(*) FROM item_officers").fetchone()[0] == 1_051
    with pytest.raises(InputError):  # refused whole: nothing of the second batch stays
        cat.add_items([make_item() for _ in range(1_010)] + [items[5]])
    assert cat.count(Query()) == 1_051
    cat.close()


def test_a_new_catalog_has_large_pages_and_an_older_one_keeps_its_own(tmp_path,
                                                                     monkeypatch):
    """16 KiB pages for a new file (fewer pages for a batch to touch); a catalog made with
    SQLite's 4 KiB pages opens, is written and read as before, and its pages stay 4 KiB."""
    new = SQLiteCatalog(tmp_path / "new.sqlite")
    assert new.db.execute("PRAGMA page_size").fetchone()[0] == 16_384
    new.close()
    old_path = tmp_path / "old.sqlite"
    with monkeypatch.context() as m:  # made as custody made catalogs before: 4 KiB pages
        m.setattr("archive.catalog.sqlite._PAGE_BYTES", 4_096)
        made = SQLiteCatalog(old_path)
        made.add_items([make_item()])
        made.close()
    old = SQLiteCatalog(old_path)
    item = make_item(party="王五")
    old.add_items([item])
    assert old.db.execute("PRAGMA page_size").fetchone()[0] == 4_096
    assert old.get_item(item.id).to_record() == item.to_record()
    assert old.count(Query(party="王五")) == 1
    old.close()


def test_a_file_that_is_not_a_catalog_is_refused_by_name_and_left_as_it_was(tmp_path):
    """The page size is set on a file before anything reads it: a file that is no SQLite
    database is refused with its path and the reason, not written to."""
    path = tmp_path / "catalog.sqlite"
    path.write_bytes(b"not a database, a text file\n" * 200)
    before = path.read_bytes()
    with pytest.raises(ServiceUnavailable) as refused:
        SQLiteCatalog(path).count(Query())
    assert str(path) in str(refused.value) and "not a database" in str(refused.value)
    assert path.read_bytes() == before


def test_names_new_to_a_batch_are_created_together_with_their_bigrams(tmp_path):
    """A batch's new names go in with three statements for them all: each gets an id of its
    own, its bigrams, and each bigram counts the names that hold it, as one at a time did."""
    cat = SQLiteCatalog(tmp_path / "c.sqlite")
    cat.add_items([make_item(party="张三")])  # known before: looked up, not created again
    names = ["张三", "张三丰", "李四", "王", "张三丰", "陈李四"]
    cat.add_items([make_item(party=p, cause=f"无照经营{n % 2}") for n, p in enumerate(names)])
    terms = {(f, t): (tid, n) for tid, f, t, n in cat.db.execute(
        "SELECT id, field, text, n FROM terms")}
    assert {t: n for (f, t), (_, n) in terms.items() if f == "party"} == {
        "张三": 2, "张三丰": 2, "李四": 1, "王": 1, "陈李四": 1}
    assert len({tid for tid, _ in terms.values()}) == len(terms) == 7
    grams = {(f, g, tid) for f, g, tid in cat.db.execute("SELECT * FROM term_grams")}
    want = {(f, g, tid) for (f, t), (tid, _) in terms.items()
            for g in ({t[k:k + 2] for k in range(len(t) - 1)} or {t})}
    assert grams == want
    assert dict(((f, g), n) for f, g, n in cat.db.execute("SELECT * FROM gram_counts")) == \
        Counter((f, g) for f, g, _ in want)
    assert cat.count(Query(party="李四")) == 2 and cat.count(Query(party="三丰")) == 2
    assert cat.count(Query(cause="经营1")) == 3
    cat.close()


def test_many_records_compressed_at_once_are_what_each_packs_to():
    docs = [{"n": n, "text": "王五" * n, "nested": {"at": "2026-12-02T00:00:00Z"}}
            for n in range(40)]
    texts = [packing.dump(d) for d in docs]
    assert packing.compress_many(texts) == [packing.pack(d) for d in docs]
    assert packing.compress_many(texts[:1]) == [packing.pack(docs[0])]
    assert packing.compress_many([]) == []


def test_mongodb_stores_each_version_once_and_step_4_drops_the_copies():
    import mongomock

    from archive.catalog.mongo import MongoCatalog

    cat = MongoCatalog(mongomock.MongoClient(), database="scale")
    a, b = make_item(party="王五"), make_item()
    cat.add_items([a, b])
    cat.add_version(a.id, _v2(a, "李四"), "archived")
    raw = cat.db["item_versions"]
    assert sorted(d["_id"] for d in raw.find()) == [f"{a.id}:1"]
    assert [v.version for v in cat.versions(a.id)] == [1, 2]
    assert [v.to_dict() for v in cat.versions(b.id)] == [b.current.to_dict()]
    # as schema 3 stored them: the current version's copy beside the item
    for item in (cat.get_item(a.id), b):
        raw.insert_one({"_id": f"{item.id}:{item.version}", "item_id": item.id,
                        "version": item.version, "doc": item.current.to_dict()})
    assert [v.version for v in cat.versions(a.id)] == [1, 2]  # read as one version
    assert schema.STEPS[4].apply(cat) == {"version_copies_dropped": 2}
    assert sorted(d["_id"] for d in raw.find()) == [f"{a.id}:1"]


def test_a_page_after_the_first_is_sought_not_scanned_to(tmp_path):
    """Walking every item a page at a time (a full sweep, audit verify) stays linear: each
    page starts at its cursor in the index instead of scanning to it from the start."""
    cat = SQLiteCatalog(tmp_path / "c.sqlite")
    for q in (Query(), Query(officer="P1"), Query(unit="u1")):
        sql, params = cat.search_sql(q, 1000, "5:7")
        plan = " ".join(r[3] for r in cat.db.execute("EXPLAIN QUERY PLAN " + sql, params))
        assert "SCAN" not in plan, (q, plan)
    cat.close()


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(codec="utf-8")),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    | st.dictionaries(st.integers(), inner, max_size=3),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(_JSON)
def test_the_fast_json_writes_what_json_writes(doc):
    """orjson writes the stored text: json.dumps's text (sorted keys, no spaces, no escapes)
    but for the form of a float's exponent, the same values; what orjson refuses (huge
    integers, keys that are no string) falls back to json itself. Read back alike. (A float
    that is not finite is written as JSON's null, where json wrote a non-standard NaN: see
    packing's docstring.)"""
    expected = json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    written = packing.dumps(doc)
    assert json.loads(written) == json.loads(expected)
    if not re.search(r"\d[eE][+-]?\d", expected):  # no exponent anywhere: the same text
        assert written == expected
    assert packing.unpack_text(packing.pack(doc)) == written
    assert packing.unpack(packing.pack(doc)) == json.loads(expected)


def test_a_float_that_is_not_finite_is_written_as_null():
    assert packing.dumps([float("nan"), float("inf")]) == "[null,null]"
