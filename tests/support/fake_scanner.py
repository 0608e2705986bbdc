"""A virus scanner whose verdicts the test chooses: no clamd needed.

Bytes holding the infected marker (the EICAR test string by default; VIRUS_WORDS is one that a
PDF's page text can carry) are infected; bytes holding NOT_SCANNED_MARKER get a "not scanned"
verdict (as clamd's limits alert or a dropped stream); bytes holding LOST_MARKER make the
scanner go away mid-scan (as clamd killed: finish() raises ScannerUnavailable and the scanner
stays down until ``available`` is set again). A marker is found wherever it sits, also across
the chunks it was fed in. With ``file_limit`` the scanner claims a size limit: a larger stream
is not scanned.
"""

from __future__ import annotations

import threading

from scanners.base import (
    CLEAN,
    INFECTED,
    NOT_SCANNED,
    Scanner,
    ScannerUnavailable,
    ScanSession,
    Verdict,
)
from tests.support.clamd import EICAR

# plain words, so that a test can write them as a PDF's page text (EICAR holds brackets)
VIRUS_WORDS = b"fake-scanner marker: infected"
NOT_SCANNED_MARKER = b"fake-scanner marker: cannot scan this"
LOST_MARKER = b"fake-scanner marker: die while scanning this"
ENGINE = "FakeAV 1.0"
DATABASE = "fake signatures 1"


class FakeScan(ScanSession):
    def __init__(self, scanner: FakeScanner) -> None:
        self._scanner = scanner
        self._markers = scanner.markers()
        self._keep = max(len(m) for m in self._markers) - 1
        self._tail = b""
        self._found: set[bytes] = set()
        self.size = 0
        self._done = False
        scanner.count_open(+1)

    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        if self._done:
            raise RuntimeError("this scan is finished")
        data = bytes(chunk)
        window = self._tail + data
        self._found.update(m for m in self._markers if m in window)
        self._tail = window[-self._keep:] if self._keep else b""
        self.size += len(data)

    def _end(self) -> None:
        if self._done:
            raise RuntimeError("this scan is finished")
        self._done = True
        self._scanner.count_open(-1)

    def finish(self) -> Verdict:
        self._end()
        s = self._scanner
        if s.lost_marker in self._found or not s.available:
            s.available = False
            raise ScannerUnavailable(f"fake scanner at {s.where} went away during the scan")
        status, signature, reason = CLEAN, None, None
        if s.infected_marker in self._found:
            status, signature = INFECTED, "Fake.Test.Marker"
        elif s.not_scanned_marker in self._found:
            status, reason = NOT_SCANNED, "Fake.Limits.Exceeded (asked not to scan)"
        elif s.file_limit is not None and self.size > s.file_limit:
            status, reason = NOT_SCANNED, f"Fake.Limits.Exceeded.MaxFileSize ({self.size} bytes)"
        verdict = Verdict(status=status, signature=signature, reason=reason, engine=ENGINE,
                          database=DATABASE, method="fake stream", windows=1)
        s.verdicts.append(verdict)
        return verdict

    def abort(self) -> None:
        if not self._done:
            self._end()


class FakeScanner(Scanner):
    where = "fake://scanner"

    def __init__(self, *, infected_marker: bytes = EICAR,
                 not_scanned_marker: bytes = NOT_SCANNED_MARKER,
                 lost_marker: bytes = LOST_MARKER, file_limit: int | None = None) -> None:
        self.infected_marker = infected_marker
        self.not_scanned_marker = not_scanned_marker
        self.lost_marker = lost_marker
        self._file_limit = file_limit
        self.available = True
        self.open_scans = 0  # begun, neither finished nor aborted
        self.verdicts: list[Verdict] = []
        self._lock = threading.Lock()

    def count_open(self, n: int) -> None:
        with self._lock:
            self.open_scans += n

    def markers(self) -> tuple[bytes, ...]:
        return (self.infected_marker, self.not_scanned_marker, self.lost_marker)

    @property
    def file_limit(self) -> int | None:
        return self._file_limit

    def ping(self) -> None:
        if not self.available:
            raise ScannerUnavailable(f"fake scanner at {self.where} is down")

    def version(self) -> tuple[str, str]:
        self.ping()
        return ENGINE, DATABASE

    def begin(self) -> FakeScan:
        self.ping()
        return FakeScan(self)
