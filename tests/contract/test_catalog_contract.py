"""One contract for every catalog backend."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import pytest

from archive.catalog.base import Query
from archive.domain.errors import InputError, NotFound
from archive.domain.model import (
    Digests,
    LedgerEntry,
    Lock,
    MetadataVersion,
    ObjectRecord,
    StoredVersion,
)
from tests.support.builders import T0, make_item

H = timedelta(hours=1)


def _obj(seed: str) -> ObjectRecord:
    sha = hashlib.sha256(seed.encode()).hexdigest()
    lock = Lock("LOCAL-WORM", T0 + timedelta(days=200), False, {"read_only_mode": True})
    return ObjectRecord(Digests(4, sha, "0" * 64),
                        StoredVersion("local", "/w", f"objects/{sha[:2]}/{sha}", "v1", 4, lock),
                        T0)


def test_objects_unique_by_digest(catalog):
    o = _obj("a")
    assert catalog.add_object(o) is True
    assert catalog.add_object(o) is False
    got = catalog.get_object(o.sha256)
    assert got.to_dict() == o.to_dict()
    assert catalog.get_object("f" * 64) is None
    longer = Lock("LOCAL-WORM", T0 + timedelta(days=900), True, {})
    catalog.update_object_lock(o.sha256, longer)
    assert catalog.get_object(o.sha256).storage.lock.retain_until == longer.retain_until
    assert catalog.get_object(o.sha256).storage.version_id == o.storage.version_id
    # a restore wrote the bytes again: the record names the new version
    catalog.update_object_lock(o.sha256, longer, "v-restored")
    assert catalog.get_object(o.sha256).storage.version_id == "v-restored"
    assert [x.sha256 for x in catalog.iter_objects()] == [o.sha256]
    with pytest.raises(NotFound):
        catalog.update_object_lock("e" * 64, longer)


def test_item_round_trip_and_duplicate_id(catalog):
    it = make_item(party="张三", cause="无照经营", case_id="C1", activity_id="A1",
                   activity_type="调查取证", assisting=["P009"])
    catalog.add_item(it)
    got = catalog.get_item(it.id)
    assert got.to_record() == it.to_record()
    assert catalog.get_item("nope") is None
    with pytest.raises(InputError):
        catalog.add_item(it)
    assert [i.id for i in catalog.items_of_object(it.sha256)] == [it.id]


def test_an_adopted_manifest_added_twice_is_a_duplicate_not_an_error(catalog):
    """Two stations that adopt one signed first version race with the same item id and the
    same bytes and description: the loser is told whose item it is (DuplicateItem), on every
    backend; the same id with other bytes stays an error."""
    from archive.domain.errors import DuplicateItem
    from archive.domain.model import dedupe_key

    it = make_item(seed="adopted", party="王五")
    it.dedupe = dedupe_key(it.sha256, it.description)
    catalog.add_item(it)
    again = make_item(seed="adopted", party="王五")
    again.id, again.dedupe = it.id, it.dedupe
    with pytest.raises(DuplicateItem) as exc:
        catalog.add_item(again)
    assert exc.value.existing_id == it.id
    other = make_item(seed="other bytes", party="王五")
    other.id = it.id
    other.dedupe = dedupe_key(other.sha256, other.description)
    with pytest.raises(InputError) as exc:
        catalog.add_item(other)
    assert not isinstance(exc.value, DuplicateItem) and it.id in str(exc.value.subject)


def test_versions_kept_and_search_follows_current(catalog):
    it = make_item(party="李四", status="pending-metadata")
    catalog.add_item(it)
    d2 = it.description.to_dict() | {"party": "王五金店"}
    from archive.domain.model import Description
    v2 = MetadataVersion(it.id, 2, Description.from_dict(d2), it.current.digests, T0, "P000",
                         "correction")
    updated = catalog.add_version(it.id, v2, "archived")
    assert updated.version == 2 and updated.status == "archived"
    assert [v.version for v in catalog.versions(it.id)] == [1, 2]
    assert catalog.versions(it.id)[0].description.party == "李四"
    assert catalog.count(Query(party="李四")) == 0
    assert catalog.count(Query(party="王五")) == 1
    with pytest.raises(InputError):
        catalog.add_version(it.id, v2, "archived")  # 2 does not follow 2
    with pytest.raises(NotFound):
        catalog.add_version("nope", v2, "archived")


def test_save_state_refuses_stale_version(catalog):
    it = make_item()
    catalog.add_item(it)
    it.tier = "permanent"
    it.retain_until = T0 + timedelta(days=3650)
    catalog.save_state(it)
    assert catalog.get_item(it.id).tier == "permanent"
    assert catalog.count(Query(tier="permanent")) == 1
    stale = catalog.get_item(it.id)
    stale.current = MetadataVersion(it.id, 5, it.description, it.current.digests, T0, "x", "y")
    with pytest.raises(InputError):
        catalog.save_state(stale)


@pytest.fixture
def filled(catalog):
    rows = [
        dict(start=T0, minutes=30, officers=["P1"], party="张三", cause="无照经营",
             unit="u1", device_id="D1", case_id="C1", activity_type="调查取证", tier="case"),
        dict(start=T0 + 2 * H, minutes=10, officers=["P1", "P2"], party="王五",
             cause="占道经营", unit="u1", device_id="D2", activity_id="ACT9"),
        dict(start=T0 + 5 * H, minutes=60, officers=["P2"], party="某某食品有限公司",
             cause="销售过期食品", unit="u2", device_id="D3", case_id="C2", kind="audio"),
        dict(start=T0 + 30 * H, minutes=5, officers=["P3"], assisting=["P1"],
             party="王五金店", cause="无照经营", unit="u2", device_id="D3", kind="photo"),
        dict(start=None, officers=[], party="赵六", unit="u1", status="pending-metadata"),
    ]
    items = []
    for r in rows:
        items.append(make_item(**r))
    catalog.add_items(items)
    return catalog, items


def _ids(page):
    return [i.id for i in page.items]


def test_search_each_key(filled):
    cat, it = filled
    assert _ids(cat.search(Query(unit="u1"))) == [it[0].id, it[1].id, it[4].id]
    assert _ids(cat.search(Query(device_id="D3"))) == [it[2].id, it[3].id]
    assert _ids(cat.search(Query(officer="P1"))) == [it[0].id, it[1].id, it[3].id]
    assert _ids(cat.search(Query(case_id="C2"))) == [it[2].id]
    assert _ids(cat.search(Query(tier="case"))) == [it[0].id]
    assert _ids(cat.search(Query(kind="audio"))) == [it[2].id]
    assert _ids(cat.search(Query(activity_type="调查取证"))) == [it[0].id]
    assert _ids(cat.search(Query(activity_id="ACT9"))) == [it[1].id]
    assert _ids(cat.search(Query(status="pending-metadata"))) == [it[4].id]
    assert _ids(cat.search(Query(unit="u2", officer="P1"))) == [it[3].id]


def test_search_substrings_chinese(filled):
    cat, it = filled
    assert _ids(cat.search(Query(party="王五"))) == [it[1].id, it[3].id]
    assert _ids(cat.search(Query(party="五金"))) == [it[3].id]
    assert _ids(cat.search(Query(party="食品有限"))) == [it[2].id]
    assert _ids(cat.search(Query(cause="无照"))) == [it[0].id, it[3].id]
    assert _ids(cat.search(Query(cause="经营", unit="u1"))) == [it[0].id, it[1].id]
    assert _ids(cat.search(Query(party="不存在"))) == []
    assert _ids(cat.search(Query(party="张三", cause="占道"))) == []
    with pytest.raises(InputError):
        Query(party="王")


def test_time_range_selects_overlapping(filled):
    cat, it = filled
    # a range that starts inside the first recording (T0 .. T0+30m)
    q = Query(start=T0 + timedelta(minutes=20), end=T0 + 3 * H)
    assert _ids(cat.search(q)) == [it[0].id, it[1].id]
    q = Query(start=T0 + timedelta(minutes=31), end=T0 + 2 * H)  # between recordings
    assert _ids(cat.search(q)) == []
    q = Query(officer="P2", start=T0 + 5 * H + timedelta(minutes=59), end=T0 + 40 * H)
    assert _ids(cat.search(q)) == [it[2].id]
    assert cat.count(Query(start=T0 - H, end=T0 + 100 * H)) == 4
    with pytest.raises(InputError):
        Query(start=T0, end=T0 - H)


def test_paging_is_complete_and_sorted(catalog):
    items = [make_item(start=T0 + timedelta(minutes=7 * (i % 13)), officers=["P7"])
             for i in range(40)]
    catalog.add_items(items)
    for q in (Query(), Query(officer="P7"), Query(unit="market-001")):
        seen, cursor = [], None
        while True:
            page = catalog.search(q, limit=7, cursor=cursor)
            seen += page.items
            cursor = page.next_cursor
            if cursor is None:
                break
        assert sorted(i.id for i in seen) == sorted(i.id for i in items)
        starts = [i.description.recorded_start for i in seen]
        assert starts == sorted(starts)
        assert catalog.count(q) == 40


def test_counts_grouped(filled):
    cat, _ = filled
    assert cat.count_by("tier") == {"case": 1, "routine": 4}
    assert cat.count_by("unit") == {"u1": 3, "u2": 2}
    assert cat.count_by("officer") == {"P1": 3, "P2": 2, "P3": 1}
    assert cat.count_by("officer", Query(unit="u2")) == {"P1": 1, "P2": 1, "P3": 1}
    assert cat.count_by("kind", Query(party="王五")) == {"video": 1, "photo": 1}
    assert cat.count_by("cause", Query(unit="u1")) == {"无照经营": 1, "占道经营": 1, "": 1}
    with pytest.raises(InputError):
        cat.count_by("sha256")


def test_records(catalog):
    catalog.put_record("devices", "D1", {"id": "D1", "model": "X", "status": "ok"})
    catalog.put_record("devices", "D2", {"id": "D2", "model": "X", "status": "faulty"})
    catalog.put_record("devices", "D1", {"id": "D1", "model": "X", "status": "faulty"})
    assert catalog.get_record("devices", "D1")["status"] == "faulty"
    assert [d["id"] for d in catalog.list_records("devices", status="faulty")] == ["D1", "D2"]
    assert catalog.get_record("people", "D1") is None
    with pytest.raises(InputError):
        catalog.put_record("nonsense", "x", {})


def _entry(prev: LedgerEntry | None, n: int = 0) -> LedgerEntry:
    seq = prev.seq + 1 if prev else 1
    return LedgerEntry(seq, datetime.now(timezone.utc).isoformat(), "P000", "test", f"s{n}",
                       {"n": n}, prev.hash if prev else "", f"h{seq}")


def test_ledger_append_and_read(catalog):
    assert catalog.ledger_head() is None
    for n in range(5):
        catalog.append_ledger(lambda prev, n=n: _entry(prev, n))
    entries = list(catalog.ledger_entries())
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert [e.prev_hash for e in entries] == ["", "h1", "h2", "h3", "h4"]
    assert catalog.ledger_head().seq == 5
    assert [e.seq for e in catalog.ledger_entries(4)] == [4, 5]
    with pytest.raises(InputError):
        catalog.append_ledger(lambda prev: _entry(None))  # seq 1 again


def test_ledger_threads_get_gap_free_sequence(catalog):
    import threading

    def worker(k):
        for n in range(25):
            catalog.append_ledger(lambda prev, n=n: _entry(prev, k * 100 + n))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entries = list(catalog.ledger_entries())
    assert [e.seq for e in entries] == list(range(1, 101))
    assert all(e.prev_hash == f"h{e.seq - 1}" for e in entries[1:])


def test_one_item_per_bytes_and_description(catalog):
    from archive.domain.errors import DuplicateItem
    from archive.domain.model import dedupe_key

    a = make_item(seed="same", party="王五")
    a.dedupe = dedupe_key(a.sha256, a.description)
    catalog.add_item(a)
    b = make_item(seed="same", party="王五")
    b.dedupe = dedupe_key(b.sha256, b.description)
    assert b.dedupe == a.dedupe and b.id != a.id
    with pytest.raises(DuplicateItem) as exc:
        catalog.add_item(b)
    assert exc.value.existing_id == a.id
    assert catalog.item_by_dedupe(a.dedupe).id == a.id
    c = make_item(seed="same", party="张三")  # same bytes, other metadata: a second item
    c.dedupe = dedupe_key(c.sha256, c.description)
    catalog.add_item(c)
    catalog.add_items([make_item(), make_item()])  # no dedupe key: never refused
    assert catalog.item_by_dedupe("nothing") is None
    assert len(catalog.items_of_object(a.sha256)) == 2


def test_iter_records_gives_ids_with_documents(catalog):
    catalog.put_record("meta", "b", {"n": 2})  # no id field in the document
    catalog.put_record("meta", "a", {"n": 1})
    catalog.put_record("cases", "a", {"id": "a"})
    assert list(catalog.iter_records("meta")) == [("a", {"n": 1}), ("b", {"n": 2})]
    with pytest.raises(InputError):
        list(catalog.iter_records("nonsense"))


def test_archive_codes_of_gives_the_codes_of_the_items_asked_for_only(catalog):
    for n, item in enumerate(("i1", "i2", "i3"), 1):
        code = f"J001-2025-Y30-{n:04d}"
        catalog.put_record("archive_codes", code, {"code": code, "item": item, "year": 2025})
    catalog.put_record("meta", "x", {"item": "i1", "code": "not a code record"})
    assert catalog.archive_codes_of(["i3", "i1", "i1", "nobody"]) == {
        "i1": "J001-2025-Y30-0001", "i3": "J001-2025-Y30-0003"}
    assert catalog.archive_codes_of([]) == {}
    many = [f"x{i}" for i in range(1200)] + ["i2"]  # more than one batch of ids
    assert catalog.archive_codes_of(many) == {"i2": "J001-2025-Y30-0002"}


def _link(catalog, item_id: str, *case_ids: str) -> None:
    """What ``case link`` records on an item (its state, not its description)."""
    item = catalog.get_item(item_id)
    item.retention = {**item.retention, "cases": list(case_ids)}
    catalog.save_state(item)


def test_the_items_of_a_case_are_named_or_linked(catalog):
    named = make_item(start=T0, case_id="C1", officers=["P1"])
    linked = make_item(start=T0 + H, officers=["P1"])
    both = make_item(start=T0 + 2 * H, case_id="C2", officers=["P2"])
    other = make_item(start=T0 + 3 * H)
    catalog.add_items([named, linked, both, other])
    _link(catalog, linked.id, "C1")
    _link(catalog, both.id, "C1", "C2")
    assert _ids(catalog.search(Query(case_id="C1"))) == [named.id, linked.id, both.id]
    assert _ids(catalog.search(Query(case_id="C2"))) == [both.id]
    assert _ids(catalog.search(Query(case_id="C1", officer="P1"))) == [named.id, linked.id]
    assert _ids(catalog.search(Query(case_id="C1"), limit=2, cursor=catalog.search(
        Query(case_id="C1"), limit=2).next_cursor)) == [both.id]
    assert catalog.count(Query(case_id="C1")) == 3
    assert catalog.count_by("case_id") == {"C1": 3, "C2": 1, "": 1}
    assert catalog.count_by("case_id", Query(officer="P1")) == {"C1": 2}
    assert catalog.count_by("kind", Query(case_id="C1")) == {"video": 3}
    # a new metadata version keeps the links; a link taken back is gone from the search
    from archive.domain.model import Description
    d2 = Description.from_dict(linked.description.to_dict() | {"party": "王五"})
    catalog.add_version(linked.id, MetadataVersion(linked.id, 2, d2, linked.current.digests,
                                                   T0, "P000", "correction"), "archived")
    assert catalog.count(Query(case_id="C1", party="王五")) == 1
    _link(catalog, linked.id)
    assert _ids(catalog.search(Query(case_id="C1"))) == [named.id, both.id]


def test_index_state_is_what_the_item_says(filled):
    cat, items = filled
    _link(cat, items[1].id, "C9")
    for item in items:
        item = cat.get_item(item.id)
        assert cat.index_state(item.id) == cat.expected_index(item), item.id
    assert cat.index_state("nope") is None
    from archive.domain.model import Description
    first = items[0]
    d2 = Description.from_dict(first.description.to_dict() | {
        "party": "李四", "cause": "占道经营", "officers": ["P7"], "unit": "u9",
        "recorded_start": "2026-04-01T00:00:00.123456Z",
        "recorded_end": "2026-04-01T01:00:00Z"})
    updated = cat.add_version(first.id, MetadataVersion(first.id, 2, d2, first.current.digests,
                                                        T0, "P000", "correction"), "archived")
    state = cat.index_state(first.id)
    assert state == cat.expected_index(updated)
    assert state["party"] == "李四" and state["officers"] == ["P7"] and state["unit"] == "u9"
    assert state["version"] == 2 and state["cases"] == ["C1"]
    totals = cat.index_totals()
    assert totals.get("max_span_us", 3600 * 10**6) >= 3600 * 10**6


# --- the change cursor, the due dates and the rotating slice (issue 17) ----------------------
def _all(fetch, size=2):
    """Every page of a paged call, with a small page size so the cursor is walked."""
    out, cursor = [], None
    while True:
        page = fetch(size, cursor)
        out += [i.id for i in page.items]
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


def test_change_cursor_sees_every_kind_of_change_and_nothing_else(catalog):
    start = catalog.change_seq()
    a, b, c = make_item(), make_item(), make_item()
    catalog.add_items([a, b, c])  # one batch: one number, three items in the page order
    after_add = catalog.change_seq()
    assert after_add > start
    assert sorted(_all(lambda n, cur: catalog.changed_items(start, n, cur))) == sorted(
        [a.id, b.id, c.id])
    assert _all(lambda n, cur: catalog.changed_items(after_add, n, cur)) == []
    # a state, a version, the lock of an item's object: each moves the item after the cursor
    got = catalog.get_item(b.id)
    got.tier = "case"
    catalog.save_state(got)
    assert [i.id for i in catalog.iter_changed_items(after_add)] == [b.id]
    mark = catalog.change_seq()
    from archive.domain.model import Description
    d2 = Description.from_dict(c.description.to_dict() | {"party": "王五"})
    catalog.add_version(c.id, MetadataVersion(c.id, 2, d2, c.current.digests, T0, "P000",
                                              "correction"), "archived")
    catalog.add_object(_obj("nobody's"))
    lock = Lock("LOCAL-WORM", T0 + timedelta(days=900), True, {})
    mark2 = catalog.change_seq()
    catalog.update_object_lock(_obj("nobody's").sha256, lock)  # no item holds it: none moves
    assert [i.id for i in catalog.iter_changed_items(mark2)] == []
    assert [i.id for i in catalog.iter_changed_items(mark)] == [c.id]
    catalog.add_object(_obj(a.id))  # a's bytes (make_item's digests are its seed's)
    mark3 = catalog.change_seq()
    catalog.update_object_lock(a.sha256, lock)
    assert [i.id for i in catalog.iter_changed_items(mark3)] == [a.id]
    # records: only those written after the cursor, of the collection asked for
    catalog.put_record("cases", "C1", {"id": "C1", "closed": None})
    mark4 = catalog.change_seq()
    catalog.put_record("cases", "C2", {"id": "C2"})
    catalog.put_record("flags", "F1", {"id": "F1"})
    assert catalog.changed_records("cases", mark4) == [("C2", {"id": "C2"})]
    assert [r for r, _ in catalog.changed_records("cases", mark)] == ["C1", "C2"]
    assert catalog.changed_records("flags", mark4) == [("F1", {"id": "F1"})]


def test_due_items_by_tier_and_date_window(catalog):
    items = []
    for n, tier in enumerate(["routine", "routine", "case", "routine", "permanent",
                              "routine"]):
        it = make_item(tier=tier)
        it.retain_until = T0 + timedelta(days=10 * n)
        items.append(it)
    undated = make_item()
    undated.retain_until = None
    catalog.add_items(items + [undated])
    ids = [i.id for i in items]
    until = T0 + timedelta(days=30)
    assert _all(lambda n, c: catalog.due_items("routine", until, None, n, c)) == [
        ids[0], ids[1], ids[3]]
    # the window is (start, until]: what fell due since the last run, each once
    assert _all(lambda n, c: catalog.due_items("routine", until, T0, n, c)) == [
        ids[1], ids[3]]
    assert [i.id for i in catalog.iter_due_items("routine", T0 + timedelta(days=99),
                                                 T0 + timedelta(days=30), 1)] == [ids[5]]
    assert [i.id for i in catalog.iter_due_items("permanent", T0 + timedelta(days=40))] == [
        ids[4]]
    assert [i.id for i in catalog.iter_due_items("case", T0)] == []


def test_items_after_walks_every_item_by_id_in_slices(catalog):
    items = [make_item() for _ in range(5)]
    catalog.add_items(items)
    want = sorted(i.id for i in items)
    seen, last = [], None
    while True:
        part = catalog.items_after(last, 2)
        if not part:
            break
        seen += [i.id for i in part]
        last = part[-1].id
    assert seen == want
    assert [i.id for i in catalog.items_after(want[2], 10)] == want[3:]


def test_working_state_is_kept_apart_from_records_and_changes(catalog):
    """A report's kept aggregates (issue 17): replaced whole, read back as written, and not
    a record: no change number, not listed or iterated with any collection."""
    assert catalog.get_working("statistics:2026:*:") is None
    before = catalog.change_seq()
    catalog.put_working("statistics:2026:*:", {"rows": [{"id": "a", "n": 1}], "seq": 3})
    catalog.put_working("statistics:2026:*:", {"rows": [], "seq": 4})
    assert catalog.get_working("statistics:2026:*:") == {"rows": [], "seq": 4}
    assert catalog.get_working("statistics:2025:*:") is None
    assert catalog.change_seq() == before
    assert catalog.changed_records("meta", 0) == []
    assert catalog.get_record("meta", "statistics:2026:*:") is None
    assert list(catalog.iter_records("meta")) == []
