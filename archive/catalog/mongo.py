"""The production catalog: MongoDB through pymongo (a replica set, majority writes).

No multi-document transactions (mongomock, the test stand-in, has none): writers are kept apart
by unique ``_id`` values (item ids, ledger sequence numbers) and by updates conditioned on the
version they read (optimistic concurrency). Where one change writes several documents, the
order keeps searches complete: the longest-recording bound is raised before a longer recording
is written, and an item is written before its version document (a crash between the two leaves
that document missing; the item itself still holds its current, signed version).

Search keys are top-level fields with compound indexes ending in ``sort``, so every filter is
served in search order. Party and cause substrings are found through multikey indexes on their
overlapping bigrams, then confirmed by an exact substring match. BSON keeps times to the
millisecond: range bounds are rounded outwards, so a search never misses an item (one within a
millisecond of an edge may be included).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from bson.codec_options import CodecOptions
from pymongo import ASCENDING, DESCENDING, MongoClient, ReturnDocument, WriteConcern
from pymongo.errors import (
    BulkWriteError,
    ConfigurationError,
    ConnectionFailure,
    DuplicateKeyError,
    PyMongoError,
)

from archive.catalog import schema
from archive.catalog.base import (
    Catalog,
    Page,
    Query,
    bigrams,
    check_collection,
    check_group_key,
    check_next_version,
    item_cases,
    sort_time,
)
from archive.domain.errors import DuplicateItem, InputError, NotFound, ServiceUnavailable
from archive.domain.model import Item, LedgerEntry, Lock, MetadataVersion, ObjectRecord, iso, utc
from i18n import N_, Text

SERVICE = N_("MongoDB catalog")
DUPLICATE_KEY = 11000
_EQUAL_FIELDS = ("unit", "device_id", "tier", "kind", "activity_type", "activity_id",
                 "status")
_MS = timedelta(milliseconds=1)
_US = timedelta(microseconds=1)
_MAX_SPAN = "max_span_us"
_CHANGE_SEQ = "change_seq"
_SCHEMA_ID = "schema"  # the document in catalog_meta that holds the schema version

# Every search key leads an index that continues in search order, so a filtered page is read
# in order from the index instead of being sorted in memory.
ITEM_INDEXES: list[list[tuple[str, int]]] = [
    [(key, ASCENDING), ("sort", ASCENDING)]
    # cases: every case an item belongs to, named or linked (catalog.base.item_cases)
    for key in ("unit", "device_id", "officers", "cases", "activity_id", "activity_type",
                "tier", "kind", "status", "party_grams", "cause_grams")
] + [
    # the due dates, by tier, and the change cursor (catalog.base.Catalog.change_seq)
    [("tier", ASCENDING), ("retain_until", ASCENDING), ("_id", ASCENDING)],
    [("seq", ASCENDING), ("_id", ASCENDING)],
    [("sha256", ASCENDING)],
    [("sort", ASCENDING), ("_id", ASCENDING)],
]

F = TypeVar("F", bound=Callable[..., Any])


def strip_credentials(uri: str) -> str:
    """The URI as it may appear in messages: no user or password, no options (options such as
    authMechanismProperties or tlsCertificateKeyFilePassword can carry secrets too)."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return "mongodb"
    hosts, slash, _ = rest.partition("/")
    hosts = hosts.split("?", 1)[0].rpartition("@")[2]  # passwords are %-escaped: no bare @
    return f"{scheme}://{hosts}{slash}"


def _client_endpoint(client: Any) -> str:
    if type(client).__module__.startswith("mongomock"):
        return "mongomock"
    hosts = client.topology_description.server_descriptions()
    return "mongodb://" + ",".join(f"{h}:{p}" for h, p in hosts) + "/"


def _ceil_ms(dt: datetime) -> datetime:
    """BSON keeps milliseconds and truncates the rest; rounding a range's exclusive end up
    keeps an item that starts in the same millisecond as the end, but before it."""
    rest = dt.microsecond % 1000
    return dt if rest == 0 else dt + (_MS - rest * _US)


