"""The catalog's schema version and the steps that bring an older catalog up to it.

Version 1 is the catalog as custody wrote it before versions existed (commit 0ab446f; kept as
``tests/fixtures/archive-v1.tar.gz``). A new catalog is made at ``CURRENT``. An older one is
never upgraded silently: ``bootstrap`` refuses it until ``custody upgrade``
(``archive.copies.upgrade``) has backed it up and run each missing step in order, each one in
the ledger. A newer one is refused outright: an older custody must not write to it.

Every change to what the catalog stores adds one step here, with the version it produces:

    @step(3, "approvals count their uses")
    def _approval_uses(catalog: Catalog) -> dict:       # any backend, over the interface
        ...

    @step(4, "...", backend="sqlite")                  # or one function per backend;
    def _x_sqlite(catalog) -> dict: ...                 # catalog.db is the connection
    @step(4, "...", backend="mongodb")
    def _x_mongo(catalog) -> dict: ...                  # catalog.db is the database

A step must be idempotent (an upgrade cut off midway runs it again) and returns what it did,
for the ledger. The fresh schema the backends create must equal the upgraded one; the
upgrade test compares them.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from archive.catalog import packing
from archive.catalog.base import COUNTED, Catalog, item_cases
from archive.catalog.keys import ordered_key, text_key
from archive.domain.errors import CustodyError, InputError
from archive.domain.model import Item
from i18n import N_, Text

BACKENDS = ("sqlite", "mongodb")
FIRST = 1  # the catalog before versions existed

StepFn = Callable[[Catalog], dict | None]


class CatalogVersionError(CustodyError):
    """The catalog's schema is not the one this custody reads and writes: exit 3."""

    exit_code = 3
    code = "catalog-version"

    def __init__(self, message: str | Text, *, endpoint: str, found: int, expected: int
                 ) -> None:
        super().__init__(message, subject=endpoint)
        self.found = found
        self.expected = expected

    def to_dict(self) -> dict:
        return super().to_dict() | {"catalog_version": self.found,
                                    "custody_version": self.expected}


@dataclass
class Step:
    version: int
    title: str
    neutral: StepFn | None = None
    by_backend: dict[str, StepFn] = field(default_factory=dict)

    def function(self, backend: str) -> StepFn:
        fn = self.by_backend.get(backend) or self.neutral
        if fn is None:
            raise InputError(N_("catalog upgrade step {step} ({title}) has nothing for the "
                                "{backend} backend"), step=self.version, title=Text(self.title),
                             backend=backend)
        return fn

    def apply(self, catalog: Catalog) -> dict:
        return self.function(catalog.backend)(catalog) or {}


STEPS: dict[int, Step] = {}


def step(version: int, title: str, backend: str | None = None) -> Callable[[StepFn], StepFn]:
    """Register the function that brings a catalog from ``version - 1`` to ``version``."""
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}")

    def register(fn: StepFn) -> StepFn:
        s = STEPS.setdefault(version, Step(version, title))
        if s.title != title:
            raise ValueError(f"step {version} is {s.title!r}, not {title!r}")
        if backend is None:
            s.neutral = fn
        else:
            s.by_backend[backend] = fn
        return fn

    return register


def current() -> int:
    return max(STEPS, default=FIRST)


def missing_steps(found: int) -> list[Step]:
    return [STEPS[v] for v in sorted(STEPS) if v > found]


def check_registry() -> list[str]:
    """What is wrong with the registry: versions 2..CURRENT each present once, each with a
    function for every backend (its own, or one over the interface)."""
    wrong = []
    for v in range(FIRST + 1, current() + 1):
        s = STEPS.get(v)
        if s is None:
            wrong.append(f"no step {v}")
            continue
        wrong += [f"step {v} ({s.title}) has nothing for {b}" for b in BACKENDS
                  if s.neutral is None and b not in s.by_backend]
    return wrong


