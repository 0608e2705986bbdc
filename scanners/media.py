"""Audio/video facts from MediaInfo (pymediainfo): container, duration, embedded time, truncation.

MediaInfo reads headers and seeks to the index; it never decodes the streams, so a 2 GB
recording costs a fraction of a second. The pymediainfo wheel bundles libmediainfo.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import BinaryIO
from xml.etree.ElementTree import ParseError

from pymediainfo import MediaInfo

from i18n import Text
from scanners.problems import problem

# Where an embedded creation time may sit, most trusted first. Encoded/Tagged are the mp4/mov
# mvhd/tkhd times; Recorded is ©day/ID3 date; the Apple key is written by phones.
_TIME_FIELDS = ("encoded_date", "tagged_date", "recorded_date", "comapplequicktimecreationdate")
_OFFSET = re.compile(r"([+-])(\d\d):?(\d\d)$")


@dataclass
class MediaFacts:
    container: str | None = None
    duration_s: float | None = None
    creation_time: str | None = None
    creation_time_utc: bool | None = None
    codecs: list[str] = field(default_factory=list)
    has_video: bool = False
    has_audio: bool = False
    truncated: bool = False
    problems: list[dict] = field(default_factory=list)


def read_media(path: str | os.PathLike | BinaryIO) -> MediaFacts:
    """``path`` may be an open, seekable binary file (an object read back from storage)."""
    facts = MediaFacts()
    source = path if hasattr(path, "read") else os.fspath(path)
    try:
        # parse_speed=0: headers and index only; IsTruncated is still computed from box sizes.
        info = MediaInfo.parse(source, parse_speed=0)
    except (RuntimeError, ParseError) as e:
        facts.problems.append(problem("media_unreadable",
                                      Text("MediaInfo failed: {error}", error=str(e))))
        return facts
    general = info.general_tracks[0] if info.general_tracks else None
    streams = info.video_tracks + info.audio_tracks
    facts.has_video, facts.has_audio = bool(info.video_tracks), bool(info.audio_tracks)
    facts.codecs = [t.format for t in streams if t.format]
    if general is not None:
        facts.container = general.format
        facts.truncated = str(general.istruncated or "").lower() == "yes"
        facts.duration_s = _seconds(general.duration)
        facts.creation_time = _first_time(general)
    if facts.duration_s is None:
        durations = [d for d in (_seconds(t.duration) for t in streams) if d is not None]
        facts.duration_s = max(durations, default=None)
    if facts.creation_time is None:
        facts.creation_time = next(filter(None, (_first_time(t) for t in streams)), None)
    if facts.creation_time is not None:
        facts.creation_time_utc = time_is_utc(facts.creation_time)

    if facts.truncated:
        facts.problems.append(problem(
            "truncated", Text("MediaInfo: the file is shorter than its headers say")))
    if facts.container is None:
        facts.problems.append(problem(
            "media_unreadable", Text("MediaInfo does not recognise the container")))
    elif not streams:
        facts.problems.append(problem("no_streams", Text(
            "{container} without audio or video stream (index missing or damaged)",
            container=facts.container)))
    if facts.container is not None and not facts.duration_s:
        facts.problems.append(problem("no_duration", Text("no duration (zero or missing)")))
    return facts


def _seconds(ms: object) -> float | None:
    # pymediainfo gives int for whole milliseconds and a string such as "998.125" otherwise.
    try:
        seconds = float(str(ms)) / 1000 if ms is not None else None
    except ValueError:
        return None
    # "nan" or "inf" from a damaged header is no duration (and no JSON number either)
    return seconds if seconds is None or math.isfinite(seconds) else None


def _first_time(track: object) -> str | None:
    for name in _TIME_FIELDS:
        value = getattr(track, name, None)
        if value:
            return str(value)
    return None


def time_is_utc(raw: str) -> bool | None:
    """True when the string says UTC ("UTC 2026-..." from older MediaInfo, "... UTC" from newer,
    "Z" or +00:00), False when it carries another offset, None when it carries no zone."""
    s = raw.strip()
    if s.startswith("UTC ") or s.endswith(" UTC") or s.endswith("Z"):
        return True
    m = _OFFSET.search(s)
    if m:
        return m.group(2) == "00" and m.group(3) == "00"
    return None


def parse_creation_time(raw: str) -> datetime | None:
    """The embedded time as a datetime: aware (UTC or the stated offset) when the string says
    which, naive when it does not, so the caller applies the device model's zone rule."""
    s = raw.strip()
    utc = time_is_utc(s)
    s = s.removeprefix("UTC ").removesuffix(" UTC").strip()
    if s.endswith("Z"):
        s = s[:-1]
    try:
        t = datetime.fromisoformat(s)
    except ValueError:
        return None
    if utc and t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t
