"""The catalog interface every backend implements, and the query it answers.

A backend stores objects (unique by SHA-256), items with every metadata version, the small
record collections (activities, cases, devices, people) and the audit ledger. The contract
suite in ``tests/contract/test_catalog_contract.py`` runs against each backend.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import datetime

from archive.domain.errors import InputError
from archive.domain.model import (
    GROUP_KEYS,
    Item,
    LedgerEntry,
    Lock,
    MetadataVersion,
    ObjectRecord,
    iso,
    utc,
)
from i18n import N_, Text

RECORD_COLLECTIONS = ("activities", "cases", "devices", "people", "meta", "batches",
                      "quarantine", "inspections",
                      # access (issue 5)
                      "requests", "access_register", "exports",
                      # retention and the annual cycle (issue 4)
                      "flags", "disposals", "tombstones", "discs", "transfers", "archive_codes")
MIN_SUBSTRING = 2  # party/cause search needs two characters (a two-character name: 王五)
_SUBSTRING_FIELDS = {"party": N_("party"), "cause": N_("cause")}


@dataclass(frozen=True)
class Query:
    """Search filters; every given filter must hold (AND). Times select overlapping items."""

    unit: str | None = None
    device_id: str | None = None
    officer: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    party: str | None = None
    cause: str | None = None
    case_id: str | None = None
    tier: str | None = None
    kind: str | None = None
    activity_type: str | None = None
    activity_id: str | None = None
    status: str | None = None

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            v = getattr(self, name)
            if v is not None:
                object.__setattr__(self, name, utc(v))
        if self.start and self.end and self.end <= self.start:
            raise InputError(N_("the time range ends before it starts"))
        for name in ("party", "cause"):
            v = getattr(self, name)
            if v is not None and len(v.strip()) < MIN_SUBSTRING:
                raise InputError(N_("{field} search needs at least {n} characters"),
                                 field=Text(_SUBSTRING_FIELDS[name]), n=MIN_SUBSTRING)

    def given(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) is not None}


QUERY_KEYS = {"unit": "unit", "device": "device_id", "device_id": "device_id",
              "officer": "officer", "party": "party", "cause": "cause", "case": "case_id",
              "case_id": "case_id", "tier": "tier", "kind": "kind",
              "activity_type": "activity_type", "activity": "activity_id",
              "activity_id": "activity_id", "status": "status", "from": "start", "to": "end"}


def parse_query_text(text: str, zone_of: Callable[[str | None], object]) -> Query:
    """Filters written as "KEY=VALUE ..." (a verification lot, an access request); times
    without an offset are read in the zone of the unit named (``zone_of(unit)``)."""
    from archive.domain.timeutil import parse_time

    given: dict = {}
    for part in text.split():
        name, sep, value = part.partition("=")
        if not sep or name not in QUERY_KEYS:
            raise InputError(N_("--query: '{part}' is not KEY=VALUE with KEY one of {keys}"),
                             part=part, keys=", ".join(sorted(QUERY_KEYS)))
        given[QUERY_KEYS[name]] = value
    for t in ("start", "end"):
        if t in given:
            given[t] = parse_time(given[t], zone_of(given.get("unit")), t)
    return Query(**given)


@dataclass(frozen=True)
class Page:
    items: list[Item]
    next_cursor: str | None


def check_group_key(key: str) -> None:
    if key not in GROUP_KEYS:
        raise InputError(N_("cannot group by '{key}'; choose one of {keys}"), key=key,
                         keys=", ".join(GROUP_KEYS))


def bigrams(text: str) -> set[str]:
    """Overlapping two-character pieces; the index that finds 王五 inside 王五金店."""
    t = text.strip()
    return {t[i:i + 2] for i in range(len(t) - 1)}


def sort_time(item: Item) -> datetime:
    """Search order: recorded start; items without one (pending metadata) by ingest time."""
    return item.description.recorded_start or item.ingested_at


# what a backend may keep counts of beside the rows (SQLite's table counts)
COUNTED = ("tier", "status", "kind", "activity_type")


def counted(item: Item) -> dict[str, str]:
    """The item's values of ``COUNTED``: an item without an activity type is counted under
    none."""
    d = item.description
    values = {"tier": item.tier, "status": item.status, "kind": d.kind,
              "activity_type": d.activity_type}
    return {k: v for k, v in values.items() if v is not None}


def item_cases(item: Item) -> list[str]:
    """The cases an item belongs to: the one its description names, then those it was linked
    to (``case link`` records them in ``item.retention["cases"]``). The one notion of "the
    items of a case": ``Query(case_id=...)`` finds an item by any of them."""
    ids = [item.description.case_id] if item.description.case_id else []
    return list(dict.fromkeys(ids + [c for c in item.retention.get("cases", []) if c]))