def refuse_other_version(catalog: Catalog) -> None:
    """Refuse a catalog whose schema is not this custody's: an older one until it is
    upgraded, a newer one always. Both versions and what to do are named."""
    found, expected = catalog.schema_version, current()
    if found == expected:
        return
    if found > expected:
        message = Text(N_("the catalog {catalog} has schema version {found}, newer than this "
                          "custody's {expected}: use the custody that wrote it (or a newer "
                          "one); 'custody upgrade' never goes back"),
                       catalog=catalog.endpoint, found=found, expected=expected)
    else:
        message = Text(N_("the catalog {catalog} has schema version {found}; this custody uses "
                          "{expected}: run 'custody upgrade' (an archivist or administrator; "
                          "it backs the catalog up first and records each step in the "
                          "ledger)"), catalog=catalog.endpoint, found=found, expected=expected)
    raise CatalogVersionError(message, endpoint=catalog.endpoint, found=found,
                              expected=expected)


def reapply(catalog: Catalog) -> list[dict]:
    """Every step again, on a catalog filled by copying records as they were written (a
    rebuild from old journal segments): the steps are idempotent, so what is current
    already stays as it is."""
    return [{"version": s.version, "title": s.title, **s.apply(catalog)}
            for s in (STEPS[v] for v in sorted(STEPS))]


# --- the steps -----------------------------------------------------------------------------------
@step(2, N_("items are found by every case they belong to (named, or linked by case link)"),
      backend="sqlite")
def _cases_sqlite(catalog: Catalog) -> dict:
    db = catalog.db  # type: ignore[attr-defined]
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("CREATE TABLE IF NOT EXISTS item_cases (case_id TEXT NOT NULL, "
                   "sort_us INTEGER NOT NULL, item_rowid INTEGER NOT NULL, "
                   "PRIMARY KEY (case_id, sort_us, item_rowid)) WITHOUT ROWID")
        db.execute("CREATE INDEX IF NOT EXISTS item_cases_item ON item_cases(item_rowid)")
        db.execute("DROP INDEX IF EXISTS items_case")  # searches by case use item_cases
        rows = []
        for rowid, sort_us, doc in db.execute("SELECT rowid, sort_us, doc FROM items"):
            rows += [(c, sort_us, rowid) for c in item_cases(Item.from_record(packing.unpack(doc)))]
        db.executemany("INSERT OR IGNORE INTO item_cases VALUES (?, ?, ?)", rows)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return {"case_rows": len(rows)}


@step(2, N_("items are found by every case they belong to (named, or linked by case link)"),
      backend="mongodb")
def _cases_mongo(catalog: Catalog) -> dict:
    items = catalog.db["items"]  # type: ignore[attr-defined]
    n = 0
    for doc in items.find({}, {"doc": 1}):
        cases = item_cases(Item.from_record(doc["doc"]))
        items.update_one({"_id": doc["_id"]}, {"$set": {"cases": cases}})
        n += 1
    if "case_id_1_sort_1" in items.index_information():
        items.drop_index("case_id_1_sort_1")
    items.create_index([("cases", 1), ("sort", 1)])
    return {"items": n}


@step(3, N_("export approvals count their uses"))
def _approval_uses(catalog: Catalog) -> dict:
    """Approvals signed before they named a number of exports allow one
    (archive.access.requests.LEGACY_EXPORTS, read from the signed decision itself: a signed
    decision is never amended); each export made under them is the use it was."""
    n = 0
    for rid, doc in list(catalog.iter_records("exports")):
        if "status" not in doc:
            catalog.put_record("exports", rid, doc | {"status": "exported",
                                                      "redeliveries": [], "legacy": True})
            n += 1
    legacy = sum(1 for _, r in catalog.iter_records("requests")
                 if r.get("purpose") == "extract" and r.get("status") == "approved"
                 and "exports" not in ((r.get("decision") or {}).get("decision") or {}))
    return {"exports_marked": n, "legacy_approvals": legacy}


