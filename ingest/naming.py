"""The body-camera file naming convention used as a fallback when no manifest row names a file.

``<device>_<YYYYMMDD>_<HHMMSS>_<sequence>.<ext>``, e.g. ``DSJ-0101_20260315_093000_0001.MP4``:
the device number, the local date and time the recording started, and the device's running
file number (used to find gaps: a recording may have been deleted on the device).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

_PATTERN = re.compile(
    r"^(?P<device>[A-Za-z0-9][A-Za-z0-9-]{0,31})_(?P<date>\d{8})_(?P<time>\d{6})_"
    r"(?P<seq>\d{1,8})\.[A-Za-z0-9]{1,5}$")


@dataclass(frozen=True)
class CameraName:
    device_id: str
    started: datetime  # naive: the camera's local clock
    sequence: int

    def start_in(self, zone: ZoneInfo) -> datetime:
        return self.started.replace(tzinfo=zone)


def parse_camera_name(name: str) -> CameraName | None:
    m = _PATTERN.match(name)
    if not m:
        return None
    try:
        started = datetime.strptime(m["date"] + m["time"], "%Y%m%d%H%M%S")
    except ValueError:
        return None
    return CameraName(m["device"], started, int(m["seq"]))
