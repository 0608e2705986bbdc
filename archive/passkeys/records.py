"""Credentials as the archive keeps them: the catalog record (collection ``meta``, kind
``passkey``: journaled, so rebuild-catalog and migrate carry it), the ledger entries that
register it (``passkey-enrolled`` by the console, ``passkey-confirmed`` and
``passkey-revoked`` by an administrator), and its copy in the WORM store, published at
confirmation and signed by the archive key.

The catalog record is what the console reads to sign people in; before it trusts one it
compares it with the ledger's enrollment (``check_with_ledger``), and ``audit verify``
compares all of them (``evidence.credential_problems``).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from typing import Any

from archive.domain.canonical import canonical
from archive.domain.errors import IdentityError, NotFound
from archive.domain.model import iso
from archive.integrity.signing import fingerprint
from archive.ledger.chain import Actor
from archive.passkeys.evidence import (
    ARCHIVE_ACTOR,
    CONFIRMED,
    CONSOLE_ACTOR,
    CONSOLE_KEY_REGISTERED,
    ENROLLED,
    KIND,
    PUBLISHED_PREFIX,
    REVOKED,
    catalog_credentials,
    key_digest,
)
from i18n import N_

PENDING, ACTIVE, REVOKED_STATE = "pending", "confirmed", "revoked"


def _now() -> str:
    return iso(datetime.now(timezone.utc))


def _short(credential_id: str) -> str:
    return hashlib.sha256(credential_id.encode()).hexdigest()[:32]


def record_id(credential_id: str) -> str:
    return f"{KIND}:{_short(credential_id)}"


def get(catalog: Any, credential_id: str) -> dict | None:
    return catalog.get_record("meta", record_id(credential_id))


def of_person(catalog: Any, person_id: str | None = None) -> list[dict]:
    rows = catalog_credentials(catalog)
    if person_id is not None:
        rows = [r for r in rows if r.get("person") == person_id]
    return sorted(rows, key=lambda r: r.get("enrolled_at", ""))


def find(catalog: Any, person_id: str, credential_id: str) -> dict:
    """The person's credential, or NotFound. ``credential_id`` may be the id, or the
    unambiguous start of it as ``people passkeys`` shows it."""
    rec = get(catalog, credential_id)
    if rec is None:
        hits = [r for r in of_person(catalog, person_id)
                if r["credential_id"].startswith(credential_id)]
        rec = hits[0] if len(hits) == 1 and len(credential_id) >= 8 else None
    if rec is None or rec.get("person") != person_id:
        raise NotFound(N_("{person} has no passkey {credential}"), subject=person_id,
                       person=person_id, credential=credential_id)
    return rec


def enroll(archive: Any, console_key: Any, person_id: str, credential_id: str,
           public_key: str, aaguid: str, invite: dict) -> dict:
    """Record a verified new credential as pending: catalog and ledger (by the console)."""
    entry = archive.ledger.append(Actor(CONSOLE_ACTOR, console_key), ENROLLED, person_id, {
        "person": person_id, "credential_id": credential_id, "public_key": public_key,
        "aaguid": aaguid, "key_sha256": key_digest(public_key), "invite": invite})
    doc = {"kind": KIND, "credential_id": credential_id, "person": person_id,
           "public_key": public_key, "aaguid": aaguid, "status": PENDING,
           "enrolled_at": entry.at, "enrolled_seq": entry.seq,
           "invited_by": invite.get("invited_by"), "confirmed_at": None,
           "confirmed_by": None, "confirmed_seq": None, "revoked_at": None,
           "revoked_by": None, "revoked_seq": None, "store_key": None}
    archive.catalog.put_record("meta", record_id(credential_id), doc)
    return doc


def confirm(archive: Any, actor: Actor, rec: dict) -> dict:
    """The administrator's confirmation, binding the key's digest; the credential is then
    published in the WORM store."""
    entry = archive.ledger.append(actor, CONFIRMED, rec["person"], {
        "credential_id": rec["credential_id"], "key_sha256": key_digest(rec["public_key"]),
        "aaguid": rec["aaguid"], "enrolled_seq": rec["enrolled_seq"]})
    rec = rec | {"status": ACTIVE, "confirmed_at": entry.at, "confirmed_by": actor.person_id,
                 "confirmed_seq": entry.seq}
    rec["store_key"] = publish(archive, rec)
    archive.catalog.put_record("meta", record_id(rec["credential_id"]), rec)
    return rec


def revoke(archive: Any, actor: Actor, rec: dict) -> dict:
    entry = archive.ledger.append(actor, REVOKED, rec["person"], {
        "credential_id": rec["credential_id"], "key_sha256": key_digest(rec["public_key"])})
    rec = rec | {"status": REVOKED_STATE, "revoked_at": entry.at,
                 "revoked_by": actor.person_id, "revoked_seq": entry.seq}
    archive.catalog.put_record("meta", record_id(rec["credential_id"]), rec)
    return rec


def publish(archive: Any, rec: dict) -> str:
    """The confirmed credential in the WORM store, signed by the archive key, locked as the
    ledger's checkpoints are: its public key outlives any catalog."""
    body = {k: rec[k] for k in ("credential_id", "person", "public_key", "aaguid",
                                "enrolled_at", "confirmed_at", "confirmed_by")}
    key = f"{PUBLISHED_PREFIX}{_short(rec['credential_id'])}.json"
    if not archive.store.versions(key):
        until = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(
            days=366 * archive.checkpoint_years)
        archive.store.put_blob(key, canonical({
            "credential": body, "key_id": archive.key.key_id,
            "signature": archive.key.sign(body)}), until)
    return key


