"""Retention periods from the unit's rules: pure functions of dates, no I/O.

Retain-until counts from the later of recorded end and ingest, so a camera whose clock was
reset to 2000 cannot make fresh evidence disposable.
"""

from __future__ import annotations

import calendar
from datetime import datetime
from zoneinfo import ZoneInfo


def add_months(dt: datetime, months: int) -> datetime:
    """Calendar months; a day past the new month's end becomes its last day (31 Aug + 6 = 28/29
    Feb)."""
    y, m = divmod(dt.month - 1 + months, 12)
    year, month = dt.year + y, m + 1
    day = min(dt.day, calendar.monthrange(year, month)[1])
    return dt.replace(year=year, month=month, day=day)


def routine_retain_until(unit_rules: dict, recorded_end: datetime | None,
                         ingested_at: datetime, zone: ZoneInfo) -> datetime:
    start = max(t for t in (recorded_end, ingested_at) if t is not None)
    local = start.astimezone(zone)
    return add_months(local, int(unit_rules["routine_months"]))
