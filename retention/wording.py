"""Stored codes and times inside a message a person reads.

A code (a role, a flag reason, a tier, a state) stays the code for machines and for a reader of
English, and reads as its Chinese name (archive/domain/names.py and the tables beside the
codes) for a Chinese reader; a time reads in the unit's zone, to the minute.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone, tzinfo
from functools import cache

import i18n
from i18n import Text


class Named(Text):
    """A code in a message: ``str()`` the code (English, stable), ``localized()`` its name in
    ``names`` unless the reader reads English."""

    __slots__ = ("code", "names")

    def __init__(self, code: str | None, names: Mapping[str, str]) -> None:
        super().__init__(code or "")
        self.code, self.names = code or "", names

    def __str__(self) -> str:
        return self.code

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Named) and (self.code, self.names) == (other.code, other.names)

    def __hash__(self) -> int:
        return hash(self.code)

    def localized(self) -> str:
        if i18n.language() == "en":
            return self.code
        return self.names.get(self.code, self.code)


def local_minute(value: datetime | str, zone: tzinfo | None) -> str:
    """A time as an archivist reads it: to the minute in the unit's zone (2026-03-17 09:00);
    'UTC' is named when no unit zone is known."""
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(
        value.replace("Z", "+00:00"))
    if zone is None or zone == timezone.utc:
        return f"{dt.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC"
    return f"{dt.astimezone(zone):%Y-%m-%d %H:%M}"


class Joined(Text):
    """Several texts in one message: each in the reader's language, joined by '; ' for
    English and '；' for Chinese."""

    __slots__ = ("parts",)

    def __init__(self, parts: list[Text | str]) -> None:
        super().__init__("; ".join(map(str, parts)))
        self.parts = list(parts)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Joined) and self.parts == other.parts

    def __hash__(self) -> int:
        return hash(self.template)

    def localized(self) -> str:
        sep = "; " if i18n.language() == "en" else "；"
        return sep.join(i18n.localize(p) for p in self.parts)


class Stored(Text):
    """A problem record (``problem()``: code, message, text) inside another message: its
    English message, or the text it was worded in for its reader."""

    __slots__ = ("record",)

    def __init__(self, record: dict) -> None:
        super().__init__(str(record.get("message", "")))
        self.record = record

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Stored) and self.record == other.record

    def __hash__(self) -> int:
        return hash(self.template)

    def localized(self) -> str:
        text = self.record.get("text")
        if i18n.language() == "en" or not (isinstance(text, str) and text):
            return i18n.localize(self.template)  # the message is the English wording
        return text


def reword(stored: str, templates: Iterable[str]) -> Text | None:
    """A sentence stored in English, made by one of ``templates`` (``str.format``), as the
    ``Text`` that made it, so it reads in the reader's language; None when no template fits.
    For records whose English words are part of what is signed and compared."""
    for template in templates:
        m = _pattern(template).fullmatch(stored)
        if m:
            return Text(template, **m.groupdict())
    return None


@cache
def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    return re.compile("".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)"
                              for i, p in enumerate(parts)), re.DOTALL)
