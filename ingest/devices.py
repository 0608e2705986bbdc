"""The device register: body cameras and recorders, their clock convention, officer, status,
and the running file numbers seen from each (a missing number may be a deleted recording)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from datetime import datetime, timezone

from archive.catalog.base import Catalog, Query
from archive.domain.errors import InputError, NotFound
from archive.domain.model import Item, iso
from archive.ledger.chain import Actor
from archive.service import Archive
from i18n import N_

STATUSES = ("in-service", "faulty")
CLOCKS = ("utc", "local")  # what an MP4 creation_time written by this model means


def _now() -> str:
    return iso(datetime.now(timezone.utc))


def get(catalog: Catalog, device_id: str) -> dict:
    doc = catalog.get_record("devices", device_id)
    if doc is None:
        raise NotFound(N_("no device {device!r}; add it with 'custody devices add'"),
                       subject=device_id, device=device_id)
    return doc


def add_device(archive: Archive, actor: Actor, device_id: str, model: str, clock: str = "utc",
               officer: str | None = None, unit: str | None = None,
               units: Collection[str] | None = None) -> dict:
    """`custody devices add`: a device entered in the register and the ledger. ``units``:
    the configured units, one of which ``unit`` must be (a device filed under a unit that does
    not exist would describe every file it records with it)."""
    catalog, ledger = archive.catalog, archive.ledger
    if clock not in CLOCKS:
        raise InputError(N_("clock must be one of {choices}"), choices=", ".join(CLOCKS))
    if unit is not None and units is not None and unit not in units:
        raise InputError(N_("no unit {unit!r} in the config (units: {units})"), subject=unit,
                         unit=unit, units=", ".join(sorted(units)) or "-")
    if catalog.get_record("devices", device_id) is not None:
        raise InputError(N_("device {device} already exists"), subject=device_id,
                         device=device_id)
    doc = {"id": device_id, "model": model, "clock": clock, "officer": officer, "unit": unit,
           "status": "in-service", "sequences": [], "sequence_years": {},
           "gaps_by_year": {}, "clock_offsets": [],
           "history": [{"at": _now(), "by": actor.person_id, "event": "added"}]}
    catalog.put_record("devices", device_id, doc)
    ledger.append(actor, "device-added", device_id, {"model": model, "clock": clock,
                                                     "officer": officer, "unit": unit})
    return doc


def set_device_status(archive: Archive, actor: Actor, device_id: str, status: str,
                      note: str = "") -> dict:
    """`custody devices fault|repair`: the device's status changed, and recorded."""
    catalog, ledger = archive.catalog, archive.ledger
    doc = get(catalog, device_id)
    if status not in STATUSES:
        raise InputError(N_("status must be one of {choices}"), choices=", ".join(STATUSES))
    doc["status"] = status
    doc["history"].append({"at": _now(), "by": actor.person_id, "event": status, "note": note})
    catalog.put_record("devices", device_id, doc)
    ledger.append(actor, f"device-{status}", device_id, {"note": note})
    return doc


UNKNOWN_YEAR = "unknown"  # numbers noted before they were kept by year


def note_batch(catalog: Catalog, device_id: str, numbers: Iterable[tuple[int, int]],
               clock_offsets_s: Iterable[float] = ()) -> dict | None:
    """Record, once a batch is complete, the running file numbers it saw from the device
    (each with its year) and the clock offsets beyond tolerance; the gaps are computed again
    from the whole sequence. None when the device is not registered."""
    doc = catalog.get_record("devices", device_id)
    if doc is None:
        return None
    by_year = _years(doc)
    for seq, year in numbers:
        by_year.setdefault(str(year), set()).add(int(seq))
    doc["sequence_years"] = {y: sorted(n) for y, n in sorted(by_year.items())}
    doc["sequences"] = sorted(set().union(*by_year.values())) if by_year else []
    doc["gaps_by_year"] = gaps_by_year(doc)
    now = _now()
    doc["clock_offsets"] = (doc.get("clock_offsets", []) + [
        {"at": now, "offset_s": off} for off in clock_offsets_s])[-50:]
    catalog.put_record("devices", device_id, doc)
    return doc


