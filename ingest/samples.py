"""Sample recordings and documents: real H.264/AAC video (ffmpeg), PCM audio, images, PDF and
OFD files with exact structure. The demo builds its offload from these; the tests build their
corpus on them.
"""
from __future__ import annotations

import functools
import shutil
import struct
import subprocess
import wave
import zipfile
from pathlib import Path

CREATION_TIME = "2026-03-15T01:00:00Z"
OFD_NS = "http://www.ofdspec.org/2016"


# -- audio and video -----------------------------------------------------------------------

def ffmpeg(*args: str) -> None:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise RuntimeError("ffmpeg is not installed (scripts/install.sh installs it)")
    run = subprocess.run([exe, "-hide_banner", "-loglevel", "error", "-y", *args],
                         capture_output=True, text=True, timeout=60)
    if run.returncode != 0:
        raise RuntimeError(f"ffmpeg {' '.join(args)} failed: {run.stderr.strip()}")


@functools.cache
def ffmpeg_encoders() -> frozenset[str]:
    exe = shutil.which("ffmpeg")
    if exe is None:
        return frozenset()
    out = subprocess.run([exe, "-hide_banner", "-encoders"], capture_output=True, text=True,
                         timeout=30).stdout
    return frozenset(line.split()[1] for line in out.splitlines()
                     if len(line.split()) > 1 and line.startswith(" ") and "=" not in line)


def make_video(path: Path | str, seconds: float = 2, creation_time: str | None = CREATION_TIME,
               *, video: bool = True, audio: bool = True, faststart: bool = False) -> Path:
    """A 160x120 10 fps test pattern and a 440 Hz tone, muxed by the suffix (.mp4, .mov, .3gp:
    H.264 + AAC; .avi: Motion JPEG + PCM, as older body cameras write). video=False makes an
    audio-only file, as a camera's audio mode does. creation_time None writes none."""
    path = Path(path)
    avi = path.suffix.lower() == ".avi"
    inputs, args = [], []  # ffmpeg wants every input before the output options
    if video:
        inputs += ["-f", "lavfi", "-i", f"testsrc=size=160x120:rate=10:duration={seconds}"]
        args += (["-c:v", "mjpeg", "-q:v", "20"] if avi else
                 ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"])
    if audio:
        inputs += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=8000:duration={seconds}"]
        args += ["-c:a", "pcm_s16le"] if avi else ["-c:a", "aac", "-b:a", "24k"]
    if creation_time is not None:
        args += ["-metadata", f"creation_time={creation_time}"]
    if faststart:  # index (moov) before the data, as streaming writers do
        args += ["-movflags", "+faststart"]
    ffmpeg(*inputs, *args, "-threads", "1", str(path))
    return path


def make_mp4(path: Path | str, seconds: float = 2, creation_time: str | None = CREATION_TIME,
             **kw) -> Path:
    """H.264 + AAC mp4, index at the end as cameras write it (unless faststart=True)."""
    return make_video(path, seconds, creation_time, **kw)


def truncate(src: Path | str, dst: Path | str, fraction: float = 0.5) -> Path:
    """dst = the first fraction of src: a recording cut short by power loss or a bad copy."""
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[:int(len(data) * fraction)])
    return Path(dst)


def make_wav(path: Path | str, seconds: float = 2, rate: int = 8000) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(2 * int(rate * seconds)))
    return Path(path)


def make_mp3(path: Path | str, seconds: float = 2,
             creation_time: str | None = CREATION_TIME) -> Path:
    args = ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=8000:duration={seconds}",
            "-c:a", "libmp3lame", "-b:a", "32k"]
    if creation_time is not None:
        args += ["-metadata", f"creation_time={creation_time}"]
    ffmpeg(*args, str(path))
    return Path(path)


def make_amr(path: Path | str, seconds: float = 2) -> Path:
    """AMR-NB (RFC 4867 file format), 12.2 kbit/s frames of silence, 50 per second. Written by
    hand because ffmpeg here has no AMR encoder (libopencore-amrnb is not built in)."""
    frame = bytes([0x3C]) + bytes(31)  # frame header: mode 7 (12.2k), quality bit set
    Path(path).write_bytes(b"#!AMR\n" + frame * int(50 * seconds))
    return Path(path)


def make_image(path: Path | str) -> Path:
    """One 160x120 test frame; the format follows the suffix (.jpg, .png, .tiff)."""
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120", "-frames:v", "1", str(path))
    return Path(path)


# -- documents ------------------------------------------------------------------------------

def _pdf_objects(text: str) -> list[bytes]:
    content = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode("latin-1")
    return [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]


# RC4-40 standard security handler values; the page is left in the clear because only the
# dictionary's presence is under test, not decryption.
_ENCRYPT_DICT = (b"<< /Filter /Standard /V 1 /R 2 /P -3904 /O <" + b"4f" * 32 + b"> /U <"
                 + b"55" * 32 + b"> >>")