class Catalog(ABC):
    """What the archive needs from a catalog database."""

    #: where it lives, for error messages (a path or a URI without credentials)
    endpoint: str = ""
    #: "sqlite" or "mongodb": which of a schema step's functions applies (catalog.schema)
    backend: str = ""
    #: the schema version the stored data has (``archive.catalog.schema``); a new catalog is
    #: made at the current one
    schema_version: int = 0
    #: how many change sequence numbers a run reads again before its cursor: 0 where a
    #: number is taken in the transaction that writes (SQLite)
    cursor_overlap: int = 0
    #: stored times keep this many microseconds (BSON keeps milliseconds)
    time_resolution_us: int = 1
    #: set by the Archive: item states and records written are noted for the WORM store's
    #: journal (``archive.journal``), so the catalog can be rebuilt from the store alone
    journal = None

    def _note_item(self, item: Item) -> None:
        if self.journal is not None:
            self.journal.note_item(item.to_record())

    def _note_record(self, collection: str, record_id: str, doc: dict) -> None:
        if self.journal is not None:
            self.journal.note_record(collection, record_id, doc)

    # --- objects -------------------------------------------------------------------------
    @abstractmethod
    def add_object(self, obj: ObjectRecord) -> bool:
        """Record an object; False (and no change) when its digest is already known."""

    def add_objects(self, objects: list[ObjectRecord]) -> int:
        """Record several objects (a rebuild, the benchmark); returns how many were new."""
        return sum(self.add_object(o) for o in objects)

    @abstractmethod
    def get_object(self, sha256: str) -> ObjectRecord | None: ...

    @abstractmethod
    def update_object_lock(self, sha256: str, lock: Lock, version_id: str | None = None
                           ) -> None:
        """Record the lock last read back from the store for this object — and, after a
        restore wrote its bytes again as a new version, that version (``version_id``)."""

    @abstractmethod
    def iter_objects(self) -> Iterator[ObjectRecord]: ...

    # --- items ---------------------------------------------------------------------------
    @abstractmethod
    def add_items(self, items: list[Item]) -> None:
        """Insert new items with their current metadata version, in one transaction.

        Raises InputError for an existing id, DuplicateItem when an item with the same
        (non-empty) ``dedupe`` key exists: two docking stations offloading the same file
        at once must end with one item."""

    def add_item(self, item: Item) -> None:
        self.add_items([item])

    @abstractmethod
    def add_version(self, item_id: str, version: MetadataVersion, status: str) -> Item:
        """Append the next metadata version (current + 1) and make it current."""

    @abstractmethod
    def save_state(self, item: Item) -> None:
        """Store an item's non-descriptive state (status, tier, retention, storage, checks,
        events). Refuses if ``item`` does not carry the catalog's current version."""

    @abstractmethod
    def get_item(self, item_id: str) -> Item | None: ...

    @abstractmethod
    def versions(self, item_id: str) -> list[MetadataVersion]:
        """Every metadata version of the item, oldest first."""

    @abstractmethod
    def items_of_object(self, sha256: str) -> list[Item]: ...

    @abstractmethod
    def item_by_dedupe(self, dedupe: str) -> Item | None:
        """The item holding these bytes with this description (``model.dedupe_key``)."""

    @abstractmethod
    def search(self, query: Query, limit: int = 50, cursor: str | None = None) -> Page:
        """Items matching ``query`` sorted by recorded start (then id), one page."""

    def iter_items(self, query: Query, page_size: int = 1000) -> Iterator[Item]:
        """Every matching item in search order, a page at a time (memory stays at a page)."""
        cursor: str | None = None
        while True:
            page = self.search(query, limit=page_size, cursor=cursor)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    @abstractmethod
    def count(self, query: Query) -> int: ...

    @abstractmethod
    def count_by(self, key: str, query: Query | None = None) -> dict[str, int]:
        """Counts of matching items grouped by one search key (officer: per officer)."""

    # --- what changed, and what falls due (runs proportional to change) -------------------
    @abstractmethod
    def change_seq(self) -> int:
        """The change cursor: the sequence number the latest write took. Every write to an
        item (new, a new version, its state, its object's lock) and to a record takes the
        next one; a run keeps the number it started at and next time reads what is after."""

    @abstractmethod
    def changed_items(self, since: int, limit: int = 1000,
                      cursor: str | None = None) -> Page:
        """Items whose last change is after ``since``, in the order of their changes, a page
        at a time (``cursor``: the previous page's ``next_cursor``)."""

    def iter_changed_items(self, since: int, page_size: int = 1000) -> Iterator[Item]:
        return _pages(lambda c: self.changed_items(since, page_size, c))

    @abstractmethod
    def changed_records(self, collection: str, since: int) -> list[tuple[str, dict]]:
        """Records of ``collection`` written after ``since`` (cases, flags: few), by id."""

    @abstractmethod
    def due_items(self, tier: str, until: datetime, start: datetime | None = None,
                  limit: int = 1000, cursor: str | None = None) -> Page:
        """Items of ``tier`` whose retain-until is in (``start``, ``until``], in the order of
        that date, from the index on due dates; a page at a time."""

    def iter_due_items(self, tier: str, until: datetime, start: datetime | None = None,
                       page_size: int = 1000) -> Iterator[Item]:
        return _pages(lambda c: self.due_items(tier, until, start, page_size, c))

    @abstractmethod
    def items_after(self, item_id: str | None, limit: int) -> list[Item]:
        """Up to ``limit`` items by id after ``item_id`` (None: from the first): a slice of
        a rotating sweep that reads every item in turn."""

    # --- what the search index holds, to compare with the signed record -------------------
    @abstractmethod
    def index_state(self, item_id: str) -> dict | None:
        """The search and lot fields of an item as the index stores them, read from the
        columns and index rows searches use (not from the item's record), in the form of
        ``expected_index``; None for no such item."""

    def snapshot(self) -> contextlib.AbstractContextManager[None]:
        """Reads inside see one state of the catalog (the index check compares counts with
        the items it walked, while others may be writing). Only reads may happen inside."""
        return contextlib.nullcontext()

    def index_totals(self) -> dict:
        """Totals the index keeps beside the rows (the longest recording, counts): compared
        with the totals of the items by ``archive.catalog.consistency``. Keys a backend does
        not store are absent."""
        return {}

    def index_grams(self, text: str | None) -> list[str]:
        """The bigram rows that index one party or cause text."""
        return sorted(bigrams(text or ""))

    def expected_index(self, item: Item) -> dict:
        """What ``index_state`` must give for ``item`` (its current version and state)."""
        return expected_index(item, self.time_resolution_us, self.index_grams)

    # --- schema ---------------------------------------------------------------------------
    @abstractmethod
    def set_schema_version(self, version: int) -> None:
        """Record that the stored data now has this schema version (catalog.schema)."""

    # --- small record collections ---------------------------------------------------------
    @abstractmethod
    def put_record(self, collection: str, record_id: str, doc: dict) -> None:
        """Insert or replace one record of a small collection (people, devices, ...)."""

    @abstractmethod
    def get_record(self, collection: str, record_id: str) -> dict | None: ...

    @abstractmethod
    def iter_records(self, collection: str) -> Iterator[tuple[str, dict]]:
        """Every (id, record) of a collection, by id (copies and migrations)."""

    @abstractmethod
    def list_records(self, collection: str, **equal: object) -> list[dict]:
        """Records whose top-level fields equal the given values, by id."""

    def archive_codes_of(self, item_ids: Iterable[str]) -> dict[str, str]:
        """item id -> its 档号, for these items only (a destroyed item keeps its code): what a
        page of search rows needs, without reading every code of the archive. The backends
        answer it from an index on the code records' item."""
        wanted = set(item_ids)
        return {d["item"]: d["code"] for d in self.list_records("archive_codes")
                if d["item"] in wanted}

    # --- working state (issue 17): caches a run may lose; never journaled, no change seq ---
    @abstractmethod
    def put_working(self, key: str, doc: dict) -> None:
        """Insert or replace one working-state document (a report's kept aggregates). Unlike
        a record it is not noted for the WORM journal and takes no change number: it is
        derived from the catalog, and a catalog rebuilt without it only computes it anew."""

    @abstractmethod
    def get_working(self, key: str) -> dict | None: ...

    # --- the audit ledger -----------------------------------------------------------------
    @abstractmethod
    def append_ledger(self, build: Callable[[LedgerEntry | None], LedgerEntry]) -> LedgerEntry:
        """Append atomically: ``build`` gets the current head and returns the next entry,
        whose seq must be head.seq + 1. Several processes may append at once."""

    @abstractmethod
    def ledger_entries(self, start_seq: int = 1) -> Iterator[LedgerEntry]:
        """Entries in storage order by seq (as stored, not as they ought to be)."""

    @abstractmethod
    def ledger_head(self) -> LedgerEntry | None: ...

    # --- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:  # noqa: B027 - optional for backends
        pass

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _pages(fetch: Callable[[str | None], Page]) -> Iterator[Item]:
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _stored_time(dt: datetime | None, resolution_us: int) -> str | None:
    if dt is None:
        return None
    dt = utc(dt)
    return iso(dt.replace(microsecond=dt.microsecond - dt.microsecond % resolution_us))