def _years(doc: dict) -> dict[str, set[int]]:
    """The numbers seen, by year; those a register entry noted before years were kept stand
    under UNKNOWN_YEAR (seen, so never a gap; in no year's figures)."""
    if "sequence_years" in doc:
        return {y: set(n) for y, n in doc["sequence_years"].items()}
    legacy = set(doc.get("sequences", []))
    return {UNKNOWN_YEAR: legacy} if legacy else {}


def gaps_by_year(doc: dict) -> dict[str, list[int]]:
    """The numbers missing from the device's sequence, each under one year: within a year,
    those between its lowest and highest number; between years, those after the last number
    of the year before and before the first of this one (a running counter), under this
    year. A counter that started again (a lower first number) leaves no gap between years.
    Numbers seen in an unknown year are never missing."""
    by_year = _years(doc)
    unknown = by_year.pop(UNKNOWN_YEAR, set())
    out: dict[str, list[int]] = {}
    before: int | None = None
    for year in sorted(by_year, key=int):
        nums = sorted(by_year[year])
        if not nums:
            continue
        low = nums[0]
        if before is not None and low > before + 1:
            low = before + 1
        have = set(nums) | unknown
        missing = [n for n in range(low, nums[-1] + 1) if n not in have]
        if missing:
            out[year] = missing
        before = nums[-1] if before is None else max(before, nums[-1])
    return out


def gaps(doc: dict) -> list[int]:
    """Every missing running number of the device, whatever its year (a register entry
    from before numbers were kept by year: the gaps between all numbers it saw)."""
    if "sequence_years" not in doc:
        return _flat_gaps(doc.get("sequences", []))
    return sorted({n for g in gaps_by_year(doc).values() for n in g})


def _flat_gaps(seen: list[int]) -> list[int]:
    if not seen:
        return []
    have = set(seen)
    return [n for n in range(min(seen), max(seen) + 1) if n not in have]


def gaps_near(doc: dict, numbers: set[tuple[int, int]]) -> list[int]:
    """The missing numbers next to the given (number, year) pairs: the gaps a batch that
    delivered them reveals. A gap found earlier and not touched again is not repeated."""
    by_year = {int(y): sorted(n) for y, n in _years(doc).items() if y != UNKNOWN_YEAR and n}
    found: set[int] = set()
    for year, missing in gaps_by_year(doc).items():
        y = int(year)
        nums = by_year.get(y, [])
        earlier = [(max(by_year[e]), e) for e in by_year if e < y]
        last_before = max(earlier) if earlier else None
        for gap in missing:
            lower = [n for n in nums if n < gap]
            below = (lower[-1], y) if lower else last_before
            above = next(((n, y) for n in nums if n > gap), None)
            if above in numbers or below in numbers:
                found.add(gap)
    return sorted(found)


def rebuild_years(catalog: Catalog, device_id: str, year_of: Callable[[Item], int | None]
                  ) -> dict | None:
    """For a register entry noted before numbers were kept by year (an upgrade step): each
    number's year from the archived items that carry it (``year_of``: the item's year in its
    unit's zone); numbers no item carries stay under UNKNOWN_YEAR."""
    doc = catalog.get_record("devices", device_id)
    if doc is None:
        return None
    by_year: dict[str, set[int]] = {}
    for item in catalog.iter_items(Query(device_id=device_id)):
        seq = item.description.extra.get("sequence")
        year = year_of(item)
        if isinstance(seq, int) and year is not None:
            by_year.setdefault(str(year), set()).add(seq)
    placed = set().union(*by_year.values()) if by_year else set()
    rest = set(doc.get("sequences", [])) - placed
    if rest:
        by_year[UNKNOWN_YEAR] = rest
    doc["sequence_years"] = {y: sorted(n) for y, n in sorted(by_year.items())}
    doc["sequences"] = sorted(placed | rest)
    doc["gaps_by_year"] = gaps_by_year(doc)
    catalog.put_record("devices", device_id, doc)
    return doc


def list_devices(catalog: Catalog) -> list[dict]:
    """The register, one row per device: its model, clock, officer, unit, status, how many
    file numbers were seen and which are missing (all years, and by year)."""
    return [{k: d.get(k) for k in ("id", "model", "clock", "officer", "unit", "status")}
            | {"gaps": gaps(d), "gaps_by_year": d.get("gaps_by_year")
               if "gaps_by_year" in d else gaps_by_year(d),
               "files_seen": len(d.get("sequences", []))}
            for d in catalog.list_records("devices")]

