"""The records of a year: year N of a record is the year, in its unit's zone, of its recording
(AV) or its document date (DESIGN.md, Time). Used by the annual cycle, verification lots and the
statistics alike."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from archive.catalog.base import Catalog, Query
from archive.domain.model import Item

PAGE_SIZE = 1000  # search page size; tests lower it to exercise the cursor walk
# a recording that starts on 31 December in one zone may be on 1 January in another
_ZONE_MARGIN = timedelta(days=2)


def parse_when(value: object, zone: ZoneInfo) -> datetime | None:
    """A register's date or time: ISO date, or ISO time (read in ``zone`` without an offset).
    Unreadable values give None: a report shows what it has rather than refusing a year."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime.combine(value, time())
    elif isinstance(value, str) and value.strip():
        text = value.strip().replace("Z", "+00:00")
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    return dt.replace(tzinfo=zone) if dt.tzinfo is None else dt


def item_year(item: Item, zone: ZoneInfo) -> int:
    d = item.description
    when = d.recorded_start or parse_when(d.extra.get("document_date"), zone) or item.ingested_at
    return when.astimezone(zone).year


# the kinds and status that may lack a recording start and are still of a year
UNTIMED_KINDS = ("document", "data")
UNTIMED_STATUS = "pending-metadata"


def in_year(item: Item, year: int, zone: ZoneInfo, unit: str | None = None) -> bool:
    """Whether ``year_items`` gives this item (``zone``: its unit's): the one test a report
    kept from changes applies to a changed item, so it ends where a full read would."""
    d = item.description
    if unit is not None and d.unit != unit:
        return False
    if d.recorded_start is None and item.status != UNTIMED_STATUS \
            and d.kind not in UNTIMED_KINDS:
        return False
    return item_year(item, zone) == year


def year_items(catalog: Catalog, year: int, zone: ZoneInfo, unit: str | None = None,
               unit_zones: Mapping[str, ZoneInfo] | None = None) -> list[Item]:
    """Every item of ``year`` (of ``unit``), in search order, each once."""
    zones = unit_zones or {}

    def zone_of(item: Item) -> ZoneInfo:
        return zones.get(item.description.unit or "", zone)

    start = datetime(year, 1, 1, tzinfo=zone) - _ZONE_MARGIN
    end = datetime(year + 1, 1, 1, tzinfo=zone) + _ZONE_MARGIN
    queries = [
        # a time range selects overlapping recordings: the exact start-year test follows
        Query(unit=unit, start=start, end=end),
        # items without a recording start are outside every time range; these are the kinds
        # that may lack one (a timed document or a pending recording is caught above too)
        Query(unit=unit, status=UNTIMED_STATUS),
        *(Query(unit=unit, kind=k) for k in UNTIMED_KINDS),
    ]
    seen: set[str] = set()
    out: list[Item] = []
    for n, q in enumerate(queries):
        for item in catalog.iter_items(q, PAGE_SIZE):
            if item.id in seen or (n > 0 and item.description.recorded_start is not None):
                continue
            if item_year(item, zone_of(item)) != year:
                continue
            seen.add(item.id)
            out.append(item)
    return out
