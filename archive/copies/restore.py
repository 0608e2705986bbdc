"""Restore: a copy that fails its check is repaired from the other copy (issue 7).

For each item both copies of its object and of every metadata version are read through and
judged (present, readable, digest; a metadata version also by its archive signature and by
the catalog's version). Where one copy fails and the other is good, the good bytes are written
to the failing store as a NEW version (WORM: never over the failed one, which stays as
evidence), locked as the item needs, read back and checked; then the catalog points at the
new version, keeping the failed one under ``item.storage["failed_versions"]``, with a PREMIS
"recovery" event and a ledger entry. When neither copy is good nothing is changed for that
item and it is named.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from archive import people
from archive.copies import OPERATORS
from archive.copies.replica import read_errors
from archive.copies.sync import copy_version, read_verified
from archive.domain.errors import InputError, NotFound, ProblemFound
from archive.domain.model import Item, MetadataVersion, iso
from archive.inputs import read_text_input
from archive.ledger.chain import Actor
from archive.service import Archive, event
from archive.worm.base import WormStore
from i18n import N_, Text, localize

GOOD = "good"
NOT_REPLICATED = "not-replicated"
# verification problems a restore repairs (the item leaves 'attention' once they are gone)
REPAIRED = {"object-unreadable", "digest-mismatch", "manifest-unreadable", "signature-invalid",
            "media-unreadable", "duration-changed", "not-replicated"}
# a version restored with the lock the item needs answers these of the failed version too
LOCK_CODES = {"lock-missing", "lock-too-short", "legal-hold-missing"}
# a copy's state and each copy as a person reads them: in English the code itself (as the
# messages always said it), in Chinese its name; the JSON keeps the codes
STATE_TEXT = {GOOD: N_("good"), NOT_REPLICATED: N_("not-replicated"),
              "missing": N_("missing"), "unreadable": N_("unreadable"),
              "digest-mismatch": N_("digest-mismatch"),
              "signature-invalid": N_("signature-invalid"),
              "manifest-mismatch": N_("manifest-mismatch")}
COPY_TEXT = {"primary": N_("primary"), "replica": N_("replica")}


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _state(state: str, vid: str | None, message: str | Text = "", **extra: object) -> dict:
    """``message`` in English (kept with a failed version), ``text`` in the reader's language."""
    return {"state": state, "version_id": vid, "message": str(message),
            "text": localize(message), **extra}


def _named(table: dict[str, str], code: str) -> Text | str:
    return Text(table[code]) if code in table else code


def _part(part: dict) -> Text | str:
    """"object" or "metadata v2" (the part's stored name) as a person reads it."""
    name = part["part"]
    if name == "object":
        return Text(N_("object"))
    if name.startswith("metadata v"):
        return Text(N_("metadata v{version}"), version=name.removeprefix("metadata v"))
    return name


def _joined(texts: list[Text], separator: str = "; ") -> Text:
    """Several texts as one, each shown in the reader's language."""
    return Text(separator.join(f"{{t{i}}}" for i in range(len(texts))),
                **{f"t{i}": t for i, t in enumerate(texts)})


def _reason(exc: BaseException) -> Text | str:
    """What went wrong, as the refusal says it (a Text), else the exception's own words."""
    text = getattr(exc, "text", None)
    return text if isinstance(text, Text) else str(exc)


def _said(message: Text) -> dict:
    return {"message": str(message), "text": localize(message)}


def check_object(store: WormStore, key: str, vid: str, sha256: str) -> dict:
    h = hashlib.sha256()
    try:
        for chunk in store.read(key, vid):
            h.update(chunk)
    except NotFound as exc:
        return _state("missing", vid, _reason(exc))
    except read_errors() as exc:
        return _state("unreadable", vid, _reason(exc))
    if h.hexdigest() != sha256:
        return _state("digest-mismatch", vid, Text(N_("read SHA-256 {read}…, signed {signed}…"),
                                                    read=h.hexdigest()[:16],
                                                    signed=sha256[:16]))
    return _state(GOOD, vid)


def check_manifest(archive: Archive, store: WormStore, key: str, vid: str,
                   expected: MetadataVersion | None) -> dict:
    try:
        data = store.read_bytes(key, vid)
    except NotFound as exc:
        return _state("missing", vid, _reason(exc))
    except read_errors() as exc:
        return _state("unreadable", vid, _reason(exc))
    try:
        doc = json.loads(data)
        version = MetadataVersion.from_dict(doc)
        signed = archive.archive_keys.verify(doc["manifest"], version.key_id,
                                             version.signature)
    except (ValueError, KeyError, TypeError, InputError) as exc:
        return _state("unreadable", vid, Text(N_("not a metadata version: {reason}"),
                                              reason=_reason(exc)))
    if not signed:
        return _state("signature-invalid", vid,
                      Text(N_("does not verify with any archive key")))
    if expected is None or version.manifest() != expected.manifest():
        return _state("manifest-mismatch", vid, Text(N_("differs from the catalog's version")))
    return _state(GOOD, vid, sha256=hashlib.sha256(data).hexdigest())


