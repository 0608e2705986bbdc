"""What "a virus scanner" is to the rest of custody: a small interface, its verdict and its two
errors. `scanners.clamd_client.ClamdScanner` is the real one; tests/support/fake_scanner.py holds
one whose verdicts a test chooses. One contract suite (tests/contract/test_scanner_contract.py)
runs against every implementation.

A scan is fed the very chunks the caller reads once (the same chunks go to the digests and the
store) and gives one verdict at the end. Fail closed: only a scanner that judged every byte says
"clean"; anything it could not judge is "not-scanned", never clean.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass

from i18n import Text

CLEAN = "clean"
INFECTED = "infected"
NOT_SCANNED = "not-scanned"
_SLICE = 8 << 20


class ScannerError(Exception):
    """A scanner's trouble told to a person: an English template marked with ``N_`` and its
    values, as custody's own errors take them. ``str()`` is the English text (logs, JSON);
    ``text`` what the face localizes, also when the error is the reason inside another."""

    def __init__(self, message: str | Text, **params: object) -> None:
        self.text = message if isinstance(message, Text) else Text(message, **params)
        super().__init__(str(self.text))


class ScannerUnavailable(ScannerError):
    """The scanner cannot be reached, or went away during a scan (ingest: exit 3)."""


class ScannerRefused(ScannerError):
    """The scanner will not run as asked (no signature database, test signatures not allowed)."""


@dataclass(frozen=True)
class Verdict:
    status: str            # "clean" | "infected" | "not-scanned"
    signature: str | None  # the signature name when infected
    reason: str | None     # why not scanned
    engine: str            # "ClamAV 1.4.6"
    database: str          # the signature database's version or label
    method: str            # how the bytes were scanned ("INSTREAM", "INSTREAM windows of ...")
    windows: int

    @property
    def clean(self) -> bool:
        return self.status == CLEAN

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class ScanSession(ABC):
    """One stream's scan: fed chunk by chunk, then one verdict (or abandoned)."""

    @abstractmethod
    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        """The next bytes of the stream. Never raises for scanner trouble: finish() reports it.
        Raises RuntimeError once the scan is finished or aborted."""

    @abstractmethod
    def finish(self) -> Verdict:
        """The verdict on every byte fed. Raises ScannerUnavailable when the scanner went away
        (a property of the service, not of the bytes); RuntimeError when called twice."""

    @abstractmethod
    def abort(self) -> None:
        """Abandon the scan: no verdict, nothing left open. Safe to call more than once."""

    def __enter__(self) -> ScanSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()


class Scanner(ABC):
    """A virus scanner. Cheap to hold; each scan is its own session, so one scanner serves
    several threads at once."""

    #: Where the scanner is reached (a socket path, host:port), for messages.
    where: str = "-"

    @property
    def file_limit(self) -> int | None:
        """The size above which this scanner says it cannot judge content: a larger stream
        gets a not-scanned verdict (a limits alert), never clean. None: it claims no limit
        (streams of any size are judged, e.g. in overlapping windows)."""
        return None

    @abstractmethod
    def ping(self) -> None:
        """Return when the scanner answers; raise ScannerUnavailable otherwise."""

    @abstractmethod
    def version(self) -> tuple[str, str]:
        """(engine, signature database) as the verdicts will name them."""

    @abstractmethod
    def begin(self) -> ScanSession:
        """A new scan; raises ScannerUnavailable when the scanner cannot be reached."""

    def scan_bytes(self, data: bytes | bytearray | memoryview) -> Verdict:
        view = memoryview(data).cast("B")
        scan = self.begin()
        try:
            for i in range(0, len(view), _SLICE):
                scan.feed(view[i:i + _SLICE])
        except BaseException:
            scan.abort()
            raise
        return scan.finish()