def expected_index(item: Item, resolution_us: int = 1,
                   grams: Callable[[str | None], list[str]] = lambda t: sorted(bigrams(t or ""))
                   ) -> dict:
    """The search and lot fields of an item as its description and state give them, in the
    backend-neutral form ``Catalog.index_state`` answers: what each index must hold."""
    d = item.description
    sort = _stored_time(sort_time(item), resolution_us)
    people = sorted(dict.fromkeys(d.officers + d.assisting))
    cases = sorted(item_cases(item))
    return {
        "version": item.version, "sha256": item.sha256, "kind": d.kind, "unit": d.unit,
        "device_id": d.device_id, "case_id": d.case_id, "activity_id": d.activity_id,
        "activity_type": d.activity_type, "officers": people,
        "officers_sort": [sort] if people else [], "cases": cases,
        "cases_sort": [sort] if cases else [],
        "start": _stored_time(d.recorded_start, resolution_us),
        "end": _stored_time(d.recorded_end or d.recorded_start, resolution_us),
        "sort": sort, "party": d.party or None, "cause": d.cause or None,
        "party_grams": grams(d.party) if d.party else [],
        "cause_grams": grams(d.cause) if d.cause else [],
        "tier": item.tier, "status": item.status,
        "retain_until": _stored_time(item.retain_until, resolution_us),
    }


def check_collection(collection: str) -> None:
    if collection not in RECORD_COLLECTIONS:
        raise InputError(N_("no collection '{collection}'"), collection=collection)


def check_next_version(current: int, version: MetadataVersion) -> None:
    if version.version != current + 1:
        raise InputError(N_("item {item}: version {version} does not follow current version "
                            "{current}"), item=version.item_id, version=version.version,
                         current=current)