def check_item(archive: Archive, replica: WormStore, item: Item) -> list[dict]:
    """Both copies of every part of one item, each with its state."""
    obj = item.storage["object"]
    rep = item.storage.get("replica") or {}
    parts = [{"part": "object", "key": obj["key"],
              "primary": check_object(archive.store, obj["key"], obj["version_id"],
                                      item.sha256),
              "replica": check_object(replica, obj["key"], rep["object"]["version_id"],
                                      item.sha256) if rep.get("object")
              else _state(NOT_REPLICATED, None)}]
    versions = {v.version: v for v in archive.catalog.versions(item.id)}
    theirs = {m["key"]: m for m in rep.get("manifests", [])}
    for m in item.storage["manifests"]:
        expected = versions.get(m["version"])
        other = theirs.get(m["key"])
        parts.append({"part": f"metadata v{m['version']}", "key": m["key"],
                      "version": m["version"],
                      "primary": check_manifest(archive, archive.store, m["key"],
                                                m["version_id"], expected),
                      "replica": check_manifest(archive, replica, m["key"],
                                                other["version_id"], expected) if other
                      else _state(NOT_REPLICATED, None)})
    return parts


def _lock_needed(archive: Archive, item: Item, stores: list[tuple[WormStore, str | None]],
                 key: str) -> tuple[datetime | None, bool]:
    """The lock a new version needs: at least every item on these bytes requires, and never
    less than either copy shows (where its lock can still be read)."""
    items = archive.catalog.items_of_object(item.sha256) if key == item.storage["object"][
        "key"] else [item]
    untils = [i.retain_until for i in items if i.retain_until]
    hold = any(i.legal_hold for i in items)
    for store, vid in stores:
        if vid is None:
            continue
        try:
            lock = store.lock(key, vid)
        except read_errors():
            continue
        if lock.retain_until:
            untils.append(lock.retain_until)
        hold = hold or lock.legal_hold
    until = max(untils) if untils else None
    return (until if until and until > _now() else None), hold


def _repair(archive: Archive, replica: WormStore, actor: Actor, item: Item, part: dict,
            bad: str) -> dict:
    """Write the good copy's bytes as a new version in the failed store; check; re-point."""
    good = "replica" if bad == "primary" else "primary"
    stores = {"primary": archive.store, "replica": replica}
    src, dst = stores[good], stores[bad]
    key = part["key"]
    src_vid, bad_vid = part[good]["version_id"], part[bad]["version_id"]
    until, hold = _lock_needed(archive, item, [(src, src_vid), (dst, bad_vid)], key)
    is_object = part["part"] == "object"
    expected = item.sha256 if is_object else part[good]["sha256"]
    stored = copy_version(src, key, src_vid, dst, retain_until=until, legal_hold=hold,
                          new_version=True, expected_sha256=expected)
    if not read_verified(dst, key, stored.version_id, expected):
        raise ProblemFound(N_("{key}@{version}: the restored version does not read back with "
                              "its digest"), subject=item.id, key=key,
                           version=stored.version_id)
    lock = dst.lock(key, stored.version_id)
    if not lock.covers(until, hold):
        raise ProblemFound(N_("{key}@{version}: the restored version's lock was not "
                              "confirmed"), subject=item.id, key=key, version=stored.version_id)
    done = {"part": part["part"], "copy": bad, "key": key, "failed_version": bad_vid,
            "problem": part[bad]["state"], "new_version": stored.version_id, "from": good,
            "lock": lock.to_dict()}
    # every item on these bytes that points at the failed version now points at the new one
    affected = archive.catalog.items_of_object(item.sha256) if is_object else [
        archive.item(item.id)]
    for other in affected:
        if _repoint(other, bad, part, bad_vid, stored.version_id, lock):
            other.storage.setdefault("failed_versions", []).append(
                {"copy": bad, "key": key, "version_id": bad_vid, "problem": part[bad]["state"],
                 "message": part[bad]["message"], "found_at": iso(_now()),
                 "replaced_by": stored.version_id})
            other.events.append(event("recovery", actor.person_id, "success",
                                      part=part["part"], copy=bad, failed_version=bad_vid,
                                      new_version=stored.version_id, source=good))
            archive.catalog.save_state(other)
            archive.ledger.append(actor, "restore", other.id, {
                k: done[k] for k in ("part", "copy", "key", "failed_version", "problem",
                                     "new_version", "from")})
    if is_object and bad == "primary":
        # the object's record names the version that now holds its bytes, as its items do
        # (a catalog rebuilt from the store would name it too)
        archive.catalog.update_object_lock(item.sha256, lock, stored.version_id)
    return done


def _repoint(item: Item, copy: str, part: dict, bad_vid: str, new_vid: str, lock) -> bool:
    if copy == "primary":
        if part["part"] == "object":
            obj = item.storage["object"]
            if obj["version_id"] != bad_vid:
                return False
            obj["version_id"] = new_vid
            obj["lock"] = lock.to_dict()
            return True
        refs = item.storage["manifests"]
    else:
        rep = item.storage.get("replica") or {}
        if part["part"] == "object":
            if (rep.get("object") or {}).get("version_id") != bad_vid:
                return False
            rep["object"]["version_id"] = new_vid
            return True
        refs = rep.get("manifests", [])
    for ref in refs:
        if ref["key"] == part["key"] and ref["version_id"] == bad_vid:
            ref["version_id"] = new_vid
            return True
    return False


