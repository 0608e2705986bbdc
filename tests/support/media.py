"""Media for the viewing tests and the browser journey: a small real MP4 (H.264 + AAC, made by
ffmpeg with libx264) that Debian's chromium plays and seeks, and a helper that archives a file
as an item whose format check says what it is (as ingest records it), so the console knows
how to show it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from archive.domain.model import Description
from ingest.samples import ffmpeg

T0 = datetime(2026, 3, 2, 1, tzinfo=timezone.utc)


def make_playable_mp4(path: Path | str, seconds: int = 10, size: str = "320x240") -> Path:
    """An H.264 (Constrained Baseline, yuv420p) + AAC MP4 with its index first (faststart) and
    a key frame every second, so a browser starts at once and a seek lands near where asked;
    a moving test pattern with a timer, so a screenshot shows that it plays. About 300 KB for
    ten seconds at 320x240; Debian's chromium plays it and seeks in it (checked here)."""
    path = Path(path)
    ffmpeg("-f", "lavfi", "-i", f"testsrc=size={size}:rate=25:duration={seconds}",
           "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}",
           "-c:v", "libx264", "-profile:v", "baseline", "-preset", "ultrafast",
           "-pix_fmt", "yuv420p", "-g", "25", "-c:a", "aac", "-b:a", "64k",
           "-movflags", "+faststart", "-threads", "1", str(path))
    return path


# what ingest's format identification records, for the kinds the tests archive
FORMATS = {".mp4": ("video", {"mime": "video/mp4", "container": "MPEG-4",
                              "codecs": ["AVC", "AAC"]}),
           ".jpg": ("photo", {"mime": "image/jpeg", "codecs": []}),
           ".pdf": ("document", {"mime": "application/pdf", "codecs": []}),
           ".avi": ("video", {"mime": "video/x-msvideo", "container": "AVI",
                              "codecs": ["JPEG", "PCM"]}),
           ".hevc.mp4": ("video", {"mime": "video/mp4", "container": "MPEG-4",
                                   "codecs": ["HEVC", "AAC"]})}


def archive_file(archive, actor, path: Path, *, unit: str = "market-001",
                 confidential: str | None = None, fmt: str | None = None,
                 data: bytes | None = None) -> str:
    """Archive ``path`` (or ``data`` under its name) as an item of ``unit`` with the format
    check ingest would record for its kind (``fmt``: a key of FORMATS, default the suffix);
    returns the item id."""
    key = fmt or Path(path).suffix.lower()
    kind, check = FORMATS[key]
    body = data if data is not None else Path(path).read_bytes()
    d = Description(kind=kind, unit=unit, device_id="D1", officers=["O1"], recorded_start=T0,
                    recorded_end=T0 + timedelta(minutes=1), party="王五", cause="无照经营",
                    confidential=confidential,
                    source={"original_name": f"DSJ/{Path(path).name}"})
    until = datetime.now(timezone.utc) + timedelta(days=30)
    return archive.archive_stream([body], d, actor, until,
                                  checks={"format": dict(check)}).item.id
