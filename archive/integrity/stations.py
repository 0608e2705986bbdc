"""Stations: the data homes that write into one archive, each with its own archive key.

A station is a data home with a station id ([station] id, or CUSTODY_STATION). Its key
(<home>/keys/archive.key) is made in that home and never leaves it; it signs the metadata
versions, journal segments and ledger checkpoints the station writes. Its public key is
published in the WORM store (keys/archive/), and its registration -- station, fingerprint,
state -- is kept in the catalog (collection "meta", kind "archive-key": journaled, so a
rebuild from the store and a migration carry it) and written to the ledger, signed by the
person who registered it. Rotation retires one station's key and registers its successor;
every key stays in the keyring, so every old signature of every station still verifies.

One station id, one home: a second home claiming an id whose key is active elsewhere is
refused (``refuse_claimed``).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from archive.catalog.base import Catalog
from archive.domain.errors import InputError
from archive.domain.model import iso
from archive.integrity.signing import fingerprint
from archive.ledger.chain import Actor
from i18n import N_, Text

KIND = "archive-key"
ACTIVE, RETIRED = "active", "retired"
STATES = (ACTIVE, RETIRED)


def _record_id(key_id: str) -> str:
    return f"{KIND}:{key_id.split(':', 1)[-1]}"


def _now() -> str:
    return iso(datetime.now(timezone.utc))


def shown(station: str | None) -> str | Text:
    """A station as people read it: its id, or "(none)" for the station without one."""
    return station or Text(N_("(none)"))


def registration(catalog: Catalog, key_id: str) -> dict | None:
    """The registration of one archive key, or None (a key from before stations)."""
    return catalog.get_record("meta", _record_id(key_id))


def registrations(catalog: Catalog) -> list[dict]:
    return catalog.list_records("meta", kind=KIND)


def active_key(catalog: Catalog, station: str | None) -> dict | None:
    """The station's active key, as registered; None when the station has none."""
    station = station or None
    found = [r for r in registrations(catalog)
             if r.get("station") == station and r.get("state") == ACTIVE]
    return max(found, key=lambda r: r.get("from", ""), default=None)


def refuse_claimed(catalog: Catalog, station: str | None, key_id: str | None) -> None:
    """Refuse a home claiming a station id whose active key is another (another home's): two
    homes are never one station, and a station signs with its own key alone."""
    other = active_key(catalog, station)
    if other is not None and other["key_id"] != key_id:
        raise InputError(
            N_("station {station} is already registered in this archive with another key "
               "({fingerprint}, since {since}): two homes are never one station. Give this "
               "home a station id of its own ([station] id in its config, or CUSTODY_STATION) "
               "and run 'custody init' again"), subject=station or "station",
            station=shown(station), fingerprint=other["fingerprint"],
            since=other.get("from", "?"))


def refuse_renamed(catalog: Catalog, station: str | None, key_id: str) -> None:
    """A home's key keeps the station it was registered for: a changed [station] id would
    file this home's batches under one station and its signatures under another."""
    reg = registration(catalog, key_id)
    if reg is not None and reg.get("station") != (station or None):
        raise InputError(
            N_("this home's archive key ({fingerprint}) is registered as station {registered}, "
               "but the config says {station}: a station keeps its id (set [station] id = "
               "\"{registered_id}\"); a new station is a new data home"),
            subject=station or "station", fingerprint=reg["fingerprint"],
            registered=shown(reg.get("station")), station=shown(station),
            registered_id=reg.get("station") or "")


def register_key(archive: Any, actor: Actor, key_id: str, station: str | None,
                 action: str, **detail: object) -> dict:
    """Record ``key_id`` as ``station``'s active key, in the catalog and in the ledger
    (``action``: archive-key-created for the archive's first key, station-key-registered for
    a station joining, or for a key from before stations)."""
    doc = {"kind": KIND, "key_id": key_id, "fingerprint": fingerprint(key_id),
           "station": station or None, "state": ACTIVE, "from": _now(),
           "registered_by": actor.person_id, "retired_at": None, "replaced_by": None}
    archive.catalog.put_record("meta", _record_id(key_id), doc)
    archive.ledger.append(actor, action, key_id,
                          {"fingerprint": doc["fingerprint"], "station": doc["station"],
                           **detail})
    return doc


def rotate(archive: Any, actor: Actor, old_id: str, new_id: str,
           station: str | None) -> dict:
    """One station's key rotated: its old key retired (its public key stays, so its
    signatures verify), the new one registered for the same station. Other stations' keys
    are not touched. The station is the one the old key was registered for."""
    old = registration(archive.catalog, old_id)
    if old is not None:
        station = old.get("station")
    now = _now()
    retired = (old or {"kind": KIND, "key_id": old_id, "fingerprint": fingerprint(old_id),
                       "station": station or None, "from": None,
                       "registered_by": None}) | {
        "state": RETIRED, "retired_at": now, "replaced_by": new_id}
    archive.catalog.put_record("meta", _record_id(old_id), retired)
    doc = {"kind": KIND, "key_id": new_id, "fingerprint": fingerprint(new_id),
           "station": station or None, "state": ACTIVE, "from": now,
           "registered_by": actor.person_id, "retired_at": None, "replaced_by": None}
    archive.catalog.put_record("meta", _record_id(new_id), doc)
    archive.ledger.append(actor, "archive-key-rotated", new_id,
                          {"previous": old_id, "fingerprint": doc["fingerprint"],
                           "station": doc["station"]})
    return doc


def list_keys(archive: Any) -> list[dict]:
    """`custody key list`: every archive public key, with its station and state (active or
    retired), and which one is this home's (``current``). ``published``: its public key is
    in the keyring (the WORM store or this home), so its signatures verify. A key from before
    stations has no registration: this home's key is active, any other was retired by a
    rotation (an archive had one home then)."""
    current = archive.key.key_id
    regs = {r["key_id"]: r for r in registrations(archive.catalog)}
    ring = set(archive.archive_keys.key_ids())
    rows = []
    for key_id in sorted(ring | set(regs)):
        reg = regs.get(key_id) or {}
        state = reg.get("state") or (ACTIVE if key_id == current else RETIRED)
        rows.append({"key_id": key_id, "fingerprint": fingerprint(key_id),
                     "station": reg.get("station"), "state": state,
                     "current": key_id == current, "registered": bool(reg),
                     "from": reg.get("from"), "retired_at": reg.get("retired_at"),
                     "replaced_by": reg.get("replaced_by"), "published": key_id in ring})
    rows.sort(key=lambda r: (not r["current"], r["station"] or "", r["state"] != ACTIVE,
                             r["from"] or ""))
    return rows
