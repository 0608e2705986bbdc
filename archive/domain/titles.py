"""The 题名 (title) of an item: given by a person (a manifest's ``title``) or composed from
its metadata, e.g. ``2026年3月15日 张警官 现场勘验 王五 无照经营 执法记录仪视频（2/3）``.

Pure: the caller passes the zone the date is read in and the officers' names. A composed
title is stored in the signed metadata version and composed again whenever the metadata it
is made of changes (a completion); items stored before titles existed have it composed on
read (:func:`title_of`). A title holds the party and the cause, so it is as confidential as
they are (:func:`masked_title`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime, tzinfo

from archive.domain.model import Description
from archive.domain.names import KIND_TITLE_ZH

MASK = "***"
MAX_OFFICERS = 3  # a title names the first officers; the rest are in the metadata


def _date(when: datetime | None, zone: tzinfo | None) -> str | None:
    if when is None:
        return None
    local = when.astimezone(zone) if zone else when
    return f"{local.year}年{local.month}月{local.day}日"


def _parse(value: object) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def compose_title(description: object, zone: tzinfo | None = None,
                  names: Mapping[str, str] | None = None) -> str:
    """The title made of an item's metadata (a Description or its dict): recording date in
    the unit's zone, officers by name, activity type, party, cause, what it is, segment."""
    d = description.to_dict() if hasattr(description, "to_dict") else dict(description)
    names = names or {}
    extra = d.get("extra") or {}
    when = _parse(d.get("recorded_start")) or _parse(extra.get("document_date"))
    officers = [names.get(o) or o for o in (d.get("officers") or [])[:MAX_OFFICERS]]
    if len(d.get("officers") or []) > MAX_OFFICERS:
        officers[-1] += "等"
    what = KIND_TITLE_ZH.get(d.get("kind") or "", d.get("kind") or "")
    if d.get("kind") == "document" and isinstance(extra.get("document_type"), str):
        what = extra["document_type"]
    elif d.get("kind") in ("video", "audio") and not d.get("device_id"):
        what = {"video": "视频", "audio": "录音"}[d["kind"]]
    segment = extra.get("segment")
    if isinstance(segment, str) and segment:
        what += f"（{segment}）"
    parts = [_date(when, zone), "、".join(officers) or None, d.get("activity_type"),
             d.get("party"), d.get("cause"), what]
    return " ".join(p for p in parts if p)


def title_of(description: object, zone: tzinfo | None = None,
             names: Mapping[str, str] | None = None) -> str:
    """The item's title: the stored one, else (stored before titles existed) composed now."""
    d = description.to_dict() if hasattr(description, "to_dict") else dict(description)
    given_before = (d.get("extra") or {}).get("title")  # a manifest's title, before 题名 existed
    return d.get("title") or (given_before if isinstance(given_before, str) and given_before
                              else compose_title(d, zone, names))


def masked_title(description: Mapping) -> str | None:
    """The title of a description dict for a viewer who may not see its party and cause: a
    composed title keeps its other parts with those two masked; a title a person wrote may
    name them in any words, so it is masked whole."""
    title = description.get("title")
    if not title:
        return title
    if not description.get("title_composed"):
        return MASK
    for secret in sorted((description.get(k) for k in ("party", "cause")
                          if isinstance(description.get(k), str)
                          and description.get(k) not in ("", MASK)),
                         key=len, reverse=True):
        title = title.replace(secret, MASK)
    return title


def with_title(description: Description, given: str | None, zone: tzinfo | None = None,
               names: Mapping[str, str] | None = None) -> Description:
    """The description with its title: the one a person gave, else composed from it."""
    if given and given.strip():
        return dataclasses.replace(description, title=given.strip(), title_composed=False)
    return dataclasses.replace(description, title=compose_title(description, zone, names),
                               title_composed=True)


def retitled(description: Description, zone: tzinfo | None = None,
             names: Mapping[str, str] | None = None) -> Description:
    """After a correction: a composed title (or none yet) is composed again from the corrected
    fields; a title a person gave stays."""
    if description.title and not description.title_composed:
        return description
    return with_title(description, None, zone, names)
