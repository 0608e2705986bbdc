"""One contract for every virus scanner (scanners/base.py): the real clamd (production windows
and limits, and a clamd with deliberately low limits) and the test's fake. What ingest relies
on: clean bytes are clean, EICAR is infected wherever it sits and however the stream is cut,
an aborted scan leaves nothing behind, a scanner that is not there says so, and content above a
size limit the scanner claims is never clean."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from scanners.base import CLEAN, INFECTED, NOT_SCANNED, Scanner, ScannerUnavailable
from scanners.clamd import ClamdScanner
from tests.support.clamd import EICAR
from tests.support.fake_scanner import FakeScanner

RANDOM = os.urandom(1 << 20)
SMALL = 200 << 10  # below every limit any implementation here claims
ODD_CHUNKS = [7, 65_536, 33_333, 1]


@dataclass
class Impl:
    scanner: Scanner
    down: Callable[[], Scanner]  # the same kind of scanner, with nothing answering


def _clamd(request: pytest.FixtureRequest, tmp_path: Path) -> Impl:
    return Impl(request.getfixturevalue("clamd_scanner"),
                lambda: ClamdScanner(socket_path=tmp_path / "nobody.sock", timeout=5))


def _clamd_small_limits(request: pytest.FixtureRequest, tmp_path: Path) -> Impl:
    daemon = request.getfixturevalue("clamd_small_limits")
    return Impl(daemon.scanner(timeout=60),
                lambda: ClamdScanner(socket_path=tmp_path / "nobody.sock", timeout=5))


def _down_fake() -> Scanner:
    fake = FakeScanner()
    fake.available = False
    return fake


IMPLEMENTATIONS: dict[str, Callable[[pytest.FixtureRequest, Path], Impl]] = {
    "clamd": _clamd,
    "clamd-small-limits": _clamd_small_limits,
    "fake": lambda request, tmp_path: Impl(FakeScanner(), _down_fake),
    "fake-limited": lambda request, tmp_path: Impl(FakeScanner(file_limit=256 << 10),
                                                   _down_fake),
}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def impl(request: pytest.FixtureRequest, tmp_path: Path) -> Impl:
    return IMPLEMENTATIONS[request.param](request, tmp_path)


def _feed(scanner: Scanner, data: bytes, sizes: list[int]):
    view = memoryview(data)
    scan = scanner.begin()
    pos, i = 0, 0
    while pos < len(view):
        n = sizes[i % len(sizes)]
        scan.feed(view[pos:pos + n])
        pos, i = pos + n, i + 1
    return scan.finish()


def _with_eicar_at(offset: int, size: int = SMALL) -> bytes:
    data = bytearray(RANDOM[:size])
    data[offset:offset + len(EICAR)] = EICAR
    return bytes(data)


def _settles(measure: Callable[[], int], want: int, seconds: float = 3.0) -> int:
    deadline = time.monotonic() + seconds
    got = measure()
    while got != want and time.monotonic() < deadline:
        time.sleep(0.02)
        got = measure()
    return got


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_clean_bytes_are_clean(impl: Impl) -> None:
    s = impl.scanner
    v = s.scan_bytes(b"an ordinary recording\n" * 1000)
    assert (v.status, v.signature, v.reason) == (CLEAN, None, None)
    assert v.clean and v.to_dict()["status"] == CLEAN
    assert v.engine and v.database and v.method and v.windows >= 1
    assert (v.engine, v.database) == s.version()
    s.ping()
    assert isinstance(s.where, str) and s.where


def test_an_empty_stream_is_clean(impl: Impl) -> None:
    assert impl.scanner.scan_bytes(b"").status == CLEAN


@pytest.mark.parametrize("offset", [0, 5, SMALL // 2 + 3, SMALL - len(EICAR)])
def test_eicar_is_infected_wherever_it_sits(impl: Impl, offset: int) -> None:
    v = _feed(impl.scanner, _with_eicar_at(offset), ODD_CHUNKS)
    assert v.status == INFECTED and not v.clean
    assert v.signature and v.reason is None
    assert impl.scanner.scan_bytes(EICAR).status == INFECTED


def test_scans_at_once_keep_their_own_verdicts(impl: Impl) -> None:
    samples = [_with_eicar_at(1000) if i % 2 else RANDOM[:SMALL] for i in range(6)]
    with ThreadPoolExecutor(3) as pool:
        got = list(pool.map(lambda d: _feed(impl.scanner, d, [65_536]).status, samples))
    assert got == [INFECTED if i % 2 else CLEAN for i in range(6)]


def test_an_aborted_scan_leaves_nothing(impl: Impl) -> None:
    s = impl.scanner
    s.ping()
    fds, threads = _open_fds(), threading.active_count()
    scan = s.begin()
    scan.feed(RANDOM[:100_000])
    scan.abort()
    scan.abort()  # twice is harmless
    with pytest.raises(RuntimeError):
        scan.feed(b"more")
    with pytest.raises(RuntimeError):
        scan.finish()
    assert _settles(_open_fds, fds) == fds  # no connection, no file left open
    # at most as many threads as before: one that another test left behind (a runner's
    # reaper) may end meanwhile, but the scan may add none
    assert _settles(threading.active_count, threads) <= threads
    with s.begin() as again:  # the scanner serves on; leaving the block unfinished aborts
        again.feed(EICAR)
    assert _settles(_open_fds, fds) == fds
    assert s.scan_bytes(RANDOM[:1000]).status == CLEAN


def test_a_finished_scan_takes_nothing_more(impl: Impl) -> None:
    scan = impl.scanner.begin()
    scan.feed(RANDOM[:1000])
    assert scan.finish().status == CLEAN
    with pytest.raises(RuntimeError):
        scan.feed(b"late")
    with pytest.raises(RuntimeError):
        scan.finish()
    scan.abort()  # after the verdict: harmless


def test_a_scanner_that_is_not_there_says_so(impl: Impl) -> None:
    down = impl.down()
    with pytest.raises(ScannerUnavailable):
        down.ping()
    with pytest.raises(ScannerUnavailable):
        down.begin()
    with pytest.raises(ScannerUnavailable):
        down.scan_bytes(b"anything")


def test_content_above_a_claimed_limit_is_never_clean(impl: Impl) -> None:
    limit = impl.scanner.file_limit
    if limit is None:
        pytest.skip("this scanner claims no size limit (it judges streams of any size)")
    assert impl.scanner.scan_bytes(RANDOM[:limit // 2]).status == CLEAN
    v = _feed(impl.scanner, RANDOM[:2 * limit], [64 << 10])
    assert v.status == NOT_SCANNED and v.reason and v.signature is None
    big = bytearray(RANDOM[:2 * limit])
    big[limit + 10:limit + 10 + len(EICAR)] = EICAR
    assert impl.scanner.scan_bytes(bytes(big)).status != CLEAN
