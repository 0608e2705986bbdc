"""Real clamd for the tests, on the project's test signatures.

One private clamd serves the whole session (`clamd_daemon`, `clamd_scanner`; production window
size and limits). A second one with deliberately low limits (`clamd_small_limits`) starts only
if a test asks for it. Starting clamd on the two test signatures takes about 50 ms.

The fixtures are registered under the names clamd_daemon, clamd_scanner and clamd_small_limits;
import them into a conftest with:
    from tests.support.clamd import (  # noqa: F401
        fixture_clamd_daemon, fixture_clamd_scanner, fixture_clamd_small_limits)
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from scanners.clamd import TEST_SIGNATURES_DIR, ClamdScanner, PrivateClamd, Verdict

TESTFILES_DIR = Path("/usr/share/clamav-testfiles")
CLAM_EXE = TESTFILES_DIR / "clam.exe"
# Built from the shipped signature so that no test source holds the EICAR string itself (a
# virus scanner on a developer's machine would quarantine it).
EICAR = bytes.fromhex(
    (TEST_SIGNATURES_DIR / "custody-test-eicar.ndb").read_text().strip().split(":")[3])

SMALL_WINDOW = 1 << 20
SMALL_OVERLAP = 64 << 10
# Low limits for the limits tests: streams above 1 MiB are refused, files (also inside
# archives) above 256 KiB and scans above 512 KiB in all raise a limits alert; clamd drops a
# stream that sends nothing for a second.
SMALL_LIMITS: dict[str, int | str] = {"MaxFileSize": 256 << 10, "MaxScanSize": 512 << 10}
SMALL_READ_TIMEOUT = 1

_daemons: dict[str, PrivateClamd] = {}
_lock = threading.Lock()


def _shared(name: str, make: Callable[[], PrivateClamd]) -> PrivateClamd:
    """One daemon per name and process, even when the fixture is imported into several
    modules (each import is a fixture definition of its own to pytest)."""
    with _lock:
        if name not in _daemons:
            daemon = make()
            daemon.start()
            atexit.register(daemon.stop)  # in case the session is cut short
            _daemons[name] = daemon
        return _daemons[name]


@pytest.fixture(scope="session", name="clamd_daemon")
def fixture_clamd_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateClamd]:
    daemon = _shared("main", lambda: PrivateClamd(tmp_path_factory.mktemp("clamd"),
                                                  allow_test_signatures=True))
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session", name="clamd_scanner")
def fixture_clamd_scanner(clamd_daemon: PrivateClamd) -> ClamdScanner:
    """A scanner on the session's clamd: 1 GiB windows overlapping 1 MiB, as in production."""
    return clamd_daemon.scanner()


@pytest.fixture(scope="session", name="clamd_small_limits")
def fixture_clamd_small_limits(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateClamd]:
    daemon = _shared("small", lambda: PrivateClamd(
        tmp_path_factory.mktemp("clamd-small"), allow_test_signatures=True,
        window_size=SMALL_WINDOW, overlap=SMALL_OVERLAP, stream_max=SMALL_WINDOW,
        limits=SMALL_LIMITS, read_timeout=SMALL_READ_TIMEOUT))
    yield daemon
    daemon.stop()


def small_window_scanner(daemon: PrivateClamd, window: int = SMALL_WINDOW,
                         overlap: int = SMALL_OVERLAP) -> ClamdScanner:
    """Another client of the same clamd with small windows: window size is the client's
    choice, clamd only needs a StreamMaxLength of at least one window."""
    return ClamdScanner(socket_path=daemon.scanner().socket_path, window_size=window,
                        overlap=overlap, timeout=60)


def scan_in_chunks(scanner: ClamdScanner, data: bytes, sizes: Iterable[int]) -> Verdict:
    """Feed data in chunks of the given sizes (cycled), as a reader of a file would."""
    sizes = list(sizes)
    view = memoryview(data)
    scan = scanner.begin()
    pos, i = 0, 0
    while pos < len(view):
        n = sizes[i % len(sizes)]
        scan.feed(view[pos:pos + n])
        pos, i = pos + n, i + 1
    return scan.finish()
