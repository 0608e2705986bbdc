"""The archive service: the operations the command line and the other packages call.

It receives its adapters (catalog, WORM store, keys); it never prints.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from archive.catalog.base import Catalog, Page, Query
from archive.catalog.consistency import check_catalog
from archive.domain.canonical import canonical
from archive.domain.errors import (
    CustodyError,
    DuplicateItem,
    InputError,
    LockNotConfirmed,
    NotFound,
    WormViolation,
)
from archive.domain.ids import uuid7
from archive.domain.model import (
    Description,
    Digests,
    Item,
    Lock,
    MetadataVersion,
    ObjectRecord,
    StoredVersion,
    dedupe_key,
    iso,
    status_after_version,
)
from archive.failpoints import crash_point
from archive.integrity.fixity import StreamDigests, digest_chunks
from archive.integrity.signing import Keyring, SigningKey, public_pem
from archive.ledger.chain import LOCK_HORIZON_YEARS, Actor, Ledger, LedgerReport
from archive.ledger.journal import Journal
from archive.ledger.journal import flush as flush_journal
from archive.people import person_keyrings
from archive.worm.base import WormStore, metadata_key, object_key
from i18n import N_, Text, localize

ARCHIVE_KEYS_PREFIX = "keys/archive/"
JOURNAL_BATCH = 2000  # item states held before a journal segment is written mid-command


def _now() -> datetime:
    return datetime.now(timezone.utc)


def problem(code: str, key: str | None, message: Text) -> dict:
    """A problem as ``show`` reports it: ``message`` in English for machines and logs, ``text``
    in the reader's language beside it."""
    return {"code": code, "key": key, "message": str(message), "text": localize(message)}


def event(kind: str, actor: str, outcome: str, **detail: object) -> dict:
    """A PREMIS-style event: what, when, who, outcome."""
    return {"type": kind, "at": iso(_now()), "agent": actor, "outcome": outcome, **detail}


@dataclass
class Archived:
    item: Item
    duplicate: bool  # True: these bytes with this description were already an item