def check_with_ledger(catalog: Any, rec: dict) -> None:
    """Refuse a credential whose catalog record differs from what the ledger enrolled and
    confirmed (a key swapped in the catalog signs nobody in)."""
    enrolled = next(iter(catalog.ledger_entries(rec.get("enrolled_seq") or 1)), None)
    ok = (enrolled is not None and enrolled.action == ENROLLED
          and enrolled.details.get("credential_id") == rec["credential_id"]
          and enrolled.details.get("public_key") == rec["public_key"]
          and enrolled.details.get("person") == rec["person"])
    if ok and rec.get("confirmed_seq"):
        confirmed = next(iter(catalog.ledger_entries(rec["confirmed_seq"])), None)
        ok = (confirmed is not None and confirmed.action == CONFIRMED
              and confirmed.details.get("key_sha256") == key_digest(rec["public_key"]))
    if not ok:
        raise IdentityError(N_("passkey {credential} of {person} differs from the one the "
                               "ledger registered; it signs nothing until an administrator "
                               "looks into it"), subject=rec["person"],
                            credential=rec["credential_id"], person=rec["person"])


def from_ledger(entries: Any) -> dict[str, dict]:
    """The catalog records of the console keys and credentials, made again from the ledger
    alone (by record id): what a rebuilt catalog needs when no journal segment carried them
    (a command that died before its end)."""
    out: dict[str, dict] = {}
    for e in entries:
        d = e.details or {}
        if e.action == CONSOLE_KEY_REGISTERED and e.actor == ARCHIVE_ACTOR:
            out[f"console-key:{e.subject.split(':', 1)[-1]}"] = {
                "kind": "console-key", "key_id": e.subject,
                "fingerprint": fingerprint(e.subject), "public_key": d.get("public_key"),
                "station": d.get("station"), "from": e.at, "store_key": None}
        elif e.action == ENROLLED and e.actor == CONSOLE_ACTOR:
            cid = d.get("credential_id", "")
            out.setdefault(record_id(cid), {
                "kind": KIND, "credential_id": cid, "person": d.get("person"),
                "public_key": d.get("public_key"), "aaguid": d.get("aaguid"),
                "status": PENDING, "enrolled_at": e.at, "enrolled_seq": e.seq,
                "invited_by": (d.get("invite") or {}).get("invited_by"),
                "confirmed_at": None, "confirmed_by": None, "confirmed_seq": None,
                "revoked_at": None, "revoked_by": None, "revoked_seq": None,
                "store_key": None})
        elif e.action in (CONFIRMED, REVOKED):
            rec = out.get(record_id(d.get("credential_id", "")))
            if rec is None or rec["person"] != e.subject:
                continue
            if e.action == CONFIRMED and rec["confirmed_seq"] is None:
                rec.update(status=ACTIVE if rec["revoked_seq"] is None else REVOKED_STATE,
                           confirmed_at=e.at, confirmed_by=e.actor, confirmed_seq=e.seq,
                           store_key=f"{PUBLISHED_PREFIX}{_short(rec['credential_id'])}.json")
            elif e.action == REVOKED and rec["revoked_seq"] is None:
                rec.update(status=REVOKED_STATE, revoked_at=e.at, revoked_by=e.actor,
                           revoked_seq=e.seq)
    return out
