"""Format identification for intake: what the bytes are, whether the declared kind accepts
them, and whether they are whole.

libmagic (python-magic) names the content from the head the caller already read; MediaInfo
reads audio/video headers; our own checks cover what libmagic cannot see (OFD is a zip to it,
PDF encryption is invisible to it). Every check reads a bounded amount, whatever the file size.

Problem codes (a report lists every one found):
  identity  kind_not_allowed, extension_mismatch, no_video_track, pdf_encrypted,
            pdf_xref_offset (readers repair it)
  damage    empty, truncated, media_unreadable, no_streams, no_duration, pdf_no_header,
            pdf_no_startxref, pdf_bad_xref, ofd_* (see DAMAGE_CODES)
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import PurePath

import magic

from i18n import Text
from scanners.media import read_media
from scanners.ofd import check_ofd
from scanners.pdf import check_pdf
from scanners.problems import problem

HEAD_BYTES = 1024 * 1024  # libmagic sees at most this much of the head
OFD_MIME = "application/ofd"
KINDS = ("video", "audio", "photo", "document", "data")
# the kinds as a person reads them inside a sentence (archive/domain/names.py KIND_ZH says the
# same; scanners stay free of the archive package)
KIND_TEXT = {"video": Text("video"), "audio": Text("audio"), "photo": Text("photo"),
             "document": Text("document"), "data": Text("data")}


def kind_text(kind: str | None) -> Text | str:
    """The kind inside a message: its name in the reader's language, an unknown one as is."""
    return KIND_TEXT.get(kind or "", kind or "")

DAMAGE_CODES = frozenset({
    "empty", "truncated", "media_unreadable", "no_streams", "no_duration",
    "pdf_no_header", "pdf_no_startxref", "pdf_bad_xref",
    "ofd_unreadable", "ofd_too_large", "ofd_no_root", "ofd_bad_xml", "ofd_bad_root",
    "ofd_no_docroot", "ofd_missing_docroot",
})

_ISO_MEDIA = frozenset({"video/mp4", "video/quicktime", "video/3gpp", "video/3gpp2",
                        "audio/mp4", "audio/x-m4a", "video/x-m4v"})
_TEXT = "text/plain"
# The content each extension may hold. ISO media (mp4, mov, 3gp, m4a) are one container whose
# brand cameras pick freely, so any of them fits any of those extensions. libmagic calls JSON
# text/plain when the head cuts it short (an export longer than HEAD_BYTES), XML without a
# declaration too, and CSV it finds irregular.
EXTENSION_MIMES: dict[str, frozenset[str]] = {
    **dict.fromkeys(("mp4", "m4v", "mov", "qt", "3gp", "3g2", "m4a"), _ISO_MEDIA),
    "avi": frozenset({"video/x-msvideo", "video/avi"}),
    "wav": frozenset({"audio/x-wav", "audio/wav", "audio/vnd.wave"}),
    "mp3": frozenset({"audio/mpeg"}),
    "amr": frozenset({"audio/amr", "audio/amr-wb"}),
    **dict.fromkeys(("jpg", "jpeg"), frozenset({"image/jpeg"})),
    "png": frozenset({"image/png"}),
    **dict.fromkeys(("tif", "tiff"), frozenset({"image/tiff"})),
    "pdf": frozenset({"application/pdf"}),
    "ofd": frozenset({OFD_MIME}),
    "json": frozenset({"application/json", _TEXT}),
    "csv": frozenset({"text/csv", _TEXT}),
    "xml": frozenset({"text/xml", "application/xml", _TEXT}),
    **dict.fromkeys(("txt", "log"), frozenset({_TEXT})),
    "zip": frozenset({"application/zip"}),
}
_DATA_MIMES = frozenset({"application/json", "text/csv", "text/xml", "application/xml", _TEXT})
_UNKNOWN_MIME = "application/octet-stream"
_VAGUE_MIMES = frozenset({_UNKNOWN_MIME, _TEXT})  # libmagic's "bytes" and "some text"
_IMAGE_TAIL_BYTES = 64 * 1024  # room for padding to a card's sector or cluster after the end


@dataclass
class FormatReport:
    mime: str                      # libmagic's MIME; OFD corrected to application/ofd
    description: str               # libmagic's description (an OFD still reads "Zip archive")
    kind_allowed: bool
    extension: str                 # lower case, without the dot; '' if none
    extension_matches: bool | None  # None: extension not in EXTENSION_MIMES (or empty file)
    container: str | None = None   # MediaInfo General Format: MPEG-4, Wave, AVI, AMR, ...
    duration_s: float | None = None
    creation_time: str | None = None  # as MediaInfo prints it, e.g. "2026-03-15 01:00:00 UTC"
    creation_time_utc: bool | None = None  # False: another offset is stated; None: no zone
    codecs: list[str] = field(default_factory=list)
    truncated: bool = False
    encrypted: bool = False
    problems: list[dict] = field(default_factory=list)

    @property
    def damaged(self) -> bool:
        """The content is broken (cut short, unparseable, empty), whatever the declared kind."""
        return self.truncated or any(p["code"] in DAMAGE_CODES for p in self.problems)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self) | {"damaged": self.damaged}


def sniff(head: bytes) -> tuple[str, str]:
    """libmagic MIME and description of the first bytes of a file (up to HEAD_BYTES used)."""
    head = head[:HEAD_BYTES]
    # python-magic keeps one libmagic handle per thread, so parallel ingest workers are safe.
    return magic.from_buffer(head, mime=True), magic.from_buffer(head)