_FILE_ID = b"[<00112233445566778899aabbccddeeff> <00112233445566778899aabbccddeeff>]"


def make_pdf(path: Path | str, *, encrypted: bool = False, xref_stream: bool = False,
             text: str = "custody test page: see /Encrypt") -> Path:
    """A one-page PDF with exact offsets. The page text names /Encrypt on purpose: a checker
    must look at the trailer, not the words. xref_stream writes a PDF 1.5 cross-reference
    stream, padded with free entries so its dictionary lies more than 64 KiB before the end."""
    objects = _pdf_objects(text) + ([_ENCRYPT_DICT] if encrypted else [])
    out = bytearray(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n" if xref_stream else
                    b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    extra = b" /Encrypt %d 0 R /ID %s" % (len(objects), _FILE_ID) if encrypted else b""
    xref_at = len(out)
    if xref_stream:
        number = len(objects) + 1
        size = 12_000  # 12,000 rows of 7 bytes: 84 KB of table after the dictionary
        rows = [struct.pack(">BIH", 0, 0, 0xFFFF)]
        rows += [struct.pack(">BIH", 1, off, 0) for off in offsets + [xref_at]]
        rows += [struct.pack(">BIH", 0, 0, 0)] * (size - len(rows))
        data = b"".join(rows)
        out += (b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root 1 0 R%s /Length %d >>\n"
                b"stream\n%s\nendstream\nendobj\n" % (number, size, extra, len(data), data))
    else:
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
        out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
        out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\n" % (len(objects) + 1, extra)
    out += b"startxref\n%d\n%%%%EOF\n" % xref_at
    Path(path).write_bytes(out)
    return Path(path)


def ofd_root_xml(doc_root: str = "Doc_0/Document.xml") -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<ofd:OFD xmlns:ofd="{OFD_NS}" Version="1.0" DocType="OFD">'
            f"<ofd:DocBody><ofd:DocInfo><ofd:DocID>6f9a1c2e0d3b4e5f8a7b6c5d4e3f2a1b</ofd:DocID>"
            f"<ofd:Title>询问笔录</ofd:Title><ofd:CreationDate>2026-03-15</ofd:CreationDate>"
            f"</ofd:DocInfo><ofd:DocRoot>{doc_root}</ofd:DocRoot></ofd:DocBody></ofd:OFD>")


_OFD_DOCUMENT = (
    f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Document xmlns:ofd="{OFD_NS}">'
    "<ofd:CommonData><ofd:MaxUnitID>2</ofd:MaxUnitID><ofd:PageArea>"
    "<ofd:PhysicalBox>0 0 210 297</ofd:PhysicalBox></ofd:PageArea></ofd:CommonData>"
    '<ofd:Pages><ofd:Page ID="1" BaseLoc="Pages/Page_0/Content.xml"/></ofd:Pages></ofd:Document>')
_OFD_PAGE = (f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Page xmlns:ofd="{OFD_NS}">'
             "<ofd:Content><ofd:Layer ID=\"2\"/></ofd:Content></ofd:Page>")


def make_ofd(path: Path | str, *, root_xml: str | bytes | None = None, with_root: bool = True,
             zip64: bool = False) -> Path:
    """An OFD package: OFD.xml (root_xml, default a valid one; str is written as UTF-8) ->
    Doc_0/Document.xml -> one page. with_root=False leaves OFD.xml out: a zip of OFD parts."""
    members = {"Doc_0/Document.xml": _OFD_DOCUMENT, "Doc_0/Pages/Page_0/Content.xml": _OFD_PAGE}
    if with_root:
        members = {"OFD.xml": root_xml if root_xml is not None else ofd_root_xml()} | members
    return write_zip(path, {n: t.encode() if isinstance(t, str) else t
                             for n, t in members.items()}, zip64=zip64)


def write_zip(path: Path | str, members: dict[str, bytes], *, zip64: bool = False,
               level: int = 6) -> Path:
    saved = zipfile.ZIP_FILECOUNT_LIMIT
    if zip64:
        # zipfile writes the zip64 end record only past 65,535 entries; a limit of 0 makes a
        # tiny archive carry one, with zip64 extra fields on every entry (force_zip64).
        zipfile.ZIP_FILECOUNT_LIMIT = 0
    try:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as z:
            for name, data in members.items():
                with z.open(name, "w", force_zip64=zip64) as member:
                    member.write(data)
    finally:
        zipfile.ZIP_FILECOUNT_LIMIT = saved
    if zip64:
        _defer_to_zip64_record(Path(path))
    return Path(path)


def _defer_to_zip64_record(path: Path) -> None:
    # Archives past the classic limits fill the classic end record's counts, size and offset
    # with FF..FF, so readers must take them from the zip64 record; do the same here.
    data = bytearray(path.read_bytes())
    at = data.rfind(b"PK\x05\x06")
    data[at + 8:at + 20] = struct.pack("<HHII", 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
    path.write_bytes(bytes(data))
