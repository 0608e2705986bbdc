"""A new catalog from the WORM store alone.

Read from the store, each verified before it is believed: the signed metadata versions beside
every object (the items and their descriptions), the signed journal segments (item states,
the small records, the ledger entries, ``archive.journal``), the signed ledger checkpoints
(checked against the rebuilt ledger), and the signed destruction registers (tombstones).
Anything that does not verify is reported with its key and left out; nothing in the store is
changed. The target catalog must be empty: a rebuild never merges into a live catalog.

Two stations that archive the same bytes with the same description at the same moment both
sign a first metadata version before either catalogs it; the catalog keeps one item and the
other version stays in the store (write-once). That version is evidence of the race, not an
orphan and not an error: the rebuild names it as superseded, with the item that won, and
rebuilds that item once.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from archive.catalog.base import RECORD_COLLECTIONS, Catalog, Query
from archive.domain.errors import DuplicateItem, InputError
from archive.domain.model import (
    Item,
    LedgerEntry,
    MetadataVersion,
    ObjectRecord,
    StoredVersion,
    dedupe_key,
    iso,
)
from archive.integrity.signing import Keyring
from archive.ledger.chain import Ledger
from archive.ledger.journal import JOURNAL_PREFIX, WATERMARK
from archive.passkeys import records as passkey_records
from archive.people import person_keyrings
from archive.service import Archive
from archive.worm.base import WormStore
from i18n import N_, Text, localize

REGISTER_PREFIX = "registers/destruction/"
# items (and objects) per catalog write: about 0.6 GB of items in memory at once. A larger
# batch rewrites each index page for more items (catalog_bench.py measures this size)
BATCH = 50_000


@dataclass
class RebuildReport:
    items: int = 0
    versions: int = 0
    objects: int = 0
    records: int = 0
    ledger_entries: int = 0
    segments: int = 0
    states_from_journal: int = 0
    states_from_store: int = 0
    problems: list[dict] = field(default_factory=list)
    superseded: list[dict] = field(default_factory=list)
    ledger_ok: bool | None = None

    def problem(self, code: str, key: str, message: str | Text) -> None:
        """``message`` in English (the report's JSON), ``text`` in the reader's language."""
        self.problems.append({"code": code, "key": key, "message": str(message),
                              "text": localize(message)})

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _segments(store: WormStore, keys: Keyring, report: RebuildReport) -> list[dict]:
    out = []
    for key, vid, _size in sorted(store.list_keys(JOURNAL_PREFIX)):
        try:
            signed = json.loads(store.read_bytes(key, vid))
            body = signed["segment"]
            ok = keys.verify(body, signed["key_id"], signed["signature"])
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            report.problem("bad-segment", key, Text(N_(
                "journal segment unreadable or its signature does not verify against the "
                "archive keys; left out")))
            continue
        out.append(body)
    report.segments = len(out)
    return out


def _manifests(archive: Archive, report: RebuildReport
               ) -> tuple[dict[str, list[tuple[MetadataVersion, dict]]], dict[str, tuple]]:
    """Every signed metadata version by item, and the object versions by SHA-256."""
    store = archive.store
    by_item: dict[str, list[tuple[MetadataVersion, dict]]] = defaultdict(list)
    objects: dict[str, tuple] = {}
    for key, vid, size in store.list_keys("objects/"):
        if ".meta/" not in key:
            sha = key.rsplit("/", 1)[1]
            objects.setdefault(sha, (key, vid, size))  # the first version; a restore's
            continue                                    # choice comes from the journal
        version = archive.read_manifest(key, vid)
        if version is None:
            report.problem("bad-metadata", key, Text(N_(
                "metadata version unreadable or not signed by an archive key; left out")))
            continue
        by_item[version.item_id].append((version, {"key": key, "version_id": vid,
                                                   "version": version.version}))
    return by_item, objects


def _first(versions: list[tuple[MetadataVersion, dict]]) -> MetadataVersion:
    return min(versions, key=lambda p: p[0].version)[0]


def _drop_superseded(by_item: dict[str, list[tuple[MetadataVersion, dict]]],
                     states: dict[str, dict], ledger: dict[int, dict],
                     report: RebuildReport) -> None:
    """One item per bytes and description, as the catalog itself keeps it. Of the items whose
    first signed versions share that pair, the one the catalog had is rebuilt: the one with a
    journal state, else one a ledger entry names, else the first signed (a catalog lost with
    its journal leaves no other evidence, and the two descriptions are the same). The others
    are left out and named as superseded, with the item that won."""
    named = {e.get("subject") for e in ledger.values()}
    groups: dict[str, list[str]] = defaultdict(list)
    for item_id, versions in by_item.items():
        first = _first(versions)
        if first.version == 1:
            groups[dedupe_key(first.digests.sha256, first.description)].append(item_id)

    def evidence(item_id: str) -> tuple:
        first = _first(by_item[item_id])
        return (item_id not in states, item_id not in named, -len(by_item[item_id]),
                first.created_at, item_id)

    for ids in groups.values():
        if len(ids) < 2:
            continue
        winner, *others = sorted(ids, key=evidence)
        for other in others:
            # a race's loser was never catalogued: no state, no entry, never corrected
            if other in states or other in named or len(by_item[other]) > 1:
                report.problem("duplicate-item", other, Text(N_(
                    "item {item} describes the same bytes with the same metadata as item "
                    "{winner}, and both were catalogued; left out"), item=other, winner=winner))
                by_item.pop(other)
                continue
            version, ref = by_item.pop(other)[0]
            report.superseded.append({
                "item": other, "superseded_by": winner, "key": ref["key"],
                "version_id": ref["version_id"], "version": version.version,
                "created_at": iso(version.created_at)})
    report.superseded.sort(key=lambda s: s["key"])


def rebuild(archive: Archive, target: Catalog,
            progress: Callable[[int], None] | None = None) -> RebuildReport:
    """Build ``target`` (empty) from ``archive.store``; ``archive.catalog`` is not read."""
    if target.ledger_head() is not None or target.count(Query()) > 0:
        raise InputError(N_("the target catalog {catalog} is not empty; a rebuild never "
                            "merges into a live catalog"), subject=target.endpoint,
                         catalog=target.endpoint)
    report = RebuildReport()
    store = archive.store
    segments = _segments(store, archive.archive_keys, report)
    states: dict[str, dict] = {}
    records: dict[tuple[str, str], dict] = {}
    ledger: dict[int, dict] = {}
    for body in segments:
        for rec in body["items"]:
            states[rec["id"]] = rec
        for r in body["records"]:
            records[(r["collection"], r["id"])] = r["doc"]
        for e in body["ledger"]:
            ledger.setdefault(e["seq"], e)
    by_item, objects = _manifests(archive, report)
    _drop_superseded(by_item, states, ledger, report)
    for state in states.values():  # after a restore the item names its good version
        obj = state.get("storage", {}).get("object") or {}
        sha = state.get("sha256")
        if sha in objects and obj.get("version_id") and obj["version_id"] != objects[sha][1]:
            sizes = {v: n for k, v, n in store.list_keys(obj["key"]) if k == obj["key"]}
            if obj["version_id"] in sizes:
                objects[sha] = (obj["key"], obj["version_id"], sizes[obj["version_id"]])

    saved_journal, target.journal = target.journal, None  # a rebuild is not a change
    try:
        # the versions naming each object, gathered once: looked up per object, a million
        # items made this loop quadratic
        naming: dict[str, list[MetadataVersion]] = defaultdict(list)
        for vs in by_item.values():
            for v, _ in vs:
                naming[v.digests.sha256].append(v)
        found: list[ObjectRecord] = []
        for sha, (key, vid, size) in sorted(objects.items()):
            versions = naming.get(sha)
            if not versions:
                report.problem("orphan-object", key, Text(N_(
                    "no signed metadata version names these bytes; left for reconcile")))
                continue
            stored = StoredVersion(store.backend, store.location, key, vid, size,
                                   store.lock(key, vid))
            found.append(ObjectRecord(versions[0].digests, stored,
                                      min(v.created_at for v in versions)))
            if len(found) == BATCH:
                report.objects += target.add_objects(found)
                found = []
        report.objects += target.add_objects(found)
        batch = _Batch(archive, target, states, objects, report, progress)
        for item_id in sorted(by_item):
            batch.add(item_id, sorted(by_item[item_id], key=lambda p: p[0].version))
        batch.flush()
        for (collection, record_id), doc in sorted(records.items()):
            if collection in RECORD_COLLECTIONS and (collection, record_id) != WATERMARK:
                target.put_record(collection, record_id, doc)
                report.records += 1
        _tombstones(archive, target, records, report)
        _ledger(target, ledger, report)
        # passkeys and console keys are in the ledger: those no segment carried come back
        for record_id, doc in passkey_records.from_ledger(target.ledger_entries()).items():
            if target.get_record("meta", record_id) is None:
                target.put_record("meta", record_id, doc)
                report.records += 1
    finally:
        target.journal = saved_journal
    rebuilt = Ledger(target, store, archive.key, archive.checkpoint_years)
    verdict = rebuilt.verify(archive.archive_keys,
                             person_keyrings(target, archive.archive_keys))
    report.ledger_ok = verdict.ok
    for p in verdict.problems:
        report.problem(f"ledger-{p.code}", str(p.seq), p.message)
    return report


def rebuild_catalog(archive: Archive, progress: Callable[[int], None] | None = None) -> dict:
    """custody rebuild-catalog: ``archive.catalog`` (empty) built from ``archive.store`` alone
    (``bootstrap.open_rebuild`` puts them together), then closed; the report, with what was
    rebuilt from where."""
    target = archive.catalog
    try:
        report = rebuild(archive, target, progress=progress)
    finally:
        target.close()
    return report.to_dict() | {"catalog": target.endpoint, "store": archive.store.describe()}


class _Batch:
    """Items written a batch at a time, in item id order (ingest time: the catalog's indexes
    grow at their ends). An item with one signed version, the most of an archive, goes in
    whole with its state in one ``add_items``; an item with several versions is written
    version by version, as it was signed. Of a batch the catalog refuses, each item not
    written already is written alone, as it was built (no second read of the store), so the
    one at fault is named and the rest is rebuilt."""

    def __init__(self, archive: Archive, target: Catalog, states: dict[str, dict],
                 objects: dict, report: RebuildReport,
                 progress: Callable[[int], None] | None) -> None:
        self.archive, self.target, self.states = archive, target, states
        self.objects, self.report, self.progress = objects, report, progress
        self.pending: list[Item] = []

    def add(self, item_id: str, versions: list[tuple[MetadataVersion, dict]]) -> None:
        if len(versions) > 1:
            try:
                _rebuild_item(self.archive, self.target, item_id, versions,
                              self.states.get(item_id), self.objects, self.report)
            except DuplicateItem as dup:
                self._refused(item_id, dup)
            return
        self.pending.append(_item_state(self.archive, item_id, versions,
                                        self.states.get(item_id), self.objects, self.report))
        if len(self.pending) == BATCH:
            self.flush()

    def flush(self) -> None:
        pending, self.pending = self.pending, []
        if not pending:
            return
        try:
            self.target.add_items(pending)
        except (DuplicateItem, InputError):
            # each alone, as built: MongoDB keeps a batch's items up to the one it refuses
            for item in pending:
                if self.target.get_item(item.id) is not None:
                    self._done(1)
                    continue
                try:
                    self.target.add_items([item])
                except DuplicateItem as dup:
                    self._refused(item.id, dup)
                    continue
                self._done(1)
            return
        self._done(len(pending))

    def _done(self, n: int) -> None:
        """``n`` one-version items written whole."""
        self.report.items += n
        self.report.versions += n
        if self.progress:
            self.progress(n)

    def _refused(self, item_id: str, dup: DuplicateItem) -> None:
        # whatever the store holds, the rest is rebuilt
        self.report.problem("duplicate-item", item_id, Text(N_(
            "item {item}: {reason}; left out"), item=item_id, reason=dup.text))
        if self.progress:
            self.progress(1)


def _item_state(archive: Archive, item_id: str,
                versions: list[tuple[MetadataVersion, dict]], state: dict | None,
                objects: dict, report: RebuildReport) -> Item:
    """The item as its journal state says, when that state carries the latest signed
    version; else as the store alone says."""
    numbers = [v.version for v, _ in versions]
    first, _ = versions[0]
    sha = first.digests.sha256
    if numbers != list(range(1, len(numbers) + 1)):
        report.problem("version-gap", item_id, Text(N_(
            "metadata versions {numbers} of item {item} are not 1..n; the missing ones are not "
            "in the store"), numbers=numbers, item=item_id))
    if sha not in objects:
        report.problem("object-missing", item_id, Text(N_(
            "the object {sha256} of item {item} is not in the store (destroyed or lost); the "
            "item is kept with its metadata"), sha256=sha, item=item_id))
    if state is not None and state["current"] == versions[-1][0].to_dict():
        report.states_from_journal += 1
        return Item.from_record(state)
    if state is not None:
        report.problem("stale-state", item_id, Text(N_(
            "the journal's state of this item does not match its latest signed metadata "
            "version; rebuilt from the store")))
    report.states_from_store += 1
    return _state_from_store(archive.store, item_id, versions, objects)


def _rebuild_item(archive: Archive, target: Catalog, item_id: str,
                  versions: list[tuple[MetadataVersion, dict]], state: dict | None,
                  objects: dict, report: RebuildReport) -> None:
    """One item, version by version, each in its own write."""
    first, _ = versions[0]
    item = _item_state(archive, item_id, versions, state, objects, report)
    current = item.current
    item.current = first
    target.add_items([item])
    for version, _ref in versions[1:]:
        target.add_version(item_id, version, item.status)
    item.current = current if current.version == versions[-1][0].version else versions[-1][0]
    target.save_state(item)
    report.items += 1
    report.versions += len(versions)


def _state_from_store(store: WormStore, item_id: str,
                      versions: list[tuple[MetadataVersion, dict]], objects: dict) -> Item:
    """What the store itself says of an item the journal does not know: its lock and its
    signed descriptions. Retention reasons and checks are not in the store; they show as
    empty, and a 'retention run' recomputes what the rules require."""
    first, _ = versions[0]
    last, _ = versions[-1]
    sha = first.digests.sha256
    storage: dict = {"manifests": [ref for _v, ref in versions]}
    lock = None
    if sha in objects:
        key, vid, size = objects[sha]
        lock = store.lock(key, vid)
        storage["object"] = StoredVersion(store.backend, store.location, key, vid, size,
                                          lock).to_dict()
    status = "pending-metadata" if last.description.missing() else "archived"
    if sha not in objects:
        status = "attention"
    return Item(id=item_id, sha256=sha, current=last, ingested_at=first.created_at,
                status=status, retain_until=lock.retain_until if lock else None,
                legal_hold=lock.legal_hold if lock else False, storage=storage,
                dedupe=dedupe_key(sha, first.description),
                events=[{"type": "catalog rebuild", "agent": "custody", "outcome": "success",
                         "detail": "state rebuilt from the WORM store"}])


def _tombstones(archive: Archive, target: Catalog, records: dict, report: RebuildReport) -> None:
    """Destruction registers name what was destroyed; a tombstone the journal lacks is made
    from the register (signed by the archive)."""
    store = archive.store
    for key, vid, _ in store.list_keys(REGISTER_PREFIX):
        try:
            signed = json.loads(store.read_bytes(key, vid))
            body = signed["register"]
            sig = signed["archive_signature"]
            ok = archive.archive_keys.verify(body, sig["key_id"], sig["signature"])
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            report.problem("bad-register", key, Text(N_(
                "destruction register unreadable or unsigned")))
            continue
        for tomb in body.get("destroyed", []):
            if ("tombstones", tomb["id"]) not in records:
                target.put_record("tombstones", tomb["id"], tomb)
                report.records += 1


def _ledger(target: Catalog, ledger: dict[int, dict], report: RebuildReport) -> None:
    seq = 1
    while seq in ledger:
        entry = LedgerEntry.from_dict(ledger[seq])
        target.append_ledger(lambda _head, e=entry: e)
        report.ledger_entries += 1
        seq += 1
    missing = [s for s in ledger if s >= seq]
    if missing:
        report.problem("ledger-gap", str(seq), Text(N_(
            "ledger entry {seq} is in no journal segment; {later} later entries could not be "
            "chained and were left out"), seq=seq, later=len(missing)))