def restore_item(archive: Archive, replica: WormStore, actor: Actor, item_id: str) -> dict:
    """Check both copies of one item and repair what one copy can give the other."""
    item = archive.item(item_id)
    if item.status == "disposed":
        return {"item": item_id, "outcome": "disposed", "parts": [], "restored": []} | _said(
            Text(N_("destroyed by an approved disposal; nothing to restore")))
    parts = check_item(archive, replica, item)
    lost = [p for p in parts if p["primary"]["state"] != GOOD
            and p["replica"]["state"] != GOOD]
    if lost:
        states = _joined([
            Text(N_("{part} (primary {primary}, replica {replica})"), part=_part(p),
                 primary=_named(STATE_TEXT, p["primary"]["state"]),
                 replica=_named(STATE_TEXT, p["replica"]["state"]))
            for p in lost], ", ")
        return {"item": item_id, "outcome": "unrecoverable", "parts": parts,
                "restored": []} | _said(Text(N_("no good copy of {parts}; nothing changed"),
                                             parts=states))
    restored = []
    for p in parts:
        for bad in ("primary", "replica"):
            if p[bad]["state"] not in (GOOD, NOT_REPLICATED):
                restored.append(_repair(archive, replica, actor, item, p, bad))
    notes = [p["part"] for p in parts if p["replica"]["state"] == NOT_REPLICATED]
    if restored:
        fresh = archive.item(item_id)
        codes = {c for name in ("verification", "verification_replica")
                 for c in (fresh.checks.get(name) or {}).get("problems", [])}
        repaired = REPAIRED | (LOCK_CODES if any(r["part"] == "object" for r in restored)
                               else set())
        if fresh.status == "attention" and codes and codes <= repaired:
            fresh.status = "pending-metadata" if fresh.description.missing() else "archived"
            archive.catalog.save_state(fresh)
        outcome = "restored"
        message = _joined([
            Text(N_("{part}: {copy} {problem} → new version {version} from the {source}"),
                 part=_part(r), copy=_named(COPY_TEXT, r["copy"]),
                 problem=_named(STATE_TEXT, r["problem"]), version=r["new_version"],
                 source=_named(COPY_TEXT, r["from"]))
            for r in restored])
    else:
        outcome = "ok"
        message = Text(N_("both copies are good")) if not notes else Text(N_(
            "the primary copy is good; not yet on the replica: {parts} (custody replicate)"),
            parts=_joined([_part(p) for p in parts
                           if p["replica"]["state"] == NOT_REPLICATED], ", "))
    return {"item": item_id, "outcome": outcome, "parts": parts,
            "restored": restored} | _said(message)


@people.records_refusals("restore")
def restore_items(archive: Archive, actor: Actor, open_replica: Callable[[], WormStore],
                  item_ids: Sequence[str] = (), report: Path | None = None) -> dict:
    """custody restore (archivists, administrators): the items named, or those a
    ``custody verify --json`` report failed, checked on both copies and repaired from the good
    one. ``open_replica`` (``bootstrap.require_replica``) is called only when there is
    something to restore."""
    if bool(item_ids) == bool(report):
        raise InputError(N_("give ITEM... or --from-report FILE (one of them)"))
    people.require_role(archive.catalog, actor, OPERATORS, Text(N_("restore items")))
    ids = list(item_ids) if item_ids else failed_in_report(report)
    if not ids:
        return {"results": [], "restored": [], "unrecoverable": [], "ok": []} | _said(
            Text(N_("the report failed no item: nothing to restore")))
    return restore(archive, open_replica(), actor, ids)


def restore(archive: Archive, replica: WormStore | None, actor: Actor,
            item_ids: list[str]) -> dict:
    if replica is None:
        raise InputError(N_("no [replica] is configured: there is no second copy to restore "
                            "from"))
    if not item_ids:
        raise InputError(N_("no items to restore"))
    results = [restore_item(archive, replica, actor, i) for i in dict.fromkeys(item_ids)]
    return {"results": results,
            "restored": [r["item"] for r in results if r["outcome"] == "restored"],
            "unrecoverable": [r["item"] for r in results if r["outcome"] == "unrecoverable"],
            "ok": [r["item"] for r in results if r["outcome"] == "ok"]}


def failed_in_report(path: Path) -> list[str]:
    """The items a ``custody verify --json`` report found failing."""
    text = read_text_input(path, Text(N_("verification report")))  # a FIFO or device is never read
    try:
        doc = json.loads(text)
        results = doc["results"]
        ids = [r["item"] for r in results if not r["ok"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(N_("{path}: not a 'custody verify --json' report ({reason})"),
                         subject=str(path), path=str(path), reason=str(exc)) from exc
    return ids
