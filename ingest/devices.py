"""The device register: body cameras and recorders, their clock convention, officer, status,
and the running file numbers seen from each (a missing number may be a deleted recording)."""

from __future__ import annotations

from datetime import datetime, timezone

from archive.catalog.base import Catalog
from archive.domain.errors import InputError, NotFound
from archive.domain.model import iso
from archive.ledger.chain import Actor, Ledger
from archive.service import Archive

STATUSES = ("in-service", "faulty")
CLOCKS = ("utc", "local")  # what an MP4 creation_time written by this model means


def _now() -> str:
    return iso(datetime.now(timezone.utc))


def get(catalog: Catalog, device_id: str) -> dict:
    doc = catalog.get_record("devices", device_id)
    if doc is None:
        raise NotFound(f"no device {device_id!r}; add it with 'custody devices add'",
                       subject=device_id)
    return doc


def add(catalog: Catalog, ledger: Ledger, actor: Actor, device_id: str, model: str,
        clock: str, officer: str | None, unit: str | None) -> dict:
    if clock not in CLOCKS:
        raise InputError(f"clock must be one of {', '.join(CLOCKS)}")
    if catalog.get_record("devices", device_id) is not None:
        raise InputError(f"device {device_id} already exists", subject=device_id)
    doc = {"id": device_id, "model": model, "clock": clock, "officer": officer, "unit": unit,
           "status": "in-service", "sequences": [], "clock_offsets": [],
           "history": [{"at": _now(), "by": actor.person_id, "event": "added"}]}
    catalog.put_record("devices", device_id, doc)
    ledger.append(actor, "device-added", device_id, {"model": model, "clock": clock,
                                                     "officer": officer, "unit": unit})
    return doc


def set_status(catalog: Catalog, ledger: Ledger, actor: Actor, device_id: str, status: str,
               note: str) -> dict:
    doc = get(catalog, device_id)
    if status not in STATUSES:
        raise InputError(f"status must be one of {', '.join(STATUSES)}")
    doc["status"] = status
    doc["history"].append({"at": _now(), "by": actor.person_id, "event": status, "note": note})
    catalog.put_record("devices", device_id, doc)
    ledger.append(actor, f"device-{status}", device_id, {"note": note})
    return doc


def note_file(catalog: Catalog, device_id: str, sequence: int | None,
              clock_offset_s: float | None, tolerance_s: float) -> dict | None:
    """Record a file's running number and the device clock's offset; None when the device is
    not registered."""
    doc = catalog.get_record("devices", device_id)
    if doc is None:
        return None
    if sequence is not None and sequence not in doc["sequences"]:
        doc["sequences"] = sorted(doc["sequences"] + [sequence])
    if clock_offset_s is not None and abs(clock_offset_s) > tolerance_s:
        doc["clock_offsets"] = (doc["clock_offsets"] + [{"at": _now(),
                                                         "offset_s": clock_offset_s}])[-50:]
    catalog.put_record("devices", device_id, doc)
    return doc


def gaps(doc: dict) -> list[int]:
    """Running numbers missing between the lowest and highest seen."""
    seen = doc.get("sequences", [])
    if not seen:
        return []
    have = set(seen)
    return [n for n in range(seen[0], seen[-1] + 1) if n not in have]


def list_devices(catalog: Catalog) -> list[dict]:
    """The register, one row per device: its model, clock, officer, unit, status, how many
    file numbers were seen and which are missing."""
    return [{k: d.get(k) for k in ("id", "model", "clock", "officer", "unit", "status")}
            | {"gaps": gaps(d), "files_seen": len(d.get("sequences", []))}
            for d in catalog.list_records("devices")]


def add_device(archive: Archive, actor: Actor, device_id: str, model: str, clock: str = "utc",
               officer: str | None = None, unit: str | None = None) -> dict:
    """`custody devices add`: a device entered in the register (and the ledger)."""
    return add(archive.catalog, archive.ledger, actor, device_id, model, clock, officer, unit)


def set_device_status(archive: Archive, actor: Actor, device_id: str, status: str,
                      note: str = "") -> dict:
    """`custody devices fault|repair`: the device's status changed (and recorded)."""
    return set_status(archive.catalog, archive.ledger, actor, device_id, status, note)
