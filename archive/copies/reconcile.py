"""Reconcile the catalog with the WORM store after an interruption.

The store is the source of truth. An object with no item is adopted only if a metadata
version signed by the archive sits beside it and the bytes read back with its digests;
otherwise it is reported (it stays locked: nothing here deletes). Items whose ingestion never
reached the ledger get their entry. Unfinished uploads of writers that are gone are removed
(they were never objects).

A first metadata version whose bytes and description are already another item is what two
stations archiving the same offload at the same moment leave: both signed a description
before either catalogued it, and the catalog kept one. It is evidence of that race, kept
write-once like everything else, and reported as superseded by the item that won: not an
orphan, not adopted.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

from archive.catalog.base import Query
from archive.domain.errors import DuplicateItem
from archive.domain.model import (
    Item,
    MetadataVersion,
    ObjectRecord,
    StoredVersion,
    dedupe_key,
    iso,
    status_after_version,
)
from archive.integrity.fixity import digest_chunks
from archive.ledger.chain import Actor
from archive.service import Archive, event
from i18n import N_, Text, localize


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner_pid(name: str) -> int | None:
    head = name.split("-", 1)[0]
    return int(head) if head.isdigit() else None


def _why(reason: Text) -> dict:
    """``reason`` in English (the report's JSON), ``text`` in the reader's language."""
    return {"reason": str(reason), "text": localize(reason)}


def reconcile(archive: Archive, actor: Actor, discard_pending: bool = False) -> dict:
    report: dict = {"adopted": [], "versions_adopted": [], "superseded": [], "orphans": [],
                    "ledger_recovered": [], "pending_discarded": [], "pending_kept": []}
    store, catalog = archive.store, archive.catalog
    objects = [(k, v) for k, v, _ in store.list_keys("objects/") if ".meta/" not in k]
    for key, version_id in objects:
        sha = key.rsplit("/", 1)[1]
        manifests = sorted((k, v) for k, v, _ in store.list_keys(key + ".meta/"))
        adopted_here = False
        for mkey, mvid in manifests:
            version = archive.read_manifest(mkey, mvid)
            if version is None:
                report["orphans"].append({"key": mkey} | _why(Text(N_(
                    "metadata version unreadable or not signed by an archive key"))))
                continue
            if version.digests.sha256 != sha:
                report["orphans"].append({"key": mkey} | _why(Text(N_(
                    "a signed metadata version of other bytes than the object it lies "
                    "beside"))))
                continue
            existing = catalog.get_item(version.item_id)
            ref = {"key": mkey, "version_id": mvid, "version": version.version}
            if existing is None and version.version == 1:
                winner = catalog.item_by_dedupe(dedupe_key(sha, version.description))
                if winner is not None:  # checked before reading the bytes: nothing to adopt
                    _superseded(report, ref, version, winner.id)
                elif _adopt(archive, actor, key, version_id, version, ref, report):
                    adopted_here = True
            elif existing is not None and version.version == existing.version + 1:
                updated = catalog.add_version(existing.id, version, status_after_version(
                    version.description, existing.status, existing.checks))
                updated.storage["manifests"].append(ref)
                catalog.save_state(updated)
                archive.ledger.append(actor, "metadata-version", existing.id,
                                      {"version": version.version, "recovered": True})
                report["versions_adopted"].append({"item": existing.id,
                                                   "version": version.version})
        if not adopted_here and not catalog.items_of_object(sha):
            report["orphans"].append({"key": key} | _why(Text(N_(
                "no item and no adoptable signed metadata version beside it; it stays "
                "locked"))))
    for item in list(catalog.iter_items(Query())):
        if "ledger_seq" not in item.storage:
            entry = archive.ledger.append(actor, "ingestion", item.id,
                                          {"sha256": item.sha256, "recovered": True})
            item.storage["ledger_seq"] = entry.seq
            catalog.save_state(item)
            report["ledger_recovered"].append(item.id)
    for name in store.pending():
        pid = _owner_pid(name)
        if discard_pending or (pid is not None and not _alive(pid)):
            store.discard_pending(name)
            report["pending_discarded"].append(name)
        else:
            report["pending_kept"].append(name)
    return report


def _superseded(report: dict, ref: dict, version: MetadataVersion, winner: str) -> None:
    report["superseded"].append({
        "key": ref["key"], "version_id": ref["version_id"], "item": version.item_id,
        "superseded_by": winner, "created_at": iso(version.created_at)} | _why(Text(N_(
            "the same bytes and description are already item {winner}: a second station "
            "signed them at the same moment; kept as evidence of the race"), winner=winner)))


def _adopt(archive: Archive, actor: Actor, key: str, version_id: str,
           version: MetadataVersion, ref: dict, report: dict) -> bool:
    store, catalog = archive.store, archive.catalog
    got = digest_chunks(store.read(key, version_id))
    if got != version.digests:
        report["orphans"].append({"key": ref["key"]} | _why(Text(N_(
            "the object's bytes do not match its signed metadata"))))
        return False
    dedupe = dedupe_key(got.sha256, version.description)
    winner = catalog.item_by_dedupe(dedupe)
    if winner is not None:  # catalogued by an ingest running beside this reconcile
        _superseded(report, ref, version, winner.id)
        return False
    lock = store.lock(key, version_id)
    stored = StoredVersion(store.backend, store.location, key, version_id, got.size, lock)
    now = datetime.now(timezone.utc)
    catalog.add_object(ObjectRecord(got, stored, now))
    item = Item(id=version.item_id, sha256=got.sha256, current=version, ingested_at=now,
                status="pending-metadata" if version.description.missing() else "archived",
                retain_until=lock.retain_until, legal_hold=lock.legal_hold,
                storage={"object": stored.to_dict(), "manifests": [ref]}, dedupe=dedupe,
                events=[event("ingestion", actor.person_id, "adopted from the WORM store")])
    try:
        catalog.add_item(item)
    except DuplicateItem as dup:
        _superseded(report, ref, version, dup.existing_id)
        return False
    entry = archive.ledger.append(actor, "adopted", item.id, {"sha256": got.sha256,
                                                              "manifest": ref["key"]})
    item.storage["ledger_seq"] = entry.seq
    catalog.save_state(item)
    report["adopted"].append(item.id)
    return True
