"""OFD (GB/T 33190) structure check: a zip whose root holds OFD.xml, naming its documents.

libmagic calls every OFD a zip. We read the zip's central directory and at most a small OFD.xml
and never extract anything else, so zip bombs, zip64 and corrupt archives cost no more than
their directory. OFD.xml is UTF-8 XML by the standard; we refuse DOCTYPE outright, which rules
out entity expansion (billion laughs) before the parser runs.
"""

from __future__ import annotations

import os
import struct
import zipfile
from dataclasses import dataclass, field
from xml.etree import ElementTree

from i18n import Text
from scanners.problems import problem

OFD_NS = "http://www.ofdspec.org/2016"
ROOT_ENTRY = "OFD.xml"
MAX_ROOT_XML = 1024 * 1024  # real OFD.xml files are a few KiB
# zipfile builds one object per entry, so a huge directory is a memory bomb of its own; a real
# OFD has pages and resources in the thousands at most.
MAX_ENTRIES = 100_000
MAX_DIRECTORY_BYTES = 32 * 1024 * 1024

_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_EOCD64 = b"PK\x06\x06"


@dataclass
class OfdCheck:
    is_ofd: bool  # the package says it is an OFD (OFD.xml at its root), even a broken one
    problems: list[dict] = field(default_factory=list)


def check_ofd(path: str | os.PathLike, head: bytes) -> OfdCheck:
    # When the directory is unreadable, a first local entry named OFD.xml still tells us the
    # file was meant as an OFD (producers write it first).
    first_is_root = _first_local_name(head) == ROOT_ENTRY
    try:
        with open(path, "rb") as f:
            entries, directory_bytes = _directory_size(f)
            if entries > MAX_ENTRIES or directory_bytes > MAX_DIRECTORY_BYTES:
                return OfdCheck(first_is_root, [_p(
                    "ofd_too_large", Text(
                        "zip directory of {entries} entries, {size} bytes: not read",
                        entries=entries, size=directory_bytes))])
            with zipfile.ZipFile(f) as z:
                return _check_package(z)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
            struct.error) as e:
        return OfdCheck(first_is_root, [_p("ofd_unreadable", Text("the zip cannot be read: {error}",
                                                                 error=str(e)))])


def _check_package(z: zipfile.ZipFile) -> OfdCheck:
    names = set(z.namelist())
    if ROOT_ENTRY not in names:
        return OfdCheck(False, [_p("ofd_no_root", Text("no OFD.xml at the root of the zip"))])
    info = z.getinfo(ROOT_ENTRY)
    if info.file_size > MAX_ROOT_XML:
        return OfdCheck(True, [_p("ofd_too_large", Text("OFD.xml declares {size} bytes",
                                                        size=info.file_size))])
    try:
        with z.open(info) as member:
            # Read one byte past the limit: the declared size may lie.
            data = member.read(MAX_ROOT_XML + 1)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError,
            ValueError) as e:  # RuntimeError: encrypted entry; NotImplementedError: method
        return OfdCheck(True, [_p("ofd_unreadable", Text("OFD.xml cannot be read: {error}",
                                                         error=str(e)))])
    if len(data) > MAX_ROOT_XML:
        return OfdCheck(True, [_p("ofd_too_large",
                                  Text("OFD.xml inflates past its declared size"))])
    root = _parse_xml(data)
    if isinstance(root, Text):
        return OfdCheck(True, [_p("ofd_bad_xml", root)])
    if root.tag != f"{{{OFD_NS}}}OFD":
        return OfdCheck(True, [_p("ofd_bad_root", Text(
            "OFD.xml root is {tag}, not ofd:OFD ({namespace})", tag=root.tag,
            namespace=OFD_NS))])
    problems = []
    doc_roots = [(e.text or "").strip() for e in root.iter(f"{{{OFD_NS}}}DocRoot")]
    if not any(doc_roots):
        problems.append(_p("ofd_no_docroot", Text("OFD.xml has no DocBody/DocRoot")))
    for target in filter(None, doc_roots):
        # DocRoot is a package path, absolute ("/Doc_0/...") or relative to OFD.xml (the root).
        if target.lstrip("/").removeprefix("./") not in names:
            problems.append(_p("ofd_missing_docroot",
                                Text("DocRoot {target} is not in the package", target=target)))
    return OfdCheck(True, problems)


def _parse_xml(data: bytes) -> ElementTree.Element | Text:
    """The root element, or what is wrong."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return Text("OFD.xml is not UTF-8")
    if "<!doctype" in text.lower() or "<!entity" in text.lower():
        return Text("OFD.xml has a DOCTYPE (refused: entity expansion)")
    try:
        return ElementTree.fromstring(text)
    except ElementTree.ParseError as e:
        return Text("OFD.xml is not well-formed XML: {error}", error=str(e))


def _directory_size(f) -> tuple[int, int]:
    """(entries, bytes) of the central directory from the end record, zip64 included."""
    size = f.seek(0, os.SEEK_END)
    n = min(size, 22 + 65535 + 20)  # end record, longest comment, zip64 locator before it
    f.seek(size - n)
    tail = f.read(n)
    i = tail.rfind(_EOCD)
    if i < 0 or len(tail) - i < 22:
        return 0, 0  # let zipfile say what is wrong
    _, _, _, entries, directory_bytes, _, _ = struct.unpack("<4HIIH", tail[i + 4:i + 22])
    if i >= 20 and tail[i - 20:i - 16] == _EOCD64_LOCATOR:
        (eocd64_at,) = struct.unpack("<Q", tail[i - 12:i - 4])
        f.seek(eocd64_at)
        rec = f.read(56)
        if len(rec) == 56 and rec[:4] == _EOCD64:
            entries, directory_bytes = struct.unpack("<QQ", rec[32:48])
    return entries, directory_bytes


def _first_local_name(head: bytes) -> str | None:
    if len(head) < 30 or head[:4] != b"PK\x03\x04":
        return None
    (name_len,) = struct.unpack("<H", head[26:28])
    return head[30:30 + name_len].decode("utf-8", "replace")


def _p(code: str, text: Text) -> dict:
    return problem(code, text)