def identify(path: str | os.PathLike, head: bytes) -> tuple[str, str]:
    """sniff, with an OFD package named application/ofd: the MIME to give guess_kind."""
    mime, description = sniff(head)
    if mime == "application/zip" and check_ofd(path, head).is_ofd:
        mime = OFD_MIME
    return mime, description


def check_format(path: str | os.PathLike, kind: str, head: bytes,
                 allowed: dict[str, list[str]], name: str | None = None) -> FormatReport:
    """Identify the file at path, declared as kind, against allowed (config [formats]).

    head is the start of the file from the caller's own read (read here if empty); name is the
    original file name, for the extension (default: path's name).
    """
    if kind not in allowed:
        raise ValueError(f"unknown kind {kind!r}: expected one of {sorted(allowed)}")
    extension = _extension(name if name is not None else os.fspath(path))
    if os.stat(path).st_size == 0:
        mime, description = sniff(b"")
        return FormatReport(mime, description, kind_allowed=False, extension=extension,
                            extension_matches=None,
                            problems=[_p("empty", Text("the file is empty (0 bytes)"))])
    if not head:
        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
    mime, description = sniff(head)
    report = FormatReport(mime, description, kind_allowed=False, extension=extension,
                          extension_matches=None)
    found: list[dict] = []

    # The extension picks a checker only when libmagic has no opinion: a PDF renamed .ofd is
    # a mismatch, not a broken OFD.
    vague = mime in _VAGUE_MIMES
    if mime == "application/zip" or (vague and extension == "ofd"):
        ofd = check_ofd(path, head)
        if ofd.is_ofd:
            report.mime = OFD_MIME
        if ofd.is_ofd or extension == "ofd":
            found += ofd.problems
    if mime == "application/pdf" or (vague and extension == "pdf"):
        found += check_pdf(path, head)
    if mime.startswith(("video/", "audio/")) or (
            mime == _UNKNOWN_MIME and kind in ("video", "audio")):
        found += _media(report, path, kind)
    if mime in ("image/jpeg", "image/png"):
        found += _image_end(path, mime)

    report.encrypted = any(p["code"] == "pdf_encrypted" for p in found)
    report.truncated = report.truncated or any(p["code"] == "truncated" for p in found)
    report.kind_allowed = report.mime.lower() in {m.lower() for m in allowed[kind]}
    fits = EXTENSION_MIMES.get(extension)
    report.extension_matches = None if fits is None else report.mime.lower() in fits
    if not report.kind_allowed:
        report.problems.append(_p("kind_not_allowed", Text(
            "{mime} is not an allowed {kind} format", mime=report.mime, kind=kind_text(kind))))
    if report.extension_matches is False:
        report.problems.append(_p("extension_mismatch", Text(
            "extension .{extension} does not fit {mime} content", extension=extension,
            mime=report.mime)))
    report.problems += found
    return report


def guess_kind(mime: str, extension: str) -> str | None:
    """The kind (video, audio, photo, document, data) of content with no declared kind."""
    mime, extension = mime.lower(), extension.lower().lstrip(".")
    if mime in _ISO_MEDIA and extension == "m4a":  # the container cannot tell; the name can
        return "audio"
    if mime.startswith("video/"):
        return "video"
    if mime.startswith("audio/"):
        return "audio"
    if mime == "image/tiff":  # scanners write TIFF; cameras write JPEG
        return "document"
    if mime.startswith("image/"):
        return "photo"
    if mime in ("application/pdf", OFD_MIME) or (mime == "application/zip" and extension == "ofd"):
        return "document"
    if mime in _DATA_MIMES:
        return "data"
    return None


def _media(report: FormatReport, path: str | os.PathLike, kind: str) -> list[dict]:
    facts = read_media(path)
    report.container, report.duration_s = facts.container, facts.duration_s
    report.creation_time, report.creation_time_utc = facts.creation_time, facts.creation_time_utc
    report.codecs, report.truncated = facts.codecs, facts.truncated
    problems = list(facts.problems)
    if kind == "video" and facts.has_audio and not facts.has_video:
        problems.append(_p("no_video_track", Text("declared video, but only audio is recorded")))
    return problems


def _image_end(path: str | os.PathLike, mime: str) -> list[dict]:
    # A photo cut short by power loss has no end marker; libmagic and MediaInfo both miss it.
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - _IMAGE_TAIL_BYTES))
        tail = f.read()
    if mime == "image/jpeg":
        # Cameras may pad after EOI with 00 or FF. Data appended after the image (phone "motion
        # photos") also lands here: the message says so.
        if not tail.rstrip(b"\x00\xff").endswith(b"\xff\xd9"):
            return [_p("truncated", Text("JPEG does not end with its end-of-image marker (FF D9): "
                                         "cut short, or data appended after the image"))]
    elif b"IEND\xaeB`\x82" not in tail:
        return [_p("truncated", Text("PNG does not end with its IEND chunk: cut short"))]
    return []


def _extension(name: str) -> str:
    # Original names may come from Windows offload stations: split on both separators.
    base = PurePath(name.replace("\\", "/")).name
    return PurePath(base).suffix.lower().lstrip(".")


def _p(code: str, text: Text) -> dict:
    return problem(code, text)