class Archive:
    def __init__(self, catalog: Catalog, store: WormStore, archive_key: SigningKey,
                 archive_keys: Keyring, checkpoint_years: int = LOCK_HORIZON_YEARS,
                 replica: WormStore | None = None,
                 second_copy: Callable[[Archive, WormStore, Item, Actor], None] | None = None
                 ) -> None:
        self.catalog = catalog
        self.store = store
        # [replica] write_on_ingest: new items get their second copy, written by the copier
        # that the wiring gives (archive.copies.replica.copy_item)
        self.replica = replica
        self.second_copy = second_copy
        self.key = archive_key
        self.archive_keys = archive_keys
        self.ledger = Ledger(catalog, store, archive_key, checkpoint_years)
        self.checkpoint_years = checkpoint_years
        self.journal = Journal()
        catalog.journal = self.journal

    # --- keys ----------------------------------------------------------------------------
    def publish_key(self, years: int | None = None) -> str:
        """Put the archive's public key in the WORM store, so signatures verify without the
        catalog or this machine. Once per key. Locked as the ledger's checkpoints are (the
        lock horizon, ``checkpoint_years``) and renewed with them by 'retention run'."""
        key = ARCHIVE_KEYS_PREFIX + self.key.key_id.split(":", 1)[1] + ".pem"
        if not self.store.versions(key):
            days = 366 * (self.checkpoint_years if years is None else years)
            until = _now().replace(microsecond=0) + timedelta(days=days)
            self.store.put_blob(key, public_pem(self.key.public).encode(), until)
        return key

    # --- archiving -----------------------------------------------------------------------
    def archive_stream(self, chunks: Iterable[bytes], description: Description, actor: Actor,
                       retain_until: datetime, legal_hold: bool = False,
                       before_commit: Callable[[Digests], None] | None = None,
                       checks: dict | None = None, status: str | None = None,
                       complete: Callable[[Item], None] | None = None,
                       ingested_at: datetime | None = None) -> Archived:
        """Stream bytes once into the store (digests on the way), lock them, sign the
        description beside them, catalog the item and record it in the ledger.

        ``before_commit`` sees the digests before anything becomes a locked object and may
        raise to abort (the virus verdict); nothing is left behind then. ``complete`` sees the
        new item (its digests, signed version and confirmed lock known) just before it is
        catalogued, and adds what the caller judged (checks, events): the item is written
        once, with everything. It is not called for a duplicate. Safe to repeat after a crash
        at any step: the object, a signed manifest already written, and an item already
        catalogued are each recognised and taken up, never duplicated.

        ``ingested_at`` is the time ``retain_until`` was counted from (the rules count from
        the later of recorded end and ingest), recorded on the item exactly: taking a later
        "now" after the upload would make every lock end before its rule (lock-short).
        Without it, the time this call starts.
        """
        ingested_at = ingested_at or _now()
        pending = self.store.begin_object(retain_until, legal_hold)
        with pending:
            digests = StreamDigests()
            for n, chunk in enumerate(chunks):
                digests.update(chunk)
                pending.write(chunk)
                if n == 0:
                    crash_point("part-upload")
            d = digests.finish()
            if before_commit is not None:
                before_commit(d)
            crash_point("upload-completion")
            stored = pending.commit(d.sha256, d.size)
        crash_point("lock-confirmation")
        lock = self._ensure_lock(stored, retain_until, legal_hold)
        if not self.catalog.add_object(ObjectRecord(d, stored, _now())):
            self.catalog.update_object_lock(d.sha256, lock)
        stored_dict = stored.to_dict() | {"lock": lock.to_dict()}

        dedupe = dedupe_key(d.sha256, description)
        existing = self.catalog.item_by_dedupe(dedupe)
        if existing is not None:
            return self._duplicate(existing, description, actor)
        version, manifest = self._adoptable_manifest(d, dedupe)
        if manifest is not None:  # signed by a run that died; its lock counted from then
            self._ensure_lock(StoredVersion(self.store.backend, self.store.location,
                                            manifest["key"], manifest["version_id"], 0,
                                            self.store.lock(manifest["key"],
                                                            manifest["version_id"])),
                              retain_until, legal_hold)
        if version is None:
            version = self.sign_version(MetadataVersion(
                item_id=uuid7(), version=1, description=description, digests=d,
                created_at=_now(), created_by=actor.person_id, reason="ingest"))
            manifest = self.store_version(version, retain_until, legal_hold)
        crash_point("catalog-write")
        if status is None:
            status = "pending-metadata" if description.missing() else "archived"
        item = Item(id=version.item_id, sha256=d.sha256, current=version,
                    ingested_at=ingested_at,
                    status=status, retain_until=retain_until, legal_hold=legal_hold,
                    storage={"object": stored_dict, "manifests": [manifest]},
                    checks=dict(checks or {}), dedupe=dedupe,
                    events=[event("message digest calculation", actor.person_id, "success",
                                  sha256=d.sha256, sm3=d.sm3, size=d.size),
                            event("ingestion", actor.person_id, "success")])
        if complete is not None:
            complete(item)
        try:
            self.catalog.add_item(item)
        except DuplicateItem as dup:  # another process archived the same just now
            return self._duplicate(self.item(dup.existing_id), description, actor)
        crash_point("ledger-append")
        self._record_ingestion(item, actor)
        self._second_copy(item, actor)
        if len(self.journal.items) >= JOURNAL_BATCH:  # a long ingest: memory stays bounded
            flush_journal(self.journal, self.catalog, self.store, self.key,
                          self.checkpoint_years)
        return Archived(item, False)

    def _second_copy(self, item: Item, actor: Actor) -> None:
        """With a replica to write on ingest: copy the locked object and its signed metadata
        there. A failure is an event on the item, never an error: the primary copy is the
        archive, and 'custody replicate' catches up."""
        if self.replica is not None and self.second_copy is not None:
            self.second_copy(self, self.replica, item, actor)

    def _ensure_lock(self, stored: StoredVersion, retain_until: datetime,
                     legal_hold: bool) -> Lock:
        """The object may have been stored before with a weaker lock: raise it, never lower."""
        lock = stored.lock
        for attempt in range(3):
            try:
                if lock.retain_until is None or lock.retain_until < retain_until:
                    lock = self.store.extend_retention(stored.key, stored.version_id,
                                                       retain_until)
                if legal_hold and not lock.legal_hold:
                    lock = self.store.set_legal_hold(stored.key, stored.version_id, True)
                break
            except (WormViolation, LockNotConfirmed):
                # a second station raising the same object's lock at the same moment (its
                # own date a little later): read the lock again, raise it only if still short
                if attempt == 2:
                    raise
                lock = self.store.lock(stored.key, stored.version_id)
        if not lock.covers(retain_until, legal_hold):
            raise LockNotConfirmed(N_("{key}: lock not confirmed"), subject=stored.key,
                                   key=stored.key)
        return lock

    def _adoptable_manifest(self, d: Digests, dedupe: str
                            ) -> tuple[MetadataVersion | None, dict | None]:
        """A signed first version for these bytes and this description that an interrupted
        run stored before it could catalog it: take it up instead of signing another."""
        prefix = object_key(d.sha256) + ".meta/"
        for key, version_id, _size in self.store.list_keys(prefix):
            if not key.endswith("/v0001.json"):
                continue
            version = self.read_manifest(key, version_id)
            if (version is not None and version.digests == d
                    and dedupe_key(d.sha256, version.description) == dedupe
                    and self.catalog.get_item(version.item_id) is None):
                return version, {"key": key, "version_id": version_id, "version": 1}
        return None, None

    def read_manifest(self, key: str, version_id: str) -> MetadataVersion | None:
        """A stored metadata version, or None unless its archive signature verifies."""
        try:
            doc = json.loads(self.store.read_bytes(key, version_id))
            version = MetadataVersion.from_dict(doc)
        except (ValueError, KeyError, TypeError, InputError):
            return None
        if not self.archive_keys.verify(doc["manifest"], version.key_id, version.signature):
            return None
        return version

    def _duplicate(self, existing: Item, description: Description, actor: Actor) -> Archived:
        existing.events.append(event("duplicate", actor.person_id, "same bytes and metadata "
                                     "already archived", source=description.source))
        self.catalog.save_state(existing)
        if "ledger_seq" not in existing.storage:  # the run that catalogued it died before this
            self._record_ingestion(existing, actor)
        self.ledger.append(actor, "duplicate", existing.id,
                           {"sha256": existing.sha256, "source": description.source})
        return Archived(existing, True)

    def _record_ingestion(self, item: Item, actor: Actor) -> None:
        entry = self.ledger.append(actor, "ingestion", item.id,
                                   {"sha256": item.sha256,
                                    "size": item.current.digests.size,
                                    "version": item.version, "status": item.status,
                                    "manifest": item.storage["manifests"][0]["key"]})
        item.storage["ledger_seq"] = entry.seq
        self.catalog.save_state(item)

    def correct(self, item_id: str, description: Description, actor: Actor, reason: str,
                retain_until: datetime | None = None) -> Item:
        """A new signed metadata version (never an edit): stored beside the object, then
        catalogued and recorded. The object's lock is raised where the new description needs
        more (a case now named: legal hold), never lowered."""
        item = self.item(item_id)
        if description.to_dict() == item.description.to_dict():
            raise InputError(N_("item {item}: the correction changes nothing"), subject=item_id,
                             item=item_id)
        version = self.sign_version(MetadataVersion(
            item_id=item_id, version=item.version + 1, description=description,
            digests=item.current.digests, created_at=_now(), created_by=actor.person_id,
            reason=reason))
        obj = item.storage["object"]
        hold = item.legal_hold or description.case_id is not None
        until = max(filter(None, (item.retain_until, retain_until)))
        stored = StoredVersion(obj["backend"], obj["location"], obj["key"], obj["version_id"],
                               obj["size"], self.store.lock(obj["key"], obj["version_id"]))
        lock = self._ensure_lock(stored, until, hold)
        manifest = self.store_version(version, until, hold)
        status = status_after_version(description, item.status, item.checks)
        updated = self.catalog.add_version(item_id, version, status)
        updated.retain_until, updated.legal_hold = until, hold
        updated.storage["manifests"].append(manifest)
        updated.storage["object"]["lock"] = lock.to_dict()
        updated.events.append(event("metadata modification", actor.person_id, "success",
                                    version=version.version, reason=reason))
        self.catalog.save_state(updated)
        self.catalog.update_object_lock(item.sha256, lock)
        self.ledger.append(actor, "metadata-version", item_id,
                           {"version": version.version, "reason": reason,
                            "manifest": manifest["key"], "status": status})
        self._second_copy(updated, actor)
        return updated

    def sign_version(self, version: MetadataVersion) -> MetadataVersion:
        version.key_id = self.key.key_id
        version.signature = self.key.sign(version.manifest())
        return version

    def store_version(self, version: MetadataVersion, retain_until: datetime,
                      legal_hold: bool) -> dict:
        key = metadata_key(version.digests.sha256, version.item_id, version.version)
        stored = self.store.put_blob(key, canonical(version.to_dict()), retain_until,
                                     legal_hold)
        return {"key": key, "version_id": stored.version_id, "version": version.version}

    # --- reading -------------------------------------------------------------------------
    def item(self, item_id: str) -> Item:
        item = self.catalog.get_item(item_id)
        if item is None:
            raise NotFound(N_("no item {item!r}"), subject=item_id, item=item_id)
        return item

    def show(self, item_id: str, read_lock: bool = False) -> dict:
        """Everything held about one item. With ``read_lock`` its object's lock is read from
        the store; an object missing from the store (or a lock that cannot be read) is named
        in ``problems``, with everything else still shown."""
        item = self.item(item_id)
        out = item.to_dict()
        out["versions"] = [v.to_dict() for v in self.catalog.versions(item_id)]
        out["signature_valid"] = self.archive_keys.verify(
            item.current.manifest(), item.current.key_id, item.current.signature)
        out["problems"] = []
        if read_lock:
            out["lock_in_store"] = None
            obj = item.storage.get("object") or {}
            if not obj.get("key"):
                out["problems"].append(problem("object-missing", None, Text(
                    "item {item} names no stored object", item=item_id)))
            else:
                try:
                    lock = self.store.lock(obj["key"], obj["version_id"])
                    out["lock_in_store"] = lock.to_dict()
                except NotFound:
                    out["problems"].append(problem("object-missing", obj["key"], Text(
                        "the object {key} (version {version}) is not in the store",
                        key=obj["key"], version=obj["version_id"])))
                except CustodyError as exc:
                    out["problems"].append(problem("lock-unreadable", obj["key"], Text(
                        "the lock of {key} cannot be read: {reason}", key=obj["key"],
                        reason=exc.text)))
        return out

    def search(self, query: Query, limit: int = 50, cursor: str | None = None) -> Page:
        return self.catalog.search(query, limit, cursor)

    def fixity(self, item_id: str) -> dict:
        """Read the object back from the store and compare its digests and signature."""
        item = self.item(item_id)
        obj = item.storage["object"]
        got = digest_chunks(self.store.read(obj["key"], obj["version_id"]))
        want = item.current.digests
        return {"item": item_id, "digests_match": got == want,
                "signature_valid": self.archive_keys.verify(
                    item.current.manifest(), item.current.key_id, item.current.signature),
                "read": got.to_dict(), "expected": want.to_dict()}

    # --- the ledger ----------------------------------------------------------------------
    def verify_ledger(self) -> LedgerReport:
        return self.ledger.verify(self.archive_keys,
                                  person_keyrings(self.catalog, self.archive_keys))

    def audit(self, progress: Callable[[int], None] | None = None) -> dict:
        """custody audit verify: the ledger (chain, signatures, checkpoints), and every
        item's search and lot fields in the catalog's index against its signed metadata
        version (``archive.catalog.consistency``). ``ok`` only when both are sound."""
        ledger = self.verify_ledger()
        index = check_catalog(self.catalog, self.archive_keys, progress)
        return ledger.to_dict() | {"ok": ledger.ok and not index["problems"],
                                   "ledger_ok": ledger.ok, "items_checked": index["items"],
                                   "index_problems": index["problems"]}

    def finish_command(self) -> dict | None:
        """End of every command: the catalog changes and ledger entries as a signed journal
        segment, and a signed checkpoint of the head, in the WORM store."""
        checkpoint = self.ledger.checkpoint() if self.ledger.appended else None
        flush_journal(self.journal, self.catalog, self.store, self.key,
                      self.checkpoint_years)
        return checkpoint
