"""A small corpus of real and broken evidence files, generated into a directory in about a second.

Media come from ffmpeg's test sources (tiny, two seconds); PDF, OFD, AMR, WAV and the data files
are written by hand so their bytes are exactly what a test expects. Nothing is downloaded.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ingest.samples import (  # noqa: F401  (re-exported for the tests)
    CREATION_TIME,
    OFD_NS,
    ffmpeg,
    ffmpeg_encoders,
    make_amr,
    make_image,
    make_mp3,
    make_mp4,
    make_ofd,
    make_pdf,
    make_video,
    make_wav,
    ofd_root_xml,
    truncate,
    write_zip,
)


def make_zip64(path: Path | str) -> Path:
    """A small zip in zip64 form (zip64 end record and extra fields)."""
    return write_zip(path, {"export/readme.txt": b"zip64 sample\n",
                             "export/data.json": b'{"device": "DSJ-0001"}\n'}, zip64=True)


def make_zip_bomb(path: Path | str, levels: int = 3, fan_out: int = 16) -> Path:
    """Nested zips: 1 MiB of zeros, then fan_out copies of the zip below, levels deep. A few KB
    on disk that would inflate to 1 MiB * fan_out ** (levels - 1) (256 MiB by default)."""
    data = _zip_bytes({"0.bin": bytes(1 << 20)})
    for _ in range(levels - 1):
        data = _zip_bytes({f"{i}.zip": data for i in range(fan_out)})
    Path(path).write_bytes(data)
    return Path(path)


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


# -- system data exports ---------------------------------------------------------------------

_RECORDS = [
    {"device_id": "DSJ-0001", "officer": "P001", "file": "20260315_090000.mp4",
     "start": "2026-03-15T09:00:00+08:00", "end": "2026-03-15T09:10:00+08:00", "cause": "占道经营"},
    {"device_id": "DSJ-0001", "officer": "P001", "file": "20260315_091500.mp4",
     "start": "2026-03-15T09:15:00+08:00", "end": "2026-03-15T09:20:00+08:00", "cause": "占道经营"},
]


def make_json(path: Path | str) -> Path:
    Path(path).write_text(json.dumps({"records": _RECORDS}, ensure_ascii=False, indent=2),
                          encoding="utf-8")
    return Path(path)


def make_csv(path: Path | str) -> Path:
    header = list(_RECORDS[0])
    lines = [",".join(header)] + [",".join(r[k] for k in header) for r in _RECORDS]
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Path(path)


def make_xml(path: Path | str) -> Path:
    rows = "".join(f'  <record device="{r["device_id"]}" start="{r["start"]}">{r["file"]}'
                   "</record>\n" for r in _RECORDS)
    Path(path).write_text(f'<?xml version="1.0" encoding="UTF-8"?>\n<records>\n{rows}</records>\n',
                          encoding="utf-8")
    return Path(path)


# -- the whole corpus ------------------------------------------------------------------------

def make_corpus(directory: Path | str) -> dict[str, Path]:
    """Every sample, by name, written into directory. mp3 is left out when ffmpeg has no MP3
    encoder; every other sample is always there."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    jobs: dict[str, Callable[[], Path]] = {
        "mp4": lambda: make_mp4(d / "video.mp4"),
        "mp4_faststart": lambda: make_mp4(d / "video_faststart.mp4", faststart=True),
        "mov": lambda: make_video(d / "video.mov"),
        "avi": lambda: make_video(d / "video.avi", creation_time=None),
        "3gp": lambda: make_video(d / "video.3gp", creation_time=None),
        "mp4_audio_only": lambda: make_mp4(d / "audio_only.mp4", video=False),
        "jpeg": lambda: make_image(d / "photo.jpg"),
        "png": lambda: make_image(d / "photo.png"),
        "tiff": lambda: make_image(d / "scan.tiff"),
    }
    if "libmp3lame" in ffmpeg_encoders():
        jobs["mp3"] = lambda: make_mp3(d / "audio.mp3")
    with ThreadPoolExecutor(max_workers=4) as pool:  # ffmpeg start-up dominates: overlap it
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        out = {name: f.result() for name, f in futures.items()}

    out["mp4_truncated"] = truncate(out["mp4"], d / "video_truncated.mp4")
    out["mp4_faststart_truncated"] = truncate(out["mp4_faststart"],
                                              d / "video_faststart_truncated.mp4")
    out["wav"] = make_wav(d / "audio.wav")
    out["wav_truncated"] = truncate(out["wav"], d / "audio_truncated.wav")
    out["amr"] = make_amr(d / "audio.amr")
    out["jpeg_truncated"] = truncate(out["jpeg"], d / "photo_truncated.jpg")
    out["pdf"] = make_pdf(d / "record.pdf")
    out["pdf_encrypted"] = make_pdf(d / "record_encrypted.pdf", encrypted=True)
    out["pdf_xref_stream"] = make_pdf(d / "record_xref_stream.pdf", xref_stream=True)
    out["pdf_encrypted_xref_stream"] = make_pdf(d / "record_encrypted_xref_stream.pdf",
                                                encrypted=True, xref_stream=True)
    out["pdf_truncated"] = truncate(out["pdf"], d / "record_truncated.pdf")
    out["pdf_as_mp4"] = d / "renamed_pdf.mp4"
    out["pdf_as_mp4"].write_bytes(out["pdf"].read_bytes())
    out["ofd"] = make_ofd(d / "record.ofd")
    out["ofd_zip64"] = make_ofd(d / "record_zip64.ofd", zip64=True)
    out["ofd_no_root"] = make_ofd(d / "broken_no_root.ofd", with_root=False)
    out["ofd_bad_docroot"] = make_ofd(d / "broken_docroot.ofd",
                                      root_xml=ofd_root_xml("Doc_1/Document.xml"))
    out["ofd_not_xml"] = make_ofd(d / "broken_not_xml.ofd", root_xml="<ofd:OFD")
    out["ofd_truncated"] = truncate(out["ofd"], d / "record_truncated.ofd")
    out["empty"] = d / "empty.mp4"
    out["empty"].write_bytes(b"")
    out["json"] = make_json(d / "export.json")
    out["csv"] = make_csv(d / "export.csv")
    out["xml"] = make_xml(d / "export.xml")
    out["zip64"] = make_zip64(d / "export_zip64.zip")
    out["zip_bomb"] = make_zip_bomb(d / "bomb.zip")
    return out

