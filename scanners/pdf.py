"""PDF checks that libmagic cannot make: encryption and a readable end of file.

A PDF is read from its end: startxref names the last cross-reference section, and its trailer
(a `trailer` dictionary, or the dictionary of a /Type /XRef stream since PDF 1.5) carries
/Encrypt when the document is encrypted. We read the head the caller already has, the last
64 KiB and a few KiB at startxref; no page is parsed, so the cost does not grow with the file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

from i18n import Text
from scanners.problems import problem

TAIL_BYTES = 64 * 1024
EOF_WINDOW = 1024  # readers (Acrobat first) want %%EOF within the last 1024 bytes
_AT_XREF_BYTES = 4096

_DELIM = rb"(?=[\s()<>\[\]{}/%]|$)"  # where a PDF name ends
_ENCRYPT = re.compile(rb"/Encrypt" + _DELIM)
_TRAILER = re.compile(rb"trailer\s*<<")
_XREF_STREAM = re.compile(rb"/Type\s*/XRef" + _DELIM)
_STARTXREF = re.compile(rb"startxref\s+(\d+)")
_XREF_AT = re.compile(rb"\s*(xref|\d+\s+\d+\s+obj)")


def check_pdf(path: str | os.PathLike, head: bytes) -> list[dict]:
    """Problems of the PDF at path; code "pdf_encrypted" when it is encrypted."""
    problems: list[dict] = []
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        f.seek(max(0, size - TAIL_BYTES))
        tail = f.read()
        if b"%PDF-" not in head[:1024]:
            problems.append(problem("pdf_no_header",
                                    Text("no %PDF- header in the first 1024 bytes")))
        if b"%%EOF" not in tail[-EOF_WINDOW:]:
            problems.append(problem(
                "truncated", Text("no %%EOF in the last 1024 bytes: the PDF is cut short")))
        at_xref = b""
        matches = list(_STARTXREF.finditer(tail))
        if not matches:
            problems.append(problem(
                "pdf_no_startxref", Text("no startxref at the end: the PDF cannot be read")))
        else:
            offset = int(matches[-1].group(1))
            if offset >= size:
                problems.append(problem("pdf_bad_xref", Text(
                    "startxref {offset} lies beyond the end of the file ({size} bytes)",
                    offset=offset, size=size)))
            else:
                f.seek(offset)
                at_xref = f.read(_AT_XREF_BYTES)
                if not _XREF_AT.match(at_xref):
                    # Readers rebuild the table by scanning, so this is worth a note, not damage.
                    problems.append(problem("pdf_xref_offset", Text(
                        "startxref {offset} does not point at a cross-reference section",
                        offset=offset)))
    if any(_ENCRYPT.search(d) for buf in (head, tail, at_xref) for d in _trailer_dicts(buf)):
        problems.append(problem("pdf_encrypted",
                                Text("the PDF is encrypted (/Encrypt in its trailer)")))
    return problems


def _trailer_dicts(buf: bytes) -> Iterator[bytes]:
    # Only trailer and XRef-stream dictionaries count: the word may appear in page text.
    for m in _TRAILER.finditer(buf):
        end = buf.find(b"startxref", m.end())
        yield buf[m.start(): end if end >= 0 else m.end() + _AT_XREF_BYTES]
    for m in _XREF_STREAM.finditer(buf):
        start = buf.rfind(b"obj", max(0, m.start() - _AT_XREF_BYTES), m.start())
        end = buf.find(b"stream", m.end())
        yield buf[max(start, m.start() - _AT_XREF_BYTES, 0):
                  end if end >= 0 else m.end() + _AT_XREF_BYTES]