@step(4, N_("documents packed; each signed metadata version stored once"), backend="sqlite")
def _packed_sqlite(catalog: Catalog) -> dict:
    """Item, object and version documents packed (``archive.catalog.packing``: a third of
    the catalog's bytes were item records); the copy of each item's current version among
    its versions dropped: the item's record holds it, signed, once."""
    db = catalog.db  # type: ignore[attr-defined]
    db.execute("BEGIN IMMEDIATE")
    try:
        dropped = db.execute("DELETE FROM item_versions WHERE EXISTS (SELECT 1 FROM items i "
                             "WHERE i.id=item_versions.item_id AND "
                             "i.version=item_versions.version)").rowcount
        packed = 0
        for table, key in (("items", "rowid"), ("objects", "sha256"),
                           ("item_versions", "rowid")):
            rows = db.execute(f"SELECT {key}, doc FROM {table} "
                              "WHERE typeof(doc)='text'").fetchall()
            db.executemany(f"UPDATE {table} SET doc=? WHERE {key}=?",
                           [(packing.pack_text(doc), k) for k, doc in rows])
            packed += len(rows)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return {"documents_packed": packed, "version_copies_dropped": dropped}


@step(4, N_("documents packed; each signed metadata version stored once"), backend="mongodb")
def _packed_mongo(catalog: Catalog) -> dict:
    """MongoDB compresses its own pages (WiredTiger): its documents stay as they are. The
    copy of each item's current version among its versions is dropped."""
    db = catalog.db  # type: ignore[attr-defined]
    dropped = 0
    for doc in db["items"].find({}, {"version": 1}):
        dropped += db["item_versions"].delete_one(
            {"_id": f"{doc['_id']}:{doc['version']}"}).deleted_count
    return {"version_copies_dropped": dropped}


# the text of each statement as the current schema has it (archive.catalog.sqlite._SCHEMA):
# an upgraded catalog's schema is the schema a new one gets
_CURSOR_SQLITE = (
    "ALTER TABLE items ADD COLUMN seq INTEGER NOT NULL DEFAULT 0",
    "DROP INDEX IF EXISTS items_retain",
    "CREATE INDEX IF NOT EXISTS items_due ON items(tier, retain_until_us)",
    "CREATE INDEX IF NOT EXISTS items_seq ON items(seq)",
    "INSERT OR IGNORE INTO stats VALUES ('change_seq', 0)",
    "CREATE TABLE IF NOT EXISTS record_changes (\n"
    "    collection TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL,\n"
    "    PRIMARY KEY (collection, id)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS record_changes_seq ON record_changes(collection, seq)",
)


@step(5, N_("a change cursor and an index on due dates"), backend="sqlite")
def _cursor_sqlite(catalog: Catalog) -> dict:
    """Items and records take a change sequence number; retain-until is indexed by tier.
    Items already there have sequence 0: a run without a cursor sweeps everything first."""
    db = catalog.db  # type: ignore[attr-defined]
    db.execute("BEGIN IMMEDIATE")
    try:
        columns = {r[1] for r in db.execute("PRAGMA table_info(items)")}
        for sql in _CURSOR_SQLITE[1 if "seq" in columns else 0:]:
            db.execute(sql)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return {"column_added": "seq" not in columns}


@step(5, N_("a change cursor and an index on due dates"), backend="mongodb")
def _cursor_mongo(catalog: Catalog) -> dict:
    items = catalog.db["items"]  # type: ignore[attr-defined]
    if "retain_until_1" in items.index_information():
        items.drop_index("retain_until_1")
    items.create_index([("tier", 1), ("retain_until", 1), ("_id", 1)])
    items.create_index([("seq", 1), ("_id", 1)])
    catalog.db["records"].create_index([("collection", 1), ("seq", 1)])  # type: ignore[attr-defined]
    return {}


