"""What the MongoDB catalog does beyond the catalog contract: indexes, write concern, errors,
and the races it settles without transactions."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import mongomock
import pymongo
import pytest
from pymongo.errors import AutoReconnect, OperationFailure

from archive.catalog.base import Query
from archive.catalog.mongo import ITEM_INDEXES, MongoCatalog, strip_credentials
from archive.domain.errors import InputError, ServiceUnavailable
from archive.domain.model import Description, LedgerEntry, MetadataVersion
from tests.support.builders import T0, make_item
from tests.support.mongo import MONGO_FACTORIES
from tests.support.wire import wire_catalog

# mongomock (and a configured server), and the same backend over the wire on mongoeco
FACTORIES = {**MONGO_FACTORIES, "wire": wire_catalog}

H = timedelta(hours=1)


@pytest.fixture(params=sorted(FACTORIES))
def mongo(request, tmp_path):
    with FACTORIES[request.param](tmp_path) as cat:
        yield cat


def _version(item, n: int, **changes) -> MetadataVersion:
    d = Description.from_dict(item.description.to_dict() | changes)
    return MetadataVersion(item.id, n, d, item.current.digests, T0, "P000", "correction")


def _entry(prev: LedgerEntry | None, n: int = 0) -> LedgerEntry:
    seq = prev.seq + 1 if prev else 1
    return LedgerEntry(seq, T0.isoformat(), "P000", "test", f"s{n}", {"n": n},
                       prev.hash if prev else "", f"h{seq}-{n}")


class _Unreachable:
    """A collection whose server went away mid-command."""

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise AutoReconnect("db1:27017: connection closed")
        return fail


# --- setup --------------------------------------------------------------------------------
def test_indexes_created_with_expected_keys(mongo):
    keys = {tuple(spec["key"]) for spec in mongo.db["items"].index_information().values()}
    for expected in (("unit", "sort"), ("officers", "sort"), ("party_grams", "sort"),
                     ("cause_grams", "sort"), ("tier", "retain_until", "_id"), ("seq", "_id"),
                     ("sha256",), ("sort", "_id")):
        assert tuple((k, 1) for k in expected) in keys
    assert {tuple(k) for k in ITEM_INDEXES} <= keys
    versions = {tuple(s["key"]) for s in mongo.db["item_versions"].index_information().values()}
    assert (("item_id", 1), ("version", 1)) in versions


def test_writes_wait_for_a_journaled_majority(mongo):
    for name in ("_objects", "_items", "_versions", "_records", "_ledger", "_stats"):
        assert getattr(mongo, name).write_concern.document == {"w": "majority", "j": True}


UNREACHABLE = "mongodb://alice:s3cret@127.0.0.1:9/custody?serverSelectionTimeoutMS=300"


@pytest.mark.parametrize("given", ["uri", "client"])
def test_unreachable_server_is_service_unavailable_without_credentials(given):
    client = pymongo.MongoClient(UNREACHABLE) if given == "client" else None
    began = time.monotonic()
    with pytest.raises(ServiceUnavailable) as caught:
        MongoCatalog(client or UNREACHABLE)
    if client:
        client.close()
    assert time.monotonic() - began < 10
    err = caught.value
    assert err.exit_code == 3
    assert err.endpoint == "mongodb://127.0.0.1:9/"
    assert "mongodb://127.0.0.1:9/" in err.message
    for secret in ("alice", "s3cret"):
        assert secret not in err.message and secret not in str(err.to_dict())


@pytest.mark.parametrize(("uri", "shown"), [
    ("mongodb://alice:s3cret@db1:27017,db2:27017/custody?replicaSet=rs0&authSource=admin",
     "mongodb://db1:27017,db2:27017/"),
    ("mongodb+srv://u:p%40ss@cluster0.example.net/?retryWrites=true",
     "mongodb+srv://cluster0.example.net/"),
    ("mongodb://db1?tlsCertificateKeyFilePassword=hunter2", "mongodb://db1"),
    ("mongodb://localhost", "mongodb://localhost"),
])
def test_endpoint_drops_credentials_and_options(uri, shown):
    assert strip_credentials(uri) == shown


def test_bad_uri_is_bad_input():
    with pytest.raises(InputError, match="MongoDB catalog URI"):
        MongoCatalog("http://db1:27017")


def test_mongomock_endpoint():
    client = mongomock.MongoClient()
    assert MongoCatalog(client).endpoint == "mongomock"


def test_connection_lost_mid_operation_is_service_unavailable(mongo, monkeypatch):
    monkeypatch.setattr(mongo, "_items", _Unreachable())
    monkeypatch.setattr(mongo, "_ledger", _Unreachable())
    with pytest.raises(ServiceUnavailable, match="db1:27017: connection closed"):
        mongo.get_item("x")
    with pytest.raises(ServiceUnavailable):
        list(mongo.ledger_entries())  # a generator: mapped while iterating


def test_other_database_errors_pass_unchanged(mongo, monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationFailure("not authorized", code=13)
    monkeypatch.setattr(mongo._items, "find_one", refuse)
    with pytest.raises(OperationFailure):
        mongo.get_item("x")


# --- what is stored -----------------------------------------------------------------------
def test_item_fields_are_native_and_indexed(mongo):
    it = make_item(start=T0, minutes=90, officers=["P1"], assisting=["P2", "P1"],
                   party="王五金店", cause="无照经营")
    mongo.add_item(it)
    raw = mongo.db["items"].find_one({"_id": it.id})
    assert raw["start"] == T0 and raw["end"] == T0 + 90 * timedelta(minutes=1)
    assert raw["sort"] == T0 and raw["start"].tzinfo is not None
    assert raw["officers"] == ["P1", "P2"]
    assert sorted(raw["party_grams"]) == ["五金", "王五", "金店"]
    assert raw["version"] == 1 and raw["doc"] == it.to_record()
    assert mongo.db["item_versions"].find_one({"_id": f"{it.id}:1"}) is None  # in the item
    assert mongo.db["stats"].find_one({"_id": "max_span_us"})["value"] == 90 * 60 * 10**6


def test_pending_item_sorts_by_ingest_time(mongo):
    it = make_item(start=None, status="pending-metadata")
    mongo.add_item(it)
    raw = mongo.db["items"].find_one({"_id": it.id})
    assert raw["start"] is None and raw["sort"] == it.ingested_at


# --- duplicates and races -----------------------------------------------------------------
def test_batch_with_known_id_changes_nothing(mongo):
    a, b, c = make_item(), make_item(), make_item()
    mongo.add_item(a)
    with pytest.raises(InputError, match=a.id):
        mongo.add_items([b, a, c])
    with pytest.raises(InputError, match="twice"):
        mongo.add_items([b, b])
    assert mongo.get_item(b.id) is None and mongo.get_item(c.id) is None
    assert mongo.count(Query()) == 1


def test_batch_losing_a_race_keeps_complete_items_before_it(mongo, monkeypatch):
    a, b, c = make_item(), make_item(), make_item()
    mongo.add_item(a)
    # another writer inserted ``a`` after our check: the unique _id refuses it
    monkeypatch.setattr(mongo, "_refuse_existing", lambda items: None)
    with pytest.raises(InputError, match=a.id):
        mongo.add_items([b, a, c])
    assert [v.version for v in mongo.versions(b.id)] == [1]
    assert mongo.get_item(c.id) is None
    assert mongo.get_item(a.id).to_record() == a.to_record()


def test_add_version_loses_to_a_concurrent_writer(mongo, monkeypatch):
    it = make_item(party="李四")
    mongo.add_item(it)
    widen = mongo._raise_max_span
    raced = []

    def other_writer_first(items):
        if not raced:  # between our read of version 1 and our update, someone adds 2
            raced.append(True)
            mongo.add_version(it.id, _version(it, 2, party="张三"), "archived")
        widen(items)

    monkeypatch.setattr(mongo, "_raise_max_span", other_writer_first)
    with pytest.raises(InputError, match="changed"):
        mongo.add_version(it.id, _version(it, 2, party="王五"), "archived")
    assert [v.description.party for v in mongo.versions(it.id)] == ["李四", "张三"]
    assert mongo.get_item(it.id).description.party == "张三"
    assert mongo.count(Query(party="王五")) == 0


def test_save_state_after_new_version_is_refused(mongo):
    it = make_item()
    mongo.add_item(it)
    mongo.add_version(it.id, _version(it, 2, unit="market-002"), "archived")
    it.tier = "permanent"
    with pytest.raises(InputError, match="catalog has 2"):
        mongo.save_state(it)
    assert mongo.get_item(it.id).tier == "routine"


def test_ledger_append_retries_when_another_writer_wins(mongo):
    mongo.append_ledger(lambda prev: _entry(prev, 1))
    heads = []

    def build(head):
        heads.append(head.seq)
        if len(heads) == 1:  # another process appends seq 2 while we build ours
            mongo.append_ledger(lambda prev: _entry(prev, 99))
        return _entry(head, 2)

    entry = mongo.append_ledger(build)
    assert heads == [1, 2] and entry.seq == 3
    entries = list(mongo.ledger_entries())
    assert [(e.seq, e.details["n"]) for e in entries] == [(1, 1), (2, 99), (3, 2)]
    assert entries[2].prev_hash == entries[1].hash


# --- search -------------------------------------------------------------------------------
def test_time_range_finds_long_recordings(mongo):
    long_one = make_item(start=T0, minutes=600)
    mongo.add_items([long_one, make_item(start=T0 + 12 * H, minutes=5)])
    q = Query(start=T0 + 9 * H, end=T0 + 9.5 * H)  # inside the 10-hour recording only
    assert [i.id for i in mongo.search(q).items] == [long_one.id]
    later = make_item(start=T0 + 20 * H, minutes=1)
    mongo.add_item(later)
    mongo.add_version(later.id, _version(later, 2, recorded_end=(T0 + 60 * H).isoformat()),
                      "archived")  # a correction makes it 40 hours long
    q = Query(start=T0 + 50 * H, end=T0 + 51 * H)
    assert [i.id for i in mongo.search(q).items] == [later.id]


def test_time_range_keeps_sub_millisecond_starts(mongo):
    # BSON keeps milliseconds: the stored start is T0, the range ends 0.2 ms after the start
    it = make_item(start=T0 + timedelta(microseconds=500))
    mongo.add_item(it)
    q = Query(start=T0 - H, end=T0 + timedelta(microseconds=700))
    assert [i.id for i in mongo.search(q).items] == [it.id]


def test_substring_is_literal_text(mongo):
    dotted, other = make_item(party="A.B商行"), make_item(party="AxB商行")
    mongo.add_items([dotted, other])
    assert [i.id for i in mongo.search(Query(party="A.B")).items] == [dotted.id]
    assert mongo.count(Query(party="B商")) == 2


def test_cursor_is_checked(mongo):
    mongo.add_items([make_item(start=T0 + i * H) for i in range(3)])
    page = mongo.search(Query(), limit=2)
    assert len(page.items) == 2 and page.next_cursor
    rest = mongo.search(Query(), limit=2, cursor=page.next_cursor)
    assert len(rest.items) == 1 and rest.next_cursor is None
    for bad in ("junk", "2026-03-01T01:00:00+00:00|", "2026-03-01T01:00:00|x"):
        with pytest.raises(InputError, match="cursor"):
            mongo.search(Query(), cursor=bad)


def test_records_match_by_python_equality(mongo):
    mongo.put_record("people", "P1", {"id": "P1", "roles": ["admin"], "enabled": True})
    mongo.put_record("people", "P2", {"id": "P2", "roles": "admin", "enabled": 1})
    assert [p["id"] for p in mongo.list_records("people", roles="admin")] == ["P2"]
    assert [p["id"] for p in mongo.list_records("people", roles=["admin"])] == ["P1"]
    assert [p["id"] for p in mongo.list_records("people", enabled=True)] == ["P1", "P2"]


def test_stored_times_are_utc(mongo):
    east8 = timezone(timedelta(hours=8))
    it = make_item(start=datetime(2026, 3, 1, 9, 0, tzinfo=east8))
    mongo.add_item(it)
    assert mongo.db["items"].find_one({"_id": it.id})["start"] == T0
    assert mongo.count(Query(start=T0, end=T0 + H)) == 1



def test_a_dedupe_conflict_waits_for_the_racing_winner_to_be_readable(mongo, monkeypatch):
    """Another station's insert took the bytes and description a moment ago and cannot be
    read yet: the unique index refuses ours, and the catalog looks again for the winner
    instead of calling our own new id 'already exists'."""
    from archive.domain.errors import DuplicateItem
    from archive.domain.model import dedupe_key

    winner = make_item(seed="raced", party="王五")
    winner.dedupe = dedupe_key(winner.sha256, winner.description)
    mongo.add_item(winner)
    loser = make_item(seed="raced", party="王五")
    loser.dedupe = dedupe_key(loser.sha256, loser.description)
    # the race: our pre-check saw nothing, and the winner is unreadable for two looks
    monkeypatch.setattr(mongo, "_refuse_existing", lambda items: None)
    real, looks = mongo.item_by_dedupe, []

    def late(key):
        looks.append(key)
        return None if len(looks) <= 2 else real(key)

    monkeypatch.setattr(mongo, "item_by_dedupe", late)
    monkeypatch.setattr("archive.catalog.mongo.time.sleep", lambda s: None)
    with pytest.raises(DuplicateItem) as exc:
        mongo.add_item(loser)
    assert exc.value.existing_id == winner.id and len(looks) == 3
    # a winner that never shows is not invented: the refusal names our item
    monkeypatch.setattr(mongo, "item_by_dedupe", lambda key: None)
    with pytest.raises(InputError, match=loser.id):
        mongo.add_item(loser)


def test_an_adopted_manifest_catalogued_by_another_station_during_our_checks(mongo,
                                                                             monkeypatch):
    """Two stations adopt one signed first version (same id, same bytes and description);
    the other's insert lands while ours is being checked. That is a duplicate whichever
    moment it lands in, never 'item already exists' (the two-station run failed on it when
    the check asked about the bytes and the id in two queries)."""
    from archive.domain.errors import DuplicateItem
    from archive.domain.model import dedupe_key

    winner = make_item(seed="adopted", party="王五")
    winner.dedupe = dedupe_key(winner.sha256, winner.description)
    loser = make_item(seed="adopted", party="王五")
    loser.id, loser.dedupe = winner.id, winner.dedupe
    items, real = mongo._items, mongo._items.find_one
    landed = []

    def find_one(*args, **kwargs):
        found = real(*args, **kwargs)
        if not landed:  # the other station's insert lands right after our first look
            landed.append(True)
            items.insert_one({"_id": winner.id, **mongo._fields(winner), "seq": 0})
        return found

    monkeypatch.setattr(items, "find_one", find_one)
    with pytest.raises(DuplicateItem) as exc:
        mongo.add_item(loser)
    assert exc.value.existing_id == winner.id and landed


def test_a_batch_takes_one_change_number_per_item(mongo):
    """Runs read again ``cursor_overlap`` numbers before their cursor (a write takes its
    number a moment before it lands). A batch of 100 items under one number made every run
    read the last 16 batches again: after a rebuild, the whole archive every time."""
    mongo.add_items([make_item(seed=f"batch {n}") for n in range(100)])
    mongo.add_items([make_item(seed=f"second batch {n}") for n in range(100)])
    head = mongo.change_seq()
    assert head >= 200
    again = list(mongo.iter_changed_items(head - mongo.cursor_overlap))
    assert len(again) == mongo.cursor_overlap
    assert len(list(mongo.iter_changed_items(0))) == 200
