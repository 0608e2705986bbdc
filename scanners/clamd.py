"""Virus scanning with ClamAV: the clamd implementation of the scanner interface
(scanners/base.py) that ingest uses.

`ClamdScanner` talks to any clamd (Unix socket or TCP); `PrivateClamd` runs custody's own clamd
(`custody scanner start|status|stop`). Both judge bytes only and know nothing of the archive.
"""

from __future__ import annotations

from scanners.base import (
    CLEAN,
    INFECTED,
    NOT_SCANNED,
    Scanner,
    ScannerRefused,
    ScannerUnavailable,
    ScanSession,
    Verdict,
)
from scanners.clamd_client import (
    DEFAULT_OVERLAP,
    DEFAULT_WINDOW,
    ClamdScanner,
    StreamScan,
)
from scanners.clamd_daemon import TEST_SIGNATURES_DIR, PrivateClamd, test_signature_files

__all__ = [
    "CLEAN",
    "DEFAULT_OVERLAP",
    "DEFAULT_WINDOW",
    "INFECTED",
    "NOT_SCANNED",
    "TEST_SIGNATURES_DIR",
    "ClamdScanner",
    "PrivateClamd",
    "ScanSession",
    "Scanner",
    "ScannerRefused",
    "ScannerUnavailable",
    "StreamScan",
    "Verdict",
    "test_signature_files",
]