@contextlib.contextmanager
def _immediate(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A step's changes in one write transaction: cut off midway, it leaves nothing half
    done, and running it again starts from where it was."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


# the statements as the current schema has them (archive.catalog.sqlite._SCHEMA)
_KEYS_SQLITE = (
    "DROP INDEX IF EXISTS items_dedupe",
    "DROP INDEX IF EXISTS items_object",
    "CREATE INDEX IF NOT EXISTS items_object_key ON items(object_key)",
)


@step(6, N_("digests and dedupe keys indexed by an integer key"), backend="sqlite")
def _keys_sqlite(catalog: Catalog) -> dict:
    """Items are found by their bytes and by their dedupe key through 63 bits of each one's
    hash (``archive.catalog.sqlite.text_key``), the full text compared in the row: the two
    random text indexes were the largest, and each batch of inserts rewrote most of their
    pages. Dedupe keys stay unique by the check every insert makes under the write lock."""

    with _immediate(catalog.db) as db:  # type: ignore[attr-defined]
        columns = {r[1] for r in db.execute("PRAGMA table_info(items)")}
        added = [c for c in ("object_key", "dedupe_key") if c not in columns]
        for column in added:
            db.execute(f"ALTER TABLE items ADD COLUMN {column} INTEGER")
        # only rows without their keys: a step run again (or after rows copied as they were
        # written) fills what is missing and leaves the rest
        rows = db.execute("SELECT rowid, sha256 FROM items WHERE object_key IS NULL"
                          ).fetchall()
        # the dedupe key is found through the bytes' key since step 7: its own stays empty
        db.executemany("UPDATE items SET object_key=? WHERE rowid=?",
                       [(text_key(sha), rowid) for rowid, sha in rows])
        for sql in _KEYS_SQLITE:
            db.execute(sql)
    return {"columns_added": added, "items_keyed": len(rows)}


@step(6, N_("digests and dedupe keys indexed by an integer key"), backend="mongodb")
def _keys_mongo(catalog: Catalog) -> dict:
    """Nothing: MongoDB keeps its unique index on the dedupe key and its index on the
    digest; the integer keys are the SQLite catalog's answer to its page writes."""
    return {}


@step(7, N_("dedupe keys found through the index on the bytes"), backend="sqlite")
def _dedupe_by_bytes_sqlite(catalog: Catalog) -> dict:
    """A dedupe key begins with its item's digest (``model.dedupe_key``): the index on the
    bytes finds it, and its own index, random in every order, goes. At a million items it
    was 19 MB that every batch of inserts rewrote most of. The column stays (a column is not
    dropped in place); new rows leave it empty."""
    db = catalog.db  # type: ignore[attr-defined]
    foreign = db.execute("SELECT count(*) FROM items WHERE dedupe IS NOT NULL AND "
                         "substr(dedupe, 1, 65) <> sha256 || ':'").fetchone()[0]
    if foreign:
        raise InputError(N_("{count} items have a dedupe key that does not begin with their "
                            "digest: this catalog was not written by custody"), count=foreign)
    db.execute("DROP INDEX IF EXISTS items_dedupe_key")
    return {"dedupe_index_dropped": True}


@step(7, N_("dedupe keys found through the index on the bytes"), backend="mongodb")
def _dedupe_by_bytes_mongo(catalog: Catalog) -> dict:
    """Nothing: MongoDB keeps its unique index on the dedupe key, which is what keeps two
    stations from cataloguing one file twice there."""
    return {}


# the statements as the current schema has them (archive.catalog.sqlite._SCHEMA)
_PARTIAL_SQLITE = (
    "DROP INDEX IF EXISTS items_tier",
    "DROP INDEX IF EXISTS items_status",
    "CREATE INDEX IF NOT EXISTS items_tier_held ON items(tier, sort_us) "
    "WHERE tier<>'routine'",
    "CREATE INDEX IF NOT EXISTS items_status_open ON items(status, sort_us) "
    "WHERE status<>'archived'",
)


@step(8, N_("tier and status indexed only for items that are not routine or not archived"),
      backend="sqlite")
def _partial_sqlite(catalog: Catalog) -> dict:
    """Most items are routine and archived: a search for those walks the time index, where
    nearly every row matches, and the indexes on tier and status hold only the rest. A
    routine archived item no longer enters two indexes that every batch of inserts rewrote
    (measured at 1,000,000 items in random order)."""
    with _immediate(catalog.db) as db:  # type: ignore[attr-defined]
        for sql in _PARTIAL_SQLITE:
            db.execute(sql)
    return {"partial_indexes": ["items_tier_held", "items_status_open"]}


@step(8, N_("tier and status indexed only for items that are not routine or not archived"),
      backend="mongodb")
def _partial_mongo(catalog: Catalog) -> dict:
    """Nothing: MongoDB keeps its full indexes on tier and status. A partial index there
    cannot say "not equal" (a partialFilterExpression takes no $ne); one listing the rarer
    values would do, and is left until a real MongoDB server can measure it (DESIGN.md:
    none runs here)."""
    return {}


_RARE_INDEXES = ("items_kind_rare", "items_activity_type_rare")
_RECOUNTED = tuple(f"items_recounted_{key}" for key in COUNTED)


@step(9, N_("activities indexed by an integer key; kind and activity type indexed only for "
            "the rarer values, and counted"), backend="sqlite")
def _rare_sqlite(catalog: Catalog) -> dict:
    """Measured at 1,000,000 items in random order: the activity id's text was the largest
    index of items (62 B an item), and most items are video and routine patrols, so the
    indexes on kind and activity type held mostly what a walk in time order finds anyway.
    Every batch of inserts rewrote nearly all of their pages. An activity is now found by
    the integer its id begins with (``keys.ordered_key``), the other kinds and activity
    types by partial indexes, and the counts of each kind and activity type are kept beside
    tier and status, so an unfiltered count needs no full index."""
    with _immediate(catalog.db) as db:  # type: ignore[attr-defined]
        columns = {r[1] for r in db.execute("PRAGMA table_info(items)")}
        added = "activity_key" not in columns
        if added:
            db.execute("ALTER TABLE items ADD COLUMN activity_key INTEGER")
        # only rows without their key: run again, or after rows copied as they were written
        rows = db.execute("SELECT rowid, activity_id FROM items WHERE activity_key IS NULL "
                          "AND activity_id IS NOT NULL").fetchall()
        db.executemany("UPDATE items SET activity_key=? WHERE rowid=?",
                       [(ordered_key(a), rowid) for rowid, a in rows])
        for name in ("items_activity", "items_kind", "items_activity_type"):
            db.execute(f"DROP INDEX IF EXISTS {name}")
        db.execute("DROP TRIGGER IF EXISTS items_recounted")
        for sql in catalog.schema_statements(  # type: ignore[attr-defined]
                "items_activity_key", *_RARE_INDEXES, *_RECOUNTED):
            db.execute(sql)
        # counted afresh, not added to: the same whether run once or again
        db.execute("DELETE FROM counts WHERE key IN ('kind', 'activity_type')")
        for key in ("kind", "activity_type"):
            db.execute(f"INSERT INTO counts SELECT '{key}', {key}, count(*) FROM items "
                       f"WHERE {key} IS NOT NULL GROUP BY {key}")
    return {"column_added": added, "items_keyed": len(rows),
            "partial_indexes": list(_RARE_INDEXES)}


@step(9, N_("activities indexed by an integer key; kind and activity type indexed only for "
            "the rarer values, and counted"), backend="mongodb")
def _rare_mongo(catalog: Catalog) -> dict:
    """Nothing, as in steps 6 and 8: the integer key is the SQLite catalog's answer to its
    page writes, and a partial index in MongoDB cannot say "not equal"."""
    return {}