def _service_errors(fn: F) -> F:
    """A lost connection or a timed-out operation is the service being unavailable (exit 3),
    named by endpoint, never a traceback."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def generator(self: MongoCatalog, *args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from fn(self, *args, **kwargs)
            except PyMongoError as exc:
                self._raise_unavailable(exc)
                raise
        return generator  # type: ignore[return-value]

    @functools.wraps(fn)
    def call(self: MongoCatalog, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except PyMongoError as exc:
            self._raise_unavailable(exc)
            raise
    return call  # type: ignore[return-value]


def _and(conditions: list[dict]) -> dict:
    # $and rather than one merged dict: several conditions may constrain the same field (sort)
    if not conditions:
        return {}
    return conditions[0] if len(conditions) == 1 else {"$and": conditions}


def _is_duplicate(exc: BulkWriteError) -> bool:
    errors = exc.details.get("writeErrors", [])
    return bool(errors) and all(e.get("code") == DUPLICATE_KEY for e in errors)


class MongoCatalog(Catalog):
    backend = "mongodb"
    time_resolution_us = 1000  # BSON dates keep milliseconds

    # a write takes its sequence number a moment before it lands (``_next_seq``): runs read
    # again this many numbers before their cursor; writers in that moment are fewer
    cursor_overlap = 16

    def __init__(self, client_or_uri: MongoClient | str, database: str = "custody") -> None:
        """``client_or_uri``: a MongoDB URI, or a client (pymongo's, or mongomock's in tests).
        A client given is the caller's to close."""
        self._owns_client = isinstance(client_or_uri, str)
        if isinstance(client_or_uri, str):
            self.endpoint = strip_credentials(client_or_uri)
            try:
                self.client = MongoClient(client_or_uri, tz_aware=True)
            except ConfigurationError as exc:
                raise InputError(N_("{service} URI {endpoint}: {reason}"),
                                 service=Text(SERVICE), endpoint=self.endpoint,
                                 reason=str(exc)) from exc
        else:
            self.client = client_or_uri
            self.endpoint = _client_endpoint(client_or_uri)
        # Set here, not on the client: a caller's client may lack tz_aware. Given to each
        # collection too, because mongomock's collections do not inherit a write concern.
        options = {"codec_options": CodecOptions(tz_aware=True),
                   "write_concern": WriteConcern(w="majority", j=True)}
        self.db = self.client.get_database(database, **options)
        self._objects = self.db.get_collection("objects", **options)
        self._items = self.db.get_collection("items", **options)
        self._versions = self.db.get_collection("item_versions", **options)
        self._records = self.db.get_collection("records", **options)
        self._ledger = self.db.get_collection("ledger", **options)
        self._stats = self.db.get_collection("stats", **options)
        self._meta = self.db.get_collection("catalog_meta", **options)
        try:
            self.client.admin.command("ping")  # fail now, at startup, not mid-ingest
            self.schema_version = self._open_schema()
            if self.schema_version == schema.current():
                self._create_indexes()
        except PyMongoError as exc:
            if self._owns_client:
                self.client.close()
            self._raise_unavailable(exc)
            raise

    def _open_schema(self) -> int:
        """The stored schema version. A database holding nothing gets the current one; a
        catalog from before versions existed (data, no version document) is version 1; an
        older or newer one is left as it is (archive.catalog.schema)."""
        found = self._meta.find_one({"_id": _SCHEMA_ID})
        if found is not None:
            return int(found["version"])
        if any(c.find_one({}, {"_id": 1}) is not None
               for c in (self._items, self._records, self._ledger, self._objects)):
            return schema.FIRST
        try:
            self._meta.insert_one({"_id": _SCHEMA_ID, "version": schema.current()})
        except DuplicateKeyError:  # another process made it first
            pass
        return int(self._meta.find_one({"_id": _SCHEMA_ID})["version"])

    @_service_errors
    def set_schema_version(self, version: int) -> None:
        self._meta.update_one({"_id": _SCHEMA_ID}, {"$set": {"version": int(version)}},
                              upsert=True)
        self.schema_version = version

    def _create_indexes(self) -> None:
        for keys in ITEM_INDEXES:
            self._items.create_index(keys)
        self._versions.create_index([("item_id", ASCENDING), ("version", ASCENDING)])
        self._items.create_index([("dedupe", ASCENDING)], unique=True,
                                 partialFilterExpression={"dedupe": {"$type": "string"}})
        self._records.create_index([("collection", ASCENDING), ("id", ASCENDING)])
        self._records.create_index([("collection", ASCENDING), ("seq", ASCENDING)])
        self._records.create_index([("collection", ASCENDING), ("doc.item", ASCENDING)])

    def _raise_unavailable(self, exc: PyMongoError) -> None:
        if isinstance(exc, ConnectionFailure) or exc.timeout:
            # pymongo appends a dump of its topology: useful in a debugger, noise to a person
            reason = str(exc).split(", Topology Description:")[0]
            raise ServiceUnavailable(Text(SERVICE), self.endpoint, reason) from exc

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    # --- objects -------------------------------------------------------------------------
    @_service_errors
    def add_object(self, obj: ObjectRecord) -> bool:
        try:
            self._objects.insert_one({"_id": obj.sha256, "doc": obj.to_dict()})
        except DuplicateKeyError:
            return False
        return True

    @_service_errors
    def get_object(self, sha256: str) -> ObjectRecord | None:
        found = self._objects.find_one({"_id": sha256})
        return ObjectRecord.from_dict(found["doc"]) if found else None

    @_service_errors
    def update_object_lock(self, sha256: str, lock: Lock, version_id: str | None = None
                           ) -> None:
        changes = {"doc.storage.lock": lock.to_dict(),
                   "doc.storage.lock_verified_at": iso(datetime.now(timezone.utc))}
        if version_id is not None:
            changes["doc.storage.version_id"] = version_id
        done = self._objects.update_one({"_id": sha256}, {"$set": changes})
        if done.matched_count == 0:
            raise NotFound(N_("object {sha256} is not in the catalog"), subject=sha256,
                           sha256=sha256)
        self._items.update_many({"sha256": sha256}, {"$set": {"seq": self._next_seq()}})

    @_service_errors
    def iter_objects(self) -> Iterator[ObjectRecord]:
        for found in self._objects.find().sort("_id", ASCENDING):
            yield ObjectRecord.from_dict(found["doc"])

    # --- items ---------------------------------------------------------------------------
    @staticmethod
    def _fields(item: Item) -> dict:
        """The searchable top-level fields of an item, and its full record."""
        d = item.description
        grams = {f"{name}_grams": sorted(bigrams(getattr(d, name) or ""))
                 for name in ("party", "cause")}
        return {
            "unit": d.unit, "device_id": d.device_id,
            "officers": list(dict.fromkeys(d.officers + d.assisting)),
            "start": d.recorded_start, "end": d.recorded_end or d.recorded_start,
            "sort": sort_time(item), "party": d.party, "cause": d.cause,
            "case_id": d.case_id, "cases": item_cases(item), "activity_id": d.activity_id,
            "activity_type": d.activity_type, "tier": item.tier, "kind": d.kind,
            "status": item.status, "retain_until": item.retain_until, "dedupe": item.dedupe,
            "sha256": item.sha256, "version": item.version, **grams,
            "doc": item.to_record(),
        }

    def _raise_max_span(self, items: list[Item]) -> None:
        """Widen the bound time-range searches use before any longer recording is visible,
        so a search running meanwhile cannot miss it."""
        spans = [d.recorded_end - d.recorded_start for d in (i.description for i in items)
                 if d.recorded_start and d.recorded_end]
        if spans:
            self._stats.update_one({"_id": _MAX_SPAN}, {"$max": {"value": max(spans) // _US}},
                                   upsert=True)

    def _max_span(self) -> timedelta:
        found = self._stats.find_one({"_id": _MAX_SPAN})
        return (found["value"] if found else 0) * _US

    def _refuse_existing(self, items: list[Item]) -> None:
        # Checked first so that the usual mistake (adding a batch again) changes nothing;
        # the unique _id still decides when another writer races us.
        ids = [i.id for i in items]
        if len(set(ids)) < len(ids):
            raise InputError(N_("the batch holds an item id twice"))
        keys = [i.dedupe for i in items if i.dedupe]
        if len(set(keys)) < len(keys):
            raise InputError(N_("the batch holds the same bytes and description twice"))
        # One query for both: two stations adopting one signed manifest race for the same id
        # as well as the same bytes, and the other's item appearing between two queries
        # would turn that duplicate into an error (seen in CI).
        either = [{"_id": {"$in": ids}}] + ([{"dedupe": {"$in": keys}}] if keys else [])
        found = self._items.find_one({"$or": either}, {"_id": 1, "dedupe": 1})
        if found and found.get("dedupe") in keys:
            raise DuplicateItem(found["_id"])
        if found:
            raise InputError(N_("item {item} already exists"), subject=found["_id"],
                             item=found["_id"])

    @staticmethod
    def _version_doc(version: MetadataVersion) -> dict:
        return {"_id": f"{version.item_id}:{version.version}", "item_id": version.item_id,
                "version": version.version, "doc": version.to_dict()}

    @_service_errors
    def add_items(self, items: list[Item]) -> None:
        """Without transactions a batch that loses a race for an id midway keeps the items
        before it, each complete with its version; the error names the item refused."""
        if not items:
            return
        self._refuse_existing(items)
        self._raise_max_span(items)
        seq = self._next_seq(len(items))
        try:
            self._items.insert_many([{"_id": i.id, **self._fields(i), "seq": seq + n}
                                     for n, i in enumerate(items)], ordered=True)
        except BulkWriteError as exc:
            if not _is_duplicate(exc):
                raise
            done = exc.details.get("nInserted", 0)
            existing = self._racing_duplicate(items[done])
            if existing:
                raise DuplicateItem(existing.id) from exc
            raise InputError(N_("item {item} already exists"), subject=items[done].id,
                             item=items[done].id) from exc
        for item in items:
            self._note_item(item)

    def _racing_duplicate(self, item: Item) -> Item | None:
        """The item that took this one's bytes and description first. The unique index may
        refuse us a moment before the winner's insert can be read (another station's write
        still landing): look again for a few seconds rather than call our own new id a
        duplicate (1.5 s was seen to be too short for a loaded wire server)."""
        if not item.dedupe:
            return None
        for wait in (0.0, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2):
            time.sleep(wait)
            existing = self.item_by_dedupe(item.dedupe)
            if existing is not None:
                return existing
        return None

    @_service_errors
    def add_version(self, item_id: str, version: MetadataVersion, status: str) -> Item:
        found = self._items.find_one({"_id": item_id}, {"doc": 1})
        if found is None:
            raise NotFound(N_("no item {item}"), subject=item_id, item=item_id)
        old = Item.from_record(found["doc"])
        check_next_version(old.version, version)
        item = dataclasses.replace(old, current=version, status=status)  # validates status
        self._raise_max_span([item])
        # The version it replaces joins the earlier ones first (each signed version is stored
        # once: the current one only in the item): a crash or a lost race after this leaves
        # a copy of the current version there, which ``versions`` reads as the same version.
        self._versions.update_one({"_id": f"{item_id}:{old.version}"},
                                  {"$setOnInsert": {k: v for k, v in self._version_doc(
                                      old.current).items() if k != "_id"}},
                                  upsert=True)
        # Conditioned on the version read: of two concurrent writers of version n+1 one wins.
        if self._items.find_one_and_update({"_id": item_id, "version": old.version},
                                           {"$set": self._fields(item)
                                            | {"seq": self._next_seq()}}) is None:
            raise InputError(N_("item {item} changed while version {version} was being "
                                "added; read it again"), subject=item_id, item=item_id,
                             version=version.version)
        self._note_item(item)
        return item

    @_service_errors
    def save_state(self, item: Item) -> None:
        done = self._items.update_one({"_id": item.id, "version": item.version}, {"$set": {
            "status": item.status, "tier": item.tier, "retain_until": item.retain_until,
            "cases": item_cases(item), "doc": item.to_record(), "seq": self._next_seq()}})
        if done.matched_count:
            self._note_item(item)
            return
        found = self._items.find_one({"_id": item.id}, {"version": 1})
        if found is None:
            raise NotFound(N_("no item {item}"), subject=item.id, item=item.id)
        raise InputError(N_("item {item}: state saved against version {version}, catalog has "
                            "{current}"), subject=item.id, item=item.id,
                         version=item.version, current=found["version"])

    @_service_errors
    def get_item(self, item_id: str) -> Item | None:
        found = self._items.find_one({"_id": item_id}, {"doc": 1})
        return Item.from_record(found["doc"]) if found else None

    @_service_errors
    def versions(self, item_id: str) -> list[MetadataVersion]:
        """The earlier versions, then the current one from the item, in version order."""
        found = self._versions.find({"item_id": item_id}).sort("version", ASCENDING)
        docs = [v["doc"] for v in found]
        item = self._items.find_one({"_id": item_id}, {"doc": 1})
        if item is not None:
            current = item["doc"]["current"]
            # a copy left by an add_version that did not finish is the same version once
            docs = [d for d in docs if d != current] + [current]
        out = [MetadataVersion.from_dict(d) for d in docs]
        return sorted(out, key=lambda v: v.version)

    @_service_errors
    def items_of_object(self, sha256: str) -> list[Item]:
        found = self._items.find({"sha256": sha256}, {"doc": 1}).sort("_id", ASCENDING)
        return [Item.from_record(i["doc"]) for i in found]

    @_service_errors
    def item_by_dedupe(self, dedupe: str) -> Item | None:
        found = self._items.find_one({"dedupe": dedupe}, {"doc": 1})
        return Item.from_record(found["doc"]) if found else None

    # --- what changed, and what falls due ---------------------------------------------------
    def _next_seq(self, count: int = 1) -> int:
        """The first of the next ``count`` change sequence numbers. Taken before the write
        they mark, which lands a moment later: a run that reads the cursor in between would
        miss it, so runs read from ``cursor_overlap`` before their last cursor (a few items
        read twice). A batch takes one number per item, so that those few are items, not
        whole batches: with one number for a batch of 10,000 every run read the last 16
        batches again, the whole archive after a rebuild."""
        found = self._stats.find_one_and_update({"_id": _CHANGE_SEQ},
                                                {"$inc": {"value": count}}, upsert=True,
                                                return_document=ReturnDocument.AFTER)
        return int(found["value"]) - count + 1

    @_service_errors
    def change_seq(self) -> int:
        found = self._stats.find_one({"_id": _CHANGE_SEQ})
        return int(found["value"]) if found else 0

    def _page(self, cond: dict, key: str, limit: int, cursor: str | None,
              decode: Callable[[str], Any]) -> Page:
        if cursor:
            at, _, item_id = cursor.partition("|")
            try:
                value = decode(at)
            except (ValueError, InputError) as exc:
                raise InputError(N_("bad page cursor '{cursor}'"), cursor=cursor) from exc
            cond = _and([cond, {key: {"$gte": value}},
                         {"$or": [{key: {"$gt": value}}, {key: value, "_id": {"$gt": item_id}}]}])
        found = list(self._items.find(cond, {"doc": 1, key: 1})
                     .sort([(key, ASCENDING), ("_id", ASCENDING)]).limit(limit + 1))
        more = len(found) > limit
        found = found[:limit]
        nxt = None
        if more:
            last = found[-1][key]
            nxt = f"{last.isoformat() if isinstance(last, datetime) else last}|{found[-1]['_id']}"
        return Page([Item.from_record(f["doc"]) for f in found], nxt)

    @_service_errors
    def changed_items(self, since: int, limit: int = 1000, cursor: str | None = None) -> Page:
        return self._page({"seq": {"$gt": since}}, "seq", limit, cursor, int)

    @_service_errors
    def changed_records(self, collection: str, since: int) -> list[tuple[str, dict]]:
        check_collection(collection)
        found = self._records.find({"collection": collection, "seq": {"$gt": since}})
        return sorted(((r["id"], r["doc"]) for r in found), key=lambda r: r[0])

    @_service_errors
    def due_items(self, tier: str, until: datetime, start: datetime | None = None,
                  limit: int = 1000, cursor: str | None = None) -> Page:
        when: dict = {"$lte": until, "$type": "date"}  # no date: never due (not null)
        if start is not None:
            when["$gt"] = start
        return self._page({"tier": tier, "retain_until": when}, "retain_until", limit, cursor,
                          lambda t: utc(datetime.fromisoformat(t)))

    @_service_errors
    def items_after(self, item_id: str | None, limit: int) -> list[Item]:
        found = self._items.find({"_id": {"$gt": item_id or ""}}, {"doc": 1}) \
            .sort("_id", ASCENDING).limit(limit)
        return [Item.from_record(f["doc"]) for f in found]

    # --- search --------------------------------------------------------------------------
    def _conditions(self, q: Query) -> list[dict]:
        cond: list[dict] = [{name: getattr(q, name)} for name in _EQUAL_FIELDS
                            if getattr(q, name) is not None]
        if q.officer is not None:
            cond.append({"officers": q.officer})
        if q.case_id is not None:
            cond.append({"cases": q.case_id})
        for name in ("party", "cause"):
            text = getattr(q, name)
            if text is not None:
                text = text.strip()
                cond.append({f"{name}_grams": {"$all": sorted(bigrams(text))},
                             name: {"$regex": re.escape(text)}})
        if q.start is not None or q.end is not None:
            cond.append(self._time_condition(q))
        return cond

    def _time_condition(self, q: Query) -> dict:
        """Items overlapping [start, end): recorded start < end and recorded end >= start.
        Where a recording has a start, ``sort`` is that start, and bounding ``sort`` from
        below by start - (longest recording) lets the (key, sort) indexes serve the range."""
        sort: dict = {}
        cond: dict = {"start": {"$ne": None}, "sort": sort}
        if q.start is not None:
            sort["$gte"] = q.start - self._max_span()
            cond["end"] = {"$gte": q.start}
        if q.end is not None:
            sort["$lt"] = _ceil_ms(q.end)
        return cond

    @staticmethod
    def _after(cursor: str) -> dict:
        at, _, item_id = cursor.partition("|")
        try:
            sort = utc(datetime.fromisoformat(at))
        except (ValueError, InputError) as exc:
            raise InputError(N_("bad page cursor '{cursor}'"), cursor=cursor) from exc
        if not item_id:
            raise InputError(N_("bad page cursor '{cursor}'"), cursor=cursor)
        # the bound beside the $or lets the server start the index walk at the page
        return {"sort": {"$gte": sort},
                "$or": [{"sort": {"$gt": sort}}, {"sort": sort, "_id": {"$gt": item_id}}]}

    @_service_errors
    def search(self, query: Query, limit: int = 50, cursor: str | None = None) -> Page:
        if limit < 1:
            raise InputError(N_("page size must be at least 1"))
        cond = self._conditions(query)
        if cursor:
            cond.append(self._after(cursor))
        found = list(self._items.find(_and(cond), {"doc": 1, "sort": 1})
                     .sort([("sort", ASCENDING), ("_id", ASCENDING)]).limit(limit + 1))
        more = len(found) > limit
        found = found[:limit]
        last = found[-1] if found else None
        nxt = f"{last['sort'].isoformat()}|{last['_id']}" if more and last else None
        return Page([Item.from_record(f["doc"]) for f in found], nxt)

    @_service_errors
    def count(self, query: Query) -> int:
        return self._items.count_documents(_and(self._conditions(query)))

    @_service_errors
    def count_by(self, key: str, query: Query | None = None) -> dict[str, int]:
        check_group_key(key)
        field = {"officer": "officers", "case_id": "cases"}.get(key, key)
        pipeline: list[dict] = [{"$match": _and(self._conditions(query or Query()))}]
        if key == "officer":
            pipeline.append({"$unwind": "$officers"})
        elif key == "case_id":  # per case, as per officer; an item of no case under ""
            pipeline.append({"$unwind": {"path": "$cases",
                                         "preserveNullAndEmptyArrays": True}})
        pipeline.append({"$group": {"_id": f"${field}", "n": {"$sum": 1}}})
        counts: dict[str, int] = {}
        for row in self._items.aggregate(pipeline):
            name = row["_id"] or ""  # absent and empty are one group, as in SQLite
            counts[name] = counts.get(name, 0) + row["n"]
        return counts

    # --- the index as stored ---------------------------------------------------------------
    @_service_errors
    def index_state(self, item_id: str) -> dict | None:
        f = self._items.find_one({"_id": item_id}, {"doc": 0})
        if f is None:
            return None

        def when(name: str) -> str | None:
            return iso(f.get(name)) if f.get(name) is not None else None

        people = sorted(set(f.get("officers") or []))
        cases = sorted(set(f.get("cases") or []))
        # in one document the officers and cases share the item's sort key
        return {"version": f.get("version"), "sha256": f.get("sha256"),
                "kind": f.get("kind"), "unit": f.get("unit"),
                "device_id": f.get("device_id"), "case_id": f.get("case_id"),
                "activity_id": f.get("activity_id"), "activity_type": f.get("activity_type"),
                "officers": people, "officers_sort": [when("sort")] if people else [],
                "cases": cases, "cases_sort": [when("sort")] if cases else [],
                "start": when("start"), "end": when("end"), "sort": when("sort"),
                "party": f.get("party") or None, "cause": f.get("cause") or None,
                "party_grams": sorted(f.get("party_grams") or []),
                "cause_grams": sorted(f.get("cause_grams") or []),
                "tier": f.get("tier"), "status": f.get("status"),
                "retain_until": when("retain_until")}

    @_service_errors
    def index_totals(self) -> dict:
        return {"max_span_us": self._max_span() // _US}

    # --- records -------------------------------------------------------------------------
    @_service_errors
    def put_record(self, collection: str, record_id: str, doc: dict) -> None:
        check_collection(collection)
        self._records.update_one(
            {"_id": f"{collection}:{record_id}"},
            {"$set": {"collection": collection, "id": record_id, "doc": doc,
                      "seq": self._next_seq()}}, upsert=True)
        self._note_record(collection, record_id, doc)

    @_service_errors
    def get_record(self, collection: str, record_id: str) -> dict | None:
        check_collection(collection)
        found = self._records.find_one({"_id": f"{collection}:{record_id}"})
        return found["doc"] if found else None

    @_service_errors
    def list_records(self, collection: str, **equal: object) -> list[dict]:
        check_collection(collection)
        # Strings narrow the query; the final test is Python equality, because MongoDB's
        # equality is looser (a value matches an array holding it) or type-stricter (1, True).
        narrow = {f"doc.{k}": v for k, v in equal.items() if isinstance(v, str)}
        found = self._records.find({"collection": collection, **narrow}).sort("id", ASCENDING)
        docs = [r["doc"] for r in found]
        return [d for d in docs if all(d.get(k) == v for k, v in equal.items())]

    @_service_errors
    def archive_codes_of(self, item_ids: Iterable[str]) -> dict[str, str]:
        ids = list(dict.fromkeys(item_ids))
        out: dict[str, str] = {}
        for i in range(0, len(ids), 500):
            for r in self._records.find({"collection": "archive_codes",
                                         "doc.item": {"$in": ids[i:i + 500]}}):
                out[r["doc"]["item"]] = r["doc"]["code"]
        return out

    @_service_errors
    def iter_records(self, collection: str) -> Iterator[tuple[str, dict]]:
        check_collection(collection)
        for r in self._records.find({"collection": collection}).sort("id", ASCENDING):
            yield r["id"], r["doc"]

    # --- working state (issue 17) --------------------------------------------------------
    @_service_errors
    def put_working(self, key: str, doc: dict) -> None:
        # beside the records under a collection no record may name, and with no ``seq``:
        # changed_records never sees it
        self._records.replace_one({"_id": f"~working:{key}"},
                                  {"collection": "~working", "id": key, "doc": doc},
                                  upsert=True)

    @_service_errors
    def get_working(self, key: str) -> dict | None:
        found = self._records.find_one({"_id": f"~working:{key}"})
        return found["doc"] if found else None

    # --- ledger --------------------------------------------------------------------------
    @_service_errors
    def append_ledger(self, build: Callable[[LedgerEntry | None], LedgerEntry]) -> LedgerEntry:
        """``build`` is called again whenever another writer appended first, with the new
        head, so it must not have side effects beyond making the entry."""
        while True:
            head = self.ledger_head()
            entry = build(head)
            if entry.seq != (head.seq + 1 if head else 1):
                raise InputError(N_("ledger entry {seq} does not follow the head"),
                                 seq=entry.seq)
            try:
                # the unique _id lets exactly one writer take each seq: no gaps, no forks
                self._ledger.insert_one({"_id": entry.seq, **entry.to_dict()})
            except DuplicateKeyError:
                continue
            return entry

    @_service_errors
    def ledger_entries(self, start_seq: int = 1) -> Iterator[LedgerEntry]:
        for found in self._ledger.find({"_id": {"$gte": start_seq}}).sort("_id", ASCENDING):
            yield LedgerEntry.from_dict(found)

    @_service_errors
    def ledger_head(self) -> LedgerEntry | None:
        found = self._ledger.find_one(sort=[("_id", DESCENDING)])
        return LedgerEntry.from_dict(found) if found else None
