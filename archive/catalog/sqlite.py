"""The embedded default catalog: one SQLite file in WAL mode, safe for several processes.

Search keys are real columns with real indexes. Party and cause substrings are found through
a table of distinct values ("terms") with a bigram index over them, so the index grows with
the number of distinct names, not of items; a substring shared by very many names is served
by walking the time index instead (its first page fills at once).
"""

from __future__ import annotations

import contextlib
import gc
import json
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

from archive.catalog import packing, schema
from archive.catalog.base import (
    COUNTED,
    Catalog,
    Page,
    Query,
    bigrams,
    check_collection,
    check_group_key,
    check_next_version,
    counted,
    item_cases,
    sort_time,
)
from archive.catalog.keys import ordered_key, text_key
from archive.domain.errors import DuplicateItem, InputError, NotFound, ServiceUnavailable
from archive.domain.model import Item, LedgerEntry, Lock, MetadataVersion, ObjectRecord, iso
from i18n import N_, Text

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)
WORKING = "~working"  # the records' collection of working state: not a record collection
CURSOR_SCHEMA = 5  # the schema version that has the change cursor (archive.catalog.schema)
COMMON_TERMS = 2000   # a substring matching more distinct names than this walks the time index

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (sha256 TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS items (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    sha256 TEXT NOT NULL,
    version INTEGER NOT NULL,
    kind TEXT NOT NULL, status TEXT NOT NULL, tier TEXT NOT NULL,
    unit TEXT, device_id TEXT, case_id TEXT, activity_id TEXT, activity_type TEXT,
    start_us INTEGER, end_us INTEGER, sort_us INTEGER NOT NULL,
    retain_until_us INTEGER,
    party_term INTEGER, cause_term INTEGER, dedupe TEXT,
    doc TEXT NOT NULL
, seq INTEGER NOT NULL DEFAULT 0, object_key INTEGER, dedupe_key INTEGER, activity_key INTEGER);
-- the bytes are found by 63 bits of their hash (``text_key``), the full text compared in the
-- row: a random text index was the largest, and each batch rewrote most of its pages (schema
-- step 6). A dedupe key begins with its item's digest (``model.dedupe_key``), so the same
-- index finds it (step 7); it is unique by add_items's check under the write lock
-- (``_refuse_existing``). Column dedupe_key is no longer written.
CREATE INDEX IF NOT EXISTS items_sort ON items(sort_us);
CREATE INDEX IF NOT EXISTS items_unit ON items(unit, sort_us);
CREATE INDEX IF NOT EXISTS items_device ON items(device_id, sort_us);
-- tier and status: most items are routine and archived, and a search for those walks the
-- time index, where nearly every row matches; the rarer values (the items held for a case or
-- for ever, the worklists) have their own index, which a routine archived item never enters
-- (schema step 8). A search names the index's condition (_where, _COMMON) so SQLite uses it.
CREATE INDEX IF NOT EXISTS items_tier_held ON items(tier, sort_us) WHERE tier<>'routine';
CREATE INDEX IF NOT EXISTS items_status_open ON items(status, sort_us) WHERE status<>'archived';
-- kind and activity type likewise (schema step 9): most items are video, and most
-- activities routine patrols; the rest is indexed
CREATE INDEX IF NOT EXISTS items_kind_rare ON items(kind, sort_us) WHERE kind<>'video';
CREATE INDEX IF NOT EXISTS items_activity_type_rare ON items(activity_type, sort_us)
WHERE activity_type<>'日常巡查';
-- an activity by the integer its id begins with (``keys.ordered_key``), the full id compared
-- in the row: the text was the largest index of items, rewritten by every batch in random
-- order (step 9)
CREATE INDEX IF NOT EXISTS items_activity_key ON items(activity_key, sort_us);
-- the due dates: expiry and lock renewal, by tier (a permanent item's renewal is years ahead
-- of a routine item's expiry; one range per tier reads only what falls due)
CREATE INDEX IF NOT EXISTS items_due ON items(tier, retain_until_us);
-- the change cursor (catalog.base.Catalog.change_seq)
CREATE INDEX IF NOT EXISTS items_seq ON items(seq);
CREATE INDEX IF NOT EXISTS items_party ON items(party_term, sort_us);
CREATE INDEX IF NOT EXISTS items_cause ON items(cause_term, sort_us);
CREATE INDEX IF NOT EXISTS items_object_key ON items(object_key);
CREATE TABLE IF NOT EXISTS item_officers (
    officer TEXT NOT NULL, sort_us INTEGER NOT NULL, item_rowid INTEGER NOT NULL,
    PRIMARY KEY (officer, sort_us, item_rowid)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS item_officers_item ON item_officers(item_rowid);
-- every case an item belongs to (named in its description, or linked): catalog.base.item_cases
CREATE TABLE IF NOT EXISTS item_cases (
    case_id TEXT NOT NULL, sort_us INTEGER NOT NULL, item_rowid INTEGER NOT NULL,
    PRIMARY KEY (case_id, sort_us, item_rowid)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS item_cases_item ON item_cases(item_rowid);
CREATE TABLE IF NOT EXISTS item_versions (
    item_id TEXT NOT NULL, version INTEGER NOT NULL, doc TEXT NOT NULL,
    UNIQUE (item_id, version));
CREATE TABLE IF NOT EXISTS terms (
    id INTEGER PRIMARY KEY, field TEXT NOT NULL, text TEXT NOT NULL, n INTEGER NOT NULL,
    UNIQUE (field, text));
CREATE TABLE IF NOT EXISTS term_grams (
    field TEXT NOT NULL, gram TEXT NOT NULL, term_id INTEGER NOT NULL,
    PRIMARY KEY (field, gram, term_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS gram_counts (
    field TEXT NOT NULL, gram TEXT NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (field, gram)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
    collection TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (collection, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ledger (
    seq INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    subject TEXT NOT NULL, details TEXT NOT NULL, prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL, actor_key_id TEXT NOT NULL, actor_signature TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stats (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO stats VALUES ('max_span_us', 0);
INSERT OR IGNORE INTO stats VALUES ('change_seq', 0);
-- the change cursor of records: the last change of each (cases, flags, ...)
CREATE TABLE IF NOT EXISTS record_changes (
    collection TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (collection, id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS record_changes_seq ON record_changes(collection, seq);
-- 档号 by item (a page of search rows asks for its items' codes; archive_codes_of)
CREATE INDEX IF NOT EXISTS records_code_item ON records(json_extract(doc, '$.item'))
WHERE collection = 'archive_codes';
-- Items per tier, status, kind and activity type (an item without one is not counted under
-- it): a report's unfiltered count is one read, and the partial indexes need no full scan.
CREATE TABLE IF NOT EXISTS counts (
    key TEXT NOT NULL, value TEXT NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (key, value)) WITHOUT ROWID;
-- new items are counted by add_items, once per batch (a trigger cost two upserts a row)
DROP TRIGGER IF EXISTS items_counted;
DROP TRIGGER IF EXISTS items_recounted;
"""
# one trigger per counted column: a new version, a state saved, moves the item's count
_RECOUNT = """
CREATE TRIGGER IF NOT EXISTS items_recounted_{c} AFTER UPDATE OF {c} ON items
WHEN OLD.{c} IS NOT NEW.{c} BEGIN
    UPDATE counts SET n=n-1 WHERE key='{c}' AND value=OLD.{c};
    INSERT INTO counts SELECT '{c}', NEW.{c}, 1
    WHERE NEW.{c} IS NOT NULL ON CONFLICT DO UPDATE SET n=n+1;
END;"""
_SCHEMA += "".join(_RECOUNT.format(c=c) for c in COUNTED)

# the equality filters that pick few items, most selective first, with the index each leads
_SELECTIVE = {"activity_id": "items_activity_key", "device_id": "items_device"}
_EQUAL_COLUMNS = {"unit": "unit", "device_id": "device_id",
                  "tier": "tier", "kind": "kind", "activity_type": "activity_type",
                  "activity_id": "activity_id", "status": "status"}
_GROUP_COLUMNS = _EQUAL_COLUMNS | {"case_id": "case_id"}
# the value of most items, which the partial index on the column leaves out (_SCHEMA)
_COMMON = {"tier": "routine", "status": "archived", "kind": "video",
           "activity_type": "日常巡查"}


def to_us(dt: datetime | None) -> int | None:
    return None if dt is None else (dt - _EPOCH) // _US


def from_us(us: int | None) -> datetime | None:
    return None if us is None else _EPOCH + us * _US


def _dumps(doc: object) -> str:
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


class SQLiteCatalog(Catalog):
    backend = "sqlite"

    def __init__(self, path: str | Path, *, timeout: float = 60.0) -> None:
        self.path = Path(path)
        self.endpoint = str(self.path)
        self.timeout = timeout
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._term_ids: dict[tuple[str, str], int] = {}  # committed names (_remember_terms)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.schema_version = self._open_schema()
        except sqlite3.DatabaseError as exc:
            raise ServiceUnavailable(Text("SQLite catalog"), self.endpoint, str(exc)) from exc
        except OSError as exc:
            raise ServiceUnavailable(Text("SQLite catalog"), self.endpoint, str(exc)) from exc

    def _open_schema(self) -> int:
        """The stored schema version (PRAGMA user_version). A new file gets the current schema
        and version; a catalog from before versions existed (tables, user_version 0) is
        version 1. Only a catalog at the current version has its schema (re)asserted: an
        older or newer one is left exactly as it is, for 'custody upgrade' or a newer
        custody (archive.catalog.schema)."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            stored = found = db.execute("PRAGMA user_version").fetchone()[0]
            if found == 0:
                tables = db.execute("SELECT count(*) FROM sqlite_master WHERE type='table' "
                                    "AND name='items'").fetchone()[0]
                found = schema.FIRST if tables else schema.current()
            if found == schema.current():
                for statement in _statements(_SCHEMA):
                    db.execute(statement)
                if stored != found:  # a new file
                    db.execute(f"PRAGMA user_version={found}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return found

    @staticmethod
    def schema_statements(*names: str) -> list[str]:
        """The statements of the current schema that make the named indexes and triggers,
        for the upgrade step that brings them to an older catalog (``schema``): an upgraded
        catalog's schema is then the schema a new one gets."""
        return [s for s in _statements(_SCHEMA) if s.startswith("CREATE")
                and s.split()[5] in names]

    def set_schema_version(self, version: int) -> None:
        self.db.execute(f"PRAGMA user_version={int(version)}")
        self.schema_version = version

    # --- connections ---------------------------------------------------------------------
    @property
    def db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None,
                                       check_same_thread=False)
                # a new file only (an existing one keeps its pages): see _PAGE_BYTES
                conn.execute(f"PRAGMA page_size={_PAGE_BYTES}")
                conn.execute("PRAGMA journal_mode=WAL")
            except sqlite3.DatabaseError as exc:
                raise ServiceUnavailable(Text("SQLite catalog"), self.endpoint, str(exc)) from exc
            conn.execute("PRAGMA synchronous=FULL")  # evidence: a commit survives power loss
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
            conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def _write(self) -> _Tx:
        return _Tx(self.db)

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    # --- objects -------------------------------------------------------------------------
    def add_object(self, obj: ObjectRecord) -> bool:
        with self._write() as db:
            cur = db.execute("INSERT OR IGNORE INTO objects VALUES (?, ?)",
                             (obj.sha256, packing.pack(obj.to_dict())))
            return cur.rowcount == 1

    def add_objects(self, objects: list[ObjectRecord]) -> int:
        with self._write() as db:
            before = db.total_changes
            db.executemany("INSERT OR IGNORE INTO objects VALUES (?, ?)",
                           [(o.sha256, packing.pack(o.to_dict())) for o in objects])
            return db.total_changes - before

    def get_object(self, sha256: str) -> ObjectRecord | None:
        row = self.db.execute("SELECT doc FROM objects WHERE sha256=?", (sha256,)).fetchone()
        return ObjectRecord.from_dict(packing.unpack(row[0])) if row else None

    def update_object_lock(self, sha256: str, lock: Lock, version_id: str | None = None
                           ) -> None:
        with self._write() as db:
            row = db.execute("SELECT doc FROM objects WHERE sha256=?", (sha256,)).fetchone()
            if row is None:
                raise NotFound(N_("object {sha256} is not in the catalog"), subject=sha256,
                           sha256=sha256)
            doc = packing.unpack(row[0])
            doc["storage"]["lock"] = lock.to_dict()
            doc["storage"]["lock_verified_at"] = iso(datetime.now(timezone.utc))
            if version_id is not None:
                doc["storage"]["version_id"] = version_id
            db.execute("UPDATE objects SET doc=? WHERE sha256=?", (packing.pack(doc), sha256))
            # the items holding these bytes changed too, for a run that follows the cursor
            db.execute("UPDATE items SET seq=? WHERE object_key=? AND sha256=?",
                       (_next_seq(db), text_key(sha256), sha256))

    def iter_objects(self) -> Iterator[ObjectRecord]:
        for (doc,) in self.db.execute("SELECT doc FROM objects ORDER BY sha256"):
            yield ObjectRecord.from_dict(packing.unpack(doc))

    # --- items ---------------------------------------------------------------------------
    def _term(self, db: sqlite3.Connection, field: str, text: str | None,
              cache: dict, bumps: dict) -> int | None:
        """The id of a distinct name, created with its bigrams when new; its item count is
        raised later, once per batch (``_bump``)."""
        if not text:
            return None
        key = (field, text)
        tid = cache.get(key)
        if tid is None:
            row = db.execute("SELECT id FROM terms WHERE field=? AND text=?", key).fetchone()
            tid = row[0] if row else self._new_term(db, field, text)
            cache[key] = tid
        bumps[tid] = bumps.get(tid, 0) + 1
        return tid

    @classmethod
    def _new_term(cls, db: sqlite3.Connection, field: str, text: str) -> int:
        """A distinct name not seen before, with its bigrams; no item counted yet."""
        return cls._new_terms(db, field, [text])[text]

    @staticmethod
    def _new_terms(db: sqlite3.Connection, field: str, texts: list[str]) -> dict[str, int]:
        """Names not seen before, with their bigrams, three statements for them all (a
        rebuild's batch brings thousands: three statements each had cost 6 µs an item of
        the batch at 300,000 items); their ids follow the highest, under the write lock."""
        if not texts:
            return {}
        top = db.execute("SELECT coalesce(max(id), 0) FROM terms").fetchone()[0]
        ids = {t: top + n for n, t in enumerate(texts, 1)}
        db.executemany("INSERT INTO terms (id, field, text, n) VALUES (?, ?, ?, 0)",
                       [(tid, field, t) for t, tid in ids.items()])
        grams = {tid: bigrams(t) or {t} for t, tid in ids.items()}
        db.executemany("INSERT INTO term_grams VALUES (?, ?, ?)",
                       [(field, g, tid) for tid, gs in grams.items() for g in gs])
        counted = Counter(g for gs in grams.values() for g in gs)
        db.executemany("INSERT INTO gram_counts VALUES (?, ?, ?) ON CONFLICT "
                       "DO UPDATE SET n=n+excluded.n", [(field, g, n) for g, n in counted.items()])
        return ids

    @staticmethod
    def _bump(db: sqlite3.Connection, bumps: dict) -> None:
        db.executemany("UPDATE terms SET n=n+? WHERE id=?",
                       [(n, tid) for tid, n in bumps.items()])

    def _refuse_existing(self, db: sqlite3.Connection, items: list[Item]) -> None:
        ids = [i.id for i in items]
        keys = [i.dedupe for i in items if i.dedupe]
        if len(set(ids)) < len(ids):
            raise InputError(N_("the batch holds an item id twice"))
        if len(set(keys)) < len(keys):
            raise InputError(N_("the batch holds the same bytes and description twice"))
        for i in items:
            if i.dedupe and not i.dedupe.startswith(f"{i.sha256}:"):
                raise InputError(N_("item {item}: its dedupe key does not begin with its "
                                    "digest"), subject=i.id, item=i.id)
        # the same bytes and description first: two writers adopting one signed manifest
        # race for the same id too, and that is a duplicate, not an error. No UNIQUE index
        # holds dedupe keys (see _SCHEMA): this check, under the write lock every writer
        # takes first, is what keeps them unique. An item with the same dedupe key holds the
        # same bytes: the index on the bytes finds the few rows to compare
        wanted = set(keys)
        shas = [i.sha256 for i in items if i.dedupe]
        for n in range(0, len(shas), 500):
            part = sorted({text_key(k) for k in shas[n:n + 500]})
            for item_id, dedupe in db.execute(
                    "SELECT id, dedupe FROM items WHERE object_key IN "
                    f"({','.join('?' * len(part))})", part):
                if dedupe in wanted:
                    raise DuplicateItem(item_id)
        for n in range(0, len(ids), 500):
            part = ids[n:n + 500]
            row = db.execute(f"SELECT id FROM items WHERE id IN ({','.join('?' * len(part))})",
                             part).fetchone()
            if row:
                raise InputError(N_("item {item} already exists"), subject=row[0],
                                 item=row[0])

    def add_items(self, items: list[Item]) -> None:
        if not items:
            return
        # In the order they were ingested (an id is a UUIDv7, its ingest time first), as
        # ingest would have written them: a batch in any order, as a rebuild may bring it,
        # then goes into each index in one sweep, not in jumps from page to page
        items = sorted(items, key=lambda i: i.id)
        bumps: dict = {}
        # the cache given back after the commit: the batch's pages are written by then
        with _bulk(self.db, len(items)), self._write() as db:
            # checked inside the write lock, so the batch can go in with one statement
            self._refuse_existing(db, items)
            rowid = db.execute("SELECT coalesce(max(rowid), 0) FROM items").fetchone()[0]
            seq = _next_seq(db)
            max_span = 0
            terms, learned = self._terms(db, items, bumps)
            with _Packer(len(items)) as packer:
                written = None
                for n in range(0, len(items), _CHUNK):
                    rows, texts, officer_rows, case_rows = [], [], [], []
                    for item, (party, cause) in zip(items[n:n + _CHUNK], terms[n:n + _CHUNK],
                                                    strict=True):
                        rowid += 1
                        row = self._row(item, rowid, party, cause, seq)
                        rows.append(row)
                        texts.append(packing.dump(item.to_record()))
                        start, end, sort_us = row[_START:_SORT + 1]
                        if start is not None:
                            max_span = max(max_span, end - start)
                        people = dict.fromkeys(item.description.officers
                                               + item.description.assisting)
                        officer_rows += [(o, sort_us, rowid) for o in people]
                        case_rows += [(c, sort_us, rowid) for c in item_cases(item)]
                    chunk = (rows, packer(texts), officer_rows, case_rows)
                    # this chunk's records are compressed while the one before goes in
                    if written is not None:
                        _insert(db, *written)
                    written = chunk
                _insert(db, *written)
            kept = Counter(pair for i in items for pair in counted(i).items())
            db.executemany("INSERT INTO counts VALUES (?, ?, ?) ON CONFLICT "
                           "DO UPDATE SET n=n+excluded.n",
                           [(k, v, n) for (k, v), n in kept.items()])
            self._bump(db, bumps)
            db.execute("UPDATE stats SET value=max(value, ?) WHERE key='max_span_us'",
                       (max_span,))
        self._remember_terms(learned)
        for item in items:
            self._note_item(item)

    def _terms(self, db: sqlite3.Connection, items: list[Item], bumps: dict
               ) -> tuple[list[tuple[int | None, int | None]], dict]:
        """Each item's (party, cause) term ids, and the names this batch looked up or
        created: names an earlier batch committed are remembered, the others looked up 500
        to a statement, and those not yet known created."""
        known = self._term_ids
        ids: dict = {}
        for field in ("party", "cause"):
            texts = sorted({t for i in items if (t := getattr(i.description, field))
                            and (field, t) not in known})
            for n in range(0, len(texts), 500):
                part = texts[n:n + 500]
                ids.update(((field, t), tid) for t, tid in db.execute(
                    f"SELECT text, id FROM terms WHERE field=? AND text IN "
                    f"({','.join('?' * len(part))})", (field, *part)))
            made = self._new_terms(db, field, [t for t in texts if (field, t) not in ids])
            ids.update(((field, t), tid) for t, tid in made.items())
        out = []
        for i in items:
            d = i.description
            party = ids.get(("party", d.party)) or known.get(("party", d.party))
            cause = ids.get(("cause", d.cause)) or known.get(("cause", d.cause))
            for tid in (party, cause):
                if tid is not None:
                    bumps[tid] = bumps.get(tid, 0) + 1
            out.append((party, cause))
        return out, ids

    def _remember_terms(self, learned: dict) -> None:
        """Names and their ids, once their batch is committed: an id never changes and a name
        is never deleted, so a later batch need not look it up again (a rebuild's batch at a
        million items looked up 100,000 names, most of them known). Not before the commit: a
        batch rolled back takes the ids it created with it. Bounded: when full, it starts
        again."""
        if len(self._term_ids) + len(learned) > _TERM_IDS:
            self._term_ids.clear()
        self._term_ids.update(learned)

    @staticmethod
    def _row(item: Item, rowid: int, party: int | None, cause: int | None,
             seq: int) -> tuple:
        """The item's row in ``_ROW_COLUMNS`` order, its record apart (``_insert``)."""
        d = item.description
        start, end = to_us(d.recorded_start), to_us(d.recorded_end)
        return (rowid, item.id, item.sha256, item.version, d.kind, item.status, item.tier,
                d.unit, d.device_id, d.case_id, d.activity_id, d.activity_type, start,
                end if end is not None else start, to_us(sort_time(item)),
                to_us(item.retain_until), party, cause, item.dedupe, seq,
                text_key(item.sha256), ordered_key(d.activity_id))

    def add_version(self, item_id: str, version: MetadataVersion, status: str) -> Item:
        with self._write() as db:
            row = db.execute("SELECT rowid, doc, party_term, cause_term FROM items WHERE id=?",
                             (item_id,)).fetchone()
            if row is None:
                raise NotFound(N_("no item {item}"), subject=item_id, item=item_id)
            rowid, doc, old_party, old_cause = row
            item = Item.from_record(packing.unpack(doc))
            check_next_version(item.version, version)
            # the version it replaces joins the earlier ones, as it was signed
            db.execute("INSERT INTO item_versions VALUES (?, ?, ?)",
                       (item_id, item.version, packing.pack(item.current.to_dict())))
            item.current = version
            item.status = status
            Item.__post_init__(item)
            # the row as add_items writes it (its terms below); column dedupe_key emptied, as
            # add_items leaves it. The current version is in the record only: item_versions
            # holds the earlier ones, so each signed version is stored once
            cols = dict(zip(_ROW_COLUMNS, self._row(item, rowid, None, None, _next_seq(db)),
                            strict=True))
            cols |= {"dedupe_key": None, "doc": packing.pack(item.to_record())}
            cache: dict = {}
            bumps: dict = {}
            for field, old in (("party", old_party), ("cause", old_cause)):
                if old is not None:
                    bumps[old] = bumps.get(old, 0) - 1
                cols[f"{field}_term"] = self._term(db, field,
                                                   getattr(item.description, field), cache,
                                                   bumps)
            self._bump(db, bumps)
            del cols["id"], cols["rowid"]
            db.execute(f"UPDATE items SET {','.join(c + '=:' + c for c in cols)} "
                       f"WHERE rowid=:rowid", {**cols, "rowid": rowid})
            db.execute("DELETE FROM item_officers WHERE item_rowid=?", (rowid,))
            people = dict.fromkeys(item.description.officers + item.description.assisting)
            db.executemany("INSERT OR IGNORE INTO item_officers VALUES (?, ?, ?)",
                           [(o, cols["sort_us"], rowid) for o in people])
            self._set_cases(db, rowid, cols["sort_us"], item, force=True)
            if cols["start_us"] is not None:
                db.execute("UPDATE stats SET value=max(value, ?) WHERE key='max_span_us'",
                           (cols["end_us"] - cols["start_us"],))
        self._note_item(item)
        return item

    @staticmethod
    def _set_cases(db: sqlite3.Connection, rowid: int, sort_us: int, item: Item,
                   force: bool = False) -> None:
        """The item's case rows: its description's case and the cases linked to it."""
        want = item_cases(item)
        if not force:
            have = [r[0] for r in db.execute(
                "SELECT case_id FROM item_cases WHERE item_rowid=? AND sort_us=?",
                (rowid, sort_us))]
            if sorted(have) == sorted(want):
                return
        db.execute("DELETE FROM item_cases WHERE item_rowid=?", (rowid,))
        db.executemany("INSERT OR IGNORE INTO item_cases VALUES (?, ?, ?)",
                       [(c, sort_us, rowid) for c in want])

    def save_state(self, item: Item) -> None:
        with self._write() as db:
            row = db.execute("SELECT version, rowid, sort_us FROM items WHERE id=?",
                             (item.id,)).fetchone()
            if row is None:
                raise NotFound(N_("no item {item}"), subject=item.id, item=item.id)
            if row[0] != item.version:
                raise InputError(N_("item {item}: state saved against version {version}, "
                                    "catalog has {current}"), subject=item.id, item=item.id,
                                 version=item.version, current=row[0])
            db.execute("UPDATE items SET status=?, tier=?, retain_until_us=?, doc=?, seq=? "
                       "WHERE id=?", (item.status, item.tier, to_us(item.retain_until),
                                      packing.pack(item.to_record()), _next_seq(db),
                                      item.id))
            self._set_cases(db, row[1], row[2], item)  # a case link changes the state only
        self._note_item(item)

    def get_item(self, item_id: str) -> Item | None:
        row = self.db.execute("SELECT doc FROM items WHERE id=?", (item_id,)).fetchone()
        return Item.from_record(packing.unpack(row[0])) if row else None

    def versions(self, item_id: str) -> list[MetadataVersion]:
        """The earlier versions, then the current one from the item's record: in version
        order, so a stored row that claims a later version than the current shows last."""
        db = self.db
        found = [(n, packing.unpack(doc)) for n, doc in db.execute(
            "SELECT version, doc FROM item_versions WHERE item_id=?", (item_id,))]
        item = db.execute("SELECT version, doc FROM items WHERE id=?", (item_id,)).fetchone()
        if item is not None:
            found.append((item[0], packing.unpack(item[1])["current"]))
        return [MetadataVersion.from_dict(d) for _, d in sorted(found, key=lambda r: r[0])]

    def items_of_object(self, sha256: str) -> list[Item]:
        rows = self.db.execute("SELECT doc FROM items WHERE object_key=? AND sha256=? "
                               "ORDER BY rowid", (text_key(sha256), sha256)).fetchall()
        return [Item.from_record(packing.unpack(r[0])) for r in rows]

    def item_by_dedupe(self, dedupe: str) -> Item | None:
        # the key begins with the digest of its bytes (model.dedupe_key)
        row = self.db.execute("SELECT doc FROM items WHERE object_key=? AND dedupe=?",
                              (text_key(dedupe.partition(":")[0]), dedupe)).fetchone()
        return Item.from_record(packing.unpack(row[0])) if row else None

    # --- what changed, and what falls due ---------------------------------------------------
    def change_seq(self) -> int:
        return self.db.execute("SELECT value FROM stats WHERE key='change_seq'").fetchone()[0]

    def _page(self, sql: str, params: list, limit: int) -> Page:
        """Rows of (doc, key, rowid) in key order: a page and the cursor after it."""
        rows = self.db.execute(sql + " LIMIT ?", (*params, limit + 1)).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        items = [Item.from_record(packing.unpack(r[0])) for r in rows]
        return Page(items, f"{rows[-1][1]}:{rows[-1][2]}" if more else None)

    @staticmethod
    def _after(col: str, cursor: str | None) -> tuple[str, list]:
        if not cursor:
            return "", []
        try:
            key, rowid = (int(x) for x in cursor.split(":"))
        except ValueError as exc:
            raise InputError(N_("bad page cursor '{cursor}'"), cursor=cursor) from exc
        return f" AND ({col}>? OR ({col}=? AND rowid>?))", [key, key, rowid]

    def changed_items(self, since: int, limit: int = 1000, cursor: str | None = None) -> Page:
        more, params = self._after("seq", cursor)
        # items_seq holds (seq, rowid): the order is the index's, no sort
        return self._page(f"SELECT doc, seq, rowid FROM items INDEXED BY items_seq "
                          f"WHERE seq>?{more} ORDER BY seq, rowid", [since, *params], limit)

    def changed_records(self, collection: str, since: int) -> list[tuple[str, dict]]:
        check_collection(collection)
        rows = self.db.execute(
            "SELECT r.id, r.doc FROM record_changes c JOIN records r ON "
            "r.collection=c.collection AND r.id=c.id WHERE c.collection=? AND c.seq>? "
            "ORDER BY r.id", (collection, since)).fetchall()
        return [(rid, json.loads(doc)) for rid, doc in rows]

    def due_items(self, tier: str, until: datetime, start: datetime | None = None,
                  limit: int = 1000, cursor: str | None = None) -> Page:
        low = "" if start is None else " AND retain_until_us>?"
        more, params = self._after("retain_until_us", cursor)
        return self._page(
            f"SELECT doc, retain_until_us, rowid FROM items INDEXED BY items_due WHERE tier=? "
            f"AND retain_until_us<=?{low}{more} ORDER BY retain_until_us, rowid",
            [tier, to_us(until), *([] if start is None else [to_us(start)]), *params], limit)

    def items_after(self, item_id: str | None, limit: int) -> list[Item]:
        rows = self.db.execute("SELECT doc FROM items WHERE id>? ORDER BY id LIMIT ?",
                               (item_id or "", limit)).fetchall()
        return [Item.from_record(packing.unpack(r[0])) for r in rows]

    # --- search --------------------------------------------------------------------------
    def _terms_matching(self, field: str, text: str) -> tuple[list[int], int] | None:
        """Term ids containing ``text`` and how many items they cover; None when the
        substring is so common that walking the time index is the faster plan."""
        text = text.strip()
        grams = bigrams(text) or {text}
        placeholders = ",".join("?" * len(grams))
        rows = self.db.execute(
            f"SELECT gram, n FROM gram_counts WHERE field=? AND gram IN ({placeholders})",
            (field, *grams)).fetchall()
        if len(rows) < len(grams):
            return [], 0  # some bigram occurs in no name: nothing can match
        gram, n = min(rows, key=lambda r: r[1])
        if n > COMMON_TERMS:
            return None
        found = self.db.execute(
            "SELECT t.id, t.n FROM term_grams g JOIN terms t ON t.id=g.term_id "
            "WHERE g.field=? AND g.gram=? AND instr(t.text, ?) > 0 AND t.n > 0",
            (field, gram, text)).fetchall()
        # Listing the names' ids is fast however many items they cover: the index on
        # (term, time) gives each name's first rows in order (measured at 1M items).
        return [r[0] for r in found], sum(r[1] for r in found)

    def _where(self, q: Query, alias: str = "i") -> tuple[list[str], list, bool, str | None]:
        """SQL conditions for ``q``; returns (conditions, params, empty, forced index)."""
        cond: list[str] = []
        params: list = []
        for key, col in _EQUAL_COLUMNS.items():
            v = getattr(q, key)
            if v is None:
                continue
            if key == "activity_id":  # found by its key, the full id compared in the row
                cond.append(f"{alias}.activity_key=?")
                params.append(ordered_key(v))
            if key in _COMMON and v == _COMMON[key]:
                # most items: walked in time order, not found by an index on the column
                # ("+" keeps SQLite from items_due, which leads with the tier and would
                # sort most of the archive for a first page)
                cond.append(f"+{alias}.{col}=?")
            else:
                cond.append(f"{alias}.{col}=?")
            params.append(v)
            if key in _COMMON and v != _COMMON[key]:
                # the partial index's own condition, word for word: SQLite uses a partial
                # index only for a query whose terms imply it
                cond.append(f"{alias}.{col}<>'{_COMMON[key]}'")
        # An activity or a device has a handful of items; a kind, tier or status may have
        # most of the archive. Without statistics the planner took items_kind for "the
        # documents of activity A" and walked every document of the archive once per
        # activity (the year's statistics: 683 s for 100,000 items at 300,000).
        index = next((_SELECTIVE[k] for k in _SELECTIVE if getattr(q, k) is not None), None)
        if q.case_id is not None:  # named or linked: a case has few items, so they lead
            cond.append(f"{alias}.rowid IN (SELECT item_rowid FROM item_cases WHERE case_id=?)")
            params.append(q.case_id)
        for field in ("party", "cause"):
            text = getattr(q, field)
            if text is None:
                continue
            match = self._terms_matching(field, text)
            if match is None:
                cond.append(f"instr((SELECT text FROM terms WHERE id={alias}.{field}_term), ?)>0")
                params.append(text.strip())
                index = index or "items_sort"
            else:
                ids, _ = match
                if not ids:
                    return cond, params, True, None
                cond.append(f"{alias}.{field}_term IN ({','.join(map(str, ids))})")
        return cond, params, False, index

    def _time_bounds(self, q: Query) -> tuple[int | None, int | None, int | None]:
        """(lowest start that can overlap, range start, range end) in microseconds."""
        if q.start is None and q.end is None:
            return None, None, None
        span = self.db.execute("SELECT value FROM stats WHERE key='max_span_us'").fetchone()[0]
        a, b = to_us(q.start), to_us(q.end)
        return (a - span if a is not None else None), a, b

    def _select(self, q: Query, what: str, tail: str = "", extra: tuple = (),
                cursor: tuple[int, int] | None = None, walk: bool = False
                ) -> tuple[str, list] | None:
        cond, params, empty, index = self._where(q)
        if empty:
            return None
        low, a, b = self._time_bounds(q)
        sort = "o.sort_us" if q.officer else "i.sort_us"
        if low is not None:
            cond += [f"{sort}>=?", "i.start_us IS NOT NULL", "i.end_us>=?"]
            params += [low, a]
        if b is not None:
            cond += [f"{sort}<?", "i.start_us IS NOT NULL"]
            params.append(b)
        if cursor is not None:
            tie = "o.item_rowid" if q.officer else "i.rowid"
            # the bound alone lets SQLite seek to the page: with only the OR it scanned the
            # index from its start on every page, a walk of every item growing as N²
            cond.append(f"{sort}>=? AND ({sort}>? OR ({sort}=? AND {tie}>?))")
            params += [cursor[0], cursor[0], cursor[0], cursor[1]]
        if q.officer:
            src = "item_officers o JOIN items i ON i.rowid=o.item_rowid"
            cond.insert(0, "o.officer=?")
            params.insert(0, q.officer)
        else:
            src = f"items i INDEXED BY {index}" if index and walk else "items i"
        sql = f"SELECT {what} FROM {src}"
        if cond:
            sql += " WHERE " + " AND ".join(cond)
        return sql + tail, params + list(extra)

    def search_sql(self, query: Query, limit: int = 50,
                   cursor: str | None = None) -> tuple[str, list] | None:
        """The statement ``search`` runs (None: nothing can match)."""
        if limit < 1:
            raise InputError(N_("page size must be at least 1"))
        pos = None
        if cursor:
            try:
                s, r = cursor.split(":")
                pos = (int(s), int(r))
            except ValueError as exc:
                raise InputError(N_("bad page cursor '{cursor}'"), cursor=cursor) from exc
        # with an officer, item_officers drives: its primary key gives the order directly
        sort, tie = ("o.sort_us", "o.item_rowid") if query.officer else ("i.sort_us", "i.rowid")
        order = f" ORDER BY {sort}, {tie}"
        if (query.party or query.cause) and not query.officer:
            # A substring matches many names, whose rows are sorted by time together. Sorting
            # the rows themselves read every candidate's record (thousands, all over the file,
            # for a common substring); the index gives time and rowid, so only the records of
            # the page are read
            built = self._select(query, "i.rowid", order + " LIMIT ?", (limit + 1,),
                                 cursor=pos, walk=True)
            if built is None:
                return None
            sql, params = built
            return (f"SELECT i.doc, i.sort_us, i.rowid FROM items i WHERE i.rowid IN ({sql})"
                    + order, params)
        return self._select(query, f"i.doc, {sort}, {tie}", order + " LIMIT ?", (limit + 1,),
                            cursor=pos, walk=True)

    def search(self, query: Query, limit: int = 50, cursor: str | None = None) -> Page:
        built = self.search_sql(query, limit, cursor)
        if built is None:
            return Page([], None)
        rows = self.db.execute(*built).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        items = [Item.from_record(packing.unpack(r[0])) for r in rows]
        nxt = f"{rows[-1][1]}:{rows[-1][2]}" if more else None
        return Page(items, nxt)

    def count(self, query: Query) -> int:
        given = query.given()
        if len(given) == 1 and given.keys() <= set(COUNTED):  # kept counts: one read
            (key, value), = given.items()
            row = self.db.execute("SELECT n FROM counts WHERE key=? AND value=?",
                                  (key, value)).fetchone()
            return row[0] if row else 0
        built = self._select(query, "count(*)")
        return 0 if built is None else self.db.execute(*built).fetchone()[0]

    def count_by(self, key: str, query: Query | None = None) -> dict[str, int]:
        check_group_key(key)
        q = query or Query()
        if key in COUNTED and not q.given():
            found = dict(self.db.execute("SELECT value, n FROM counts WHERE key=? AND n>0",
                                         (key,)).fetchall())
            # the items without a value (an activity type is optional) are the rest
            total = self.db.execute("SELECT coalesce(sum(n), 0) FROM counts "
                                    "WHERE key='tier'").fetchone()[0]
            if total > sum(found.values()):
                found[""] = total - sum(found.values())
            return found
        if key == "officer":
            built = self._select(q, "i.rowid")
            if built is None:
                return {}
            sql, params = built
            built = (f"SELECT officer, count(*) FROM item_officers WHERE item_rowid IN ({sql}) "
                     "GROUP BY officer", params)
        elif key == "case_id":
            return self._count_by_case(q)
        elif key in ("party", "cause"):
            built = self._select(q, f"(SELECT text FROM terms WHERE id=i.{key}_term), count(*)",
                                 f" GROUP BY i.{key}_term")
        else:
            col = _GROUP_COLUMNS[key]
            built = self._select(q, f"i.{col}, count(*)", f" GROUP BY i.{col}")
        rows = [] if built is None else self.db.execute(*built).fetchall()
        return {("" if k is None else k): n for k, n in rows}

    def _count_by_case(self, q: Query) -> dict[str, int]:
        """Per case, as per officer: an item counts under every case it belongs to; those
        that belong to none under ""."""
        built = self._select(q, "i.rowid AS r")
        if built is None:
            return {}
        sql, params = built
        counts = dict(self.db.execute(
            f"SELECT case_id, count(*) FROM item_cases WHERE item_rowid IN ({sql}) "
            "GROUP BY case_id", params).fetchall())
        none = self.db.execute(
            f"SELECT count(*) FROM ({sql}) m WHERE NOT EXISTS (SELECT 1 FROM item_cases c "
            "WHERE c.item_rowid=m.r)", params).fetchone()[0]
        if none:
            counts[""] = none
        return counts

    # --- the index as stored ---------------------------------------------------------------
    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """One read transaction on this thread's connection: WAL keeps its view fixed."""
        db = self.db
        db.execute("BEGIN")
        try:
            yield
        finally:
            db.execute("COMMIT")

    def index_grams(self, text: str | None) -> list[str]:
        return sorted(bigrams(text or "") or ({text} if text else set()))

    def _term_state(self, field: str, term_id: int | None) -> tuple:
        """(text, grams, grams counted, used) of a term, as searches read it."""
        if term_id is None:
            return None, [], [], None
        row = self.db.execute("SELECT text, n FROM terms WHERE id=? AND field=?",
                              (term_id, field)).fetchone()
        if row is None:
            return None, [], [], False
        grams = sorted(r[0] for r in self.db.execute(
            "SELECT gram FROM term_grams WHERE field=? AND term_id=?", (field, term_id)))
        counted = sorted(r[0] for r in self.db.execute(
            f"SELECT gram FROM gram_counts WHERE field=? AND n>0 AND gram IN "
            f"({','.join('?' * len(grams))})", (field, *grams))) if grams else []
        return row[0], grams, counted, row[1] > 0

    def index_state(self, item_id: str) -> dict | None:
        row = self.db.execute(
            "SELECT rowid, version, sha256, kind, unit, device_id, case_id, activity_id, "
            "activity_type, start_us, end_us, sort_us, party_term, cause_term, tier, status, "
            "retain_until_us, object_key, activity_key FROM items WHERE id=?", (item_id,)
        ).fetchone()
        if row is None:
            return None
        (rowid, version, sha, kind, unit, device, case, act_id, act_type, start, end, sort,
         party_term, cause_term, tier, status, until, object_key, activity_key) = row
        if object_key != text_key(sha):  # the item is not found by its bytes: say so
            sha = f"{sha} (indexed as {object_key})"
        if activity_key != ordered_key(act_id):  # nor by its activity
            act_id = f"{act_id} (indexed as {activity_key})"
        officers = self.db.execute("SELECT officer, sort_us FROM item_officers "
                                   "WHERE item_rowid=?", (rowid,)).fetchall()
        cases = self.db.execute("SELECT case_id, sort_us FROM item_cases WHERE item_rowid=?",
                                (rowid,)).fetchall()
        out = {"version": version, "sha256": sha, "kind": kind, "unit": unit,
               "device_id": device, "case_id": case, "activity_id": act_id,
               "activity_type": act_type,
               "officers": sorted({o for o, _ in officers}),
               "officers_sort": sorted({iso(from_us(t)) for _, t in officers}),
               "cases": sorted({c for c, _ in cases}),
               "cases_sort": sorted({iso(from_us(t)) for _, t in cases}),
               "start": iso(from_us(start)), "end": iso(from_us(end)),
               "sort": iso(from_us(sort)), "tier": tier, "status": status,
               "retain_until": iso(from_us(until))}
        for field, term in (("party", party_term), ("cause", cause_term)):
            text, grams, counted, used = self._term_state(field, term)
            out[field] = text
            out[f"{field}_grams"] = grams
            # a gram without a count row, or a term counted as unused, hides the item
            out[f"{field}_gram_counts"] = counted
            out[f"{field}_term_used"] = used
        return out

    def expected_index(self, item: Item) -> dict:
        out = super().expected_index(item)
        for field in ("party", "cause"):
            out[f"{field}_gram_counts"] = out[f"{field}_grams"]
            out[f"{field}_term_used"] = True if out[field] else None
        return out

    def index_totals(self) -> dict:
        span = self.db.execute("SELECT value FROM stats WHERE key='max_span_us'").fetchone()
        counts: dict[str, dict[str, int]] = {key: {} for key in COUNTED}
        for key, value, n in self.db.execute("SELECT key, value, n FROM counts WHERE n!=0"):
            counts.setdefault(key, {})[value] = n
        terms: dict[str, dict[str, int]] = {"party": {}, "cause": {}}
        for field, text, n in self.db.execute("SELECT field, text, n FROM terms WHERE n!=0"):
            terms.setdefault(field, {})[text] = n
        return {"max_span_us": span[0] if span else 0, "counts": counts, "terms": terms}

    # --- records -------------------------------------------------------------------------
    def put_record(self, collection: str, record_id: str, doc: dict) -> None:
        check_collection(collection)
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO records VALUES (?, ?, ?)",
                       (collection, record_id, _dumps(doc)))
            if self.schema_version >= CURSOR_SCHEMA:  # not while an upgrade gets there
                db.execute("INSERT OR REPLACE INTO record_changes VALUES (?, ?, ?)",
                           (collection, record_id, _next_seq(db)))
        self._note_record(collection, record_id, doc)

    def get_record(self, collection: str, record_id: str) -> dict | None:
        check_collection(collection)
        row = self.db.execute("SELECT doc FROM records WHERE collection=? AND id=?",
                              (collection, record_id)).fetchone()
        return json.loads(row[0]) if row else None

    def iter_records(self, collection: str) -> Iterator[tuple[str, dict]]:
        check_collection(collection)
        rows = self.db.execute("SELECT id, doc FROM records WHERE collection=? ORDER BY id",
                               (collection,)).fetchall()
        for record_id, doc in rows:
            yield record_id, json.loads(doc)

    def list_records(self, collection: str, **equal: object) -> list[dict]:
        check_collection(collection)
        docs = [json.loads(r[0]) for r in self.db.execute(
            "SELECT doc FROM records WHERE collection=? ORDER BY id", (collection,))]
        return [d for d in docs if all(d.get(k) == v for k, v in equal.items())]

    def archive_codes_of(self, item_ids: Iterable[str]) -> dict[str, str]:
        ids = list(dict.fromkeys(item_ids))
        out: dict[str, str] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            # the collection as a literal: the partial index records_code_item applies
            sql = ("SELECT doc FROM records WHERE collection = 'archive_codes' AND "
                   f"json_extract(doc, '$.item') IN ({','.join('?' * len(chunk))})")
            for (doc,) in self.db.execute(sql, chunk):
                d = json.loads(doc)
                out[d["item"]] = d["code"]
        return out

    # --- working state (issue 17) --------------------------------------------------------
    def put_working(self, key: str, doc: dict) -> None:
        # kept beside the records, under a collection no record may name
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO records VALUES (?, ?, ?)",
                       (WORKING, key, _dumps(doc)))

    def get_working(self, key: str) -> dict | None:
        row = self.db.execute("SELECT doc FROM records WHERE collection=? AND id=?",
                              (WORKING, key)).fetchone()
        return json.loads(row[0]) if row else None

    # --- ledger --------------------------------------------------------------------------
    def append_ledger(self, build: Callable[[LedgerEntry | None], LedgerEntry]) -> LedgerEntry:
        with self._write() as db:
            head = self._head(db)
            entry = build(head)
            if entry.seq != (head.seq + 1 if head else 1):
                raise InputError(N_("ledger entry {seq} does not follow the head"),
                                 seq=entry.seq)
            db.execute("INSERT INTO ledger VALUES (?,?,?,?,?,?,?,?,?,?)",
                       (entry.seq, entry.at, entry.actor, entry.action, entry.subject,
                        _dumps(entry.details), entry.prev_hash, entry.hash,
                        entry.actor_key_id, entry.actor_signature))
            return entry

    @staticmethod
    def _entry(row: tuple) -> LedgerEntry:
        return LedgerEntry(seq=row[0], at=row[1], actor=row[2], action=row[3], subject=row[4],
                           details=json.loads(row[5]), prev_hash=row[6], hash=row[7],
                           actor_key_id=row[8], actor_signature=row[9])

    def _head(self, db: sqlite3.Connection) -> LedgerEntry | None:
        row = db.execute("SELECT * FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
        return self._entry(row) if row else None

    def ledger_entries(self, start_seq: int = 1) -> Iterator[LedgerEntry]:
        cur = self.db.execute("SELECT * FROM ledger WHERE seq>=? ORDER BY seq", (start_seq,))
        for row in cur:
            yield self._entry(row)

    def ledger_head(self) -> LedgerEntry | None:
        return self._head(self.db)


def _next_seq(db: sqlite3.Connection) -> int:
    """The next change sequence number, inside the caller's write transaction: writers are
    serialised, so a number is only ever seen once its transaction has committed."""
    return db.execute("UPDATE stats SET value=value+1 WHERE key='change_seq' "
                      "RETURNING value").fetchone()[0]


def _statements(script: str) -> list[str]:
    """The statements of a script, for running them inside one transaction (executescript
    would commit first)."""
    out, part = [], ""
    for line in script.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        part += line
        if sqlite3.complete_statement(part):
            out.append(part.strip())
            part = ""
    return out


_CHUNK = 500  # items per insert statement in a batch: the packer's unit of work
_TERM_IDS = 200_000  # names whose ids a catalog remembers between batches (about 50 MB)
_CACHE_KIB = 262_144  # each connection's page cache
# Pages of 16 KiB, not SQLite's 4 KiB, for a new catalog. In random order a batch lands on
# nearly every leaf of every index ordered by time; with larger pages there are a quarter as
# many to find, fetch, mark and write. A million items in random order, the same items into
# fresh catalogs in one process: 7,281 items/s with 4 KiB, 7,632 with 8 KiB, 8,628 with
# 16 KiB (benchmarks/README.md, "Issue 17, 2026-12-03 (second session)"). A catalog made
# before keeps its pages: the size is fixed when the file is made, and changing it is a
# VACUUM outside WAL mode, which custody leaves to the operator (the same section says how).
_PAGE_BYTES = 16_384
# A bulk load (a rebuild's batch) touches pages all over every index: a batch's dirty pages
# kept in the cache until its commit, instead of spilt to the WAL midway and written again.
# Measured at 1,000,000 items in random order: SQLite's insert work 52 -> 42 µs per item
_BULK_CACHE_KIB = 1_048_576
_BULK_ITEMS = 5_000


@contextlib.contextmanager
def _bulk(db: sqlite3.Connection, n: int) -> Iterator[None]:
    """For the length of a large batch: a larger page cache, and no cyclic garbage
    collection. A batch's records are acyclic and freed as they are written; the caller's
    batch is many millions of objects, which each full collection walked (150,000 items in
    random order: 7,934 items/s with it, 8,693 without)."""
    if n < _BULK_ITEMS:
        yield
        return
    collecting = gc.isenabled()
    gc.disable()
    db.execute(f"PRAGMA cache_size=-{_BULK_CACHE_KIB}")
    try:
        yield
    finally:
        db.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
        if collecting:
            gc.enable()


# a new item's row (``_row``) and then its record; column dedupe_key is left NULL
_ROW_COLUMNS = ("rowid", "id", "sha256", "version", "kind", "status", "tier", "unit",
                "device_id", "case_id", "activity_id", "activity_type", "start_us", "end_us",
                "sort_us", "retain_until_us", "party_term", "cause_term", "dedupe", "seq",
                "object_key", "activity_key")
_START, _SORT = _ROW_COLUMNS.index("start_us"), _ROW_COLUMNS.index("sort_us")
_INSERT_ITEMS = (f"INSERT INTO items ({','.join(_ROW_COLUMNS)},doc) VALUES "
                 f"({','.join('?' * (len(_ROW_COLUMNS) + 1))})")


class _Packer:
    """Compresses a batch's records on a second thread, a chunk at a time, while the caller
    inserts the chunk before (``add_items``). Measured at 150,000 items in random order on
    two cores: a second thread running the inserts made the batch slower than one thread
    (6,300 against 7,900 items/s), since sqlite3 takes the GIL back at every row and waited
    at every row on the thread building records. Compressing needs the GIL once a chunk
    (``packing.compress_many``). Small batches (a single ingest) are packed inline."""

    def __init__(self, n: int) -> None:
        self.pool = ThreadPoolExecutor(1, "catalog-pack") if n > 2 * _CHUNK else None
        self.pending: list[Future] = []

    def __call__(self, texts: list[bytes]) -> Callable[[], list[bytes]]:
        """The chunk's packed records, when asked for."""
        if self.pool is None:
            packed = packing.compress_many(texts)
            return lambda: packed
        future = self.pool.submit(packing.compress_many, texts)
        self.pending.append(future)
        return future.result

    def __enter__(self) -> _Packer:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.pool is not None:
            for f in self.pending:
                f.cancel()
            self.pool.shutdown(wait=True)


def _insert(db: sqlite3.Connection, rows: list[tuple], packed: Callable[[], list[bytes]],
            officers: list[tuple], cases: list[tuple]) -> None:
    db.executemany(_INSERT_ITEMS, [row + (doc,) for row, doc in
                                   zip(rows, packed(), strict=True)])
    db.executemany("INSERT OR IGNORE INTO item_officers VALUES (?, ?, ?)", officers)
    db.executemany("INSERT OR IGNORE INTO item_cases VALUES (?, ?, ?)", cases)


class _Tx:
    """BEGIN IMMEDIATE ... COMMIT: takes the write lock up front, so read-then-write
    sequences (the ledger head, version numbers) cannot interleave between processes."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.db.execute("COMMIT")
        else:
            self.db.execute("ROLLBACK")
