"""Reading times people and devices give: with an offset as given, without one in a zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from archive.domain.errors import InputError
from i18n import N_


def parse_time(text: str, zone: ZoneInfo | None, what: str = "time") -> datetime:
    """ISO 8601 (a space may stand for 'T'); a time without an offset is read in ``zone``.

    Refused when it has no offset and no zone is configured: guessing a zone would shift
    evidence by hours.
    """
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputError(N_("{what}: {text!r} is not an ISO 8601 time"), what=what,
                         text=text) from exc
    if dt.tzinfo is None:
        if zone is None:
            raise InputError(N_("{what}: {text!r} has no UTC offset and no time zone is "
                                "configured for its unit"), what=what, text=text)
        dt = dt.replace(tzinfo=zone)
    return dt
