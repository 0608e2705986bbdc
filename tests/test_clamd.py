"""The virus scanner against a real clamd (ClamAV 1.4.6) on the project's test signatures."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import socket
import struct
import threading
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from i18n import localize_in
from scanners.clamd import (
    CLEAN,
    INFECTED,
    NOT_SCANNED,
    TEST_SIGNATURES_DIR,
    ClamdScanner,
    PrivateClamd,
    ScannerRefused,
    ScannerUnavailable,
)
from tests.support.clamd import (  # noqa: F401  (fixtures)
    CLAM_EXE,
    EICAR,
    SMALL_OVERLAP,
    SMALL_WINDOW,
    TESTFILES_DIR,
    fixture_clamd_daemon,
    fixture_clamd_scanner,
    fixture_clamd_small_limits,
    scan_in_chunks,
    small_window_scanner,
)

W = SMALL_WINDOW
S = SMALL_WINDOW - SMALL_OVERLAP  # windows start every S bytes
ODD_CHUNKS = [100_000, 7, 333_333, (1 << 20) + 5, 65536]
RANDOM = os.urandom(4 << 20)


def with_eicar_at(offset: int, size: int) -> bytes:
    data = bytearray(RANDOM[:size])
    data[offset:offset + len(EICAR)] = EICAR
    return bytes(data)


def nested_zip(depth: int, inner: bytes = b"nothing to see here\n") -> bytes:
    data, name = inner, "inner.txt"
    for level in range(depth):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(name, data)
        data, name = buf.getvalue(), f"level{level}.zip"
    return data


# -- single stream ------------------------------------------------------------------------------


def test_clean_bytes(clamd_scanner: ClamdScanner) -> None:
    v = clamd_scanner.scan_bytes(b"an ordinary recording\n" * 1000)
    assert (v.status, v.signature, v.reason) == (CLEAN, None, None)
    assert (v.method, v.windows) == ("INSTREAM", 1)
    assert v.engine == "ClamAV 1.4.6"
    assert v.database.startswith("custody test signatures sha256:")
    assert v.to_dict()["status"] == CLEAN


def test_empty_stream_is_clean(clamd_scanner: ClamdScanner) -> None:
    assert clamd_scanner.scan_bytes(b"").status == CLEAN


@pytest.mark.parametrize("offset", [0, 5, 3 * (1 << 20) + 12345])
def test_eicar_anywhere_in_a_stream(clamd_scanner: ClamdScanner, offset: int) -> None:
    v = scan_in_chunks(clamd_scanner, with_eicar_at(offset, 4 << 20), ODD_CHUNKS)
    assert v.status == INFECTED
    assert v.signature is not None and v.signature.startswith("Custody.Test.EICAR")
    assert (v.method, v.windows, v.reason) == ("INSTREAM", 1, None)


def test_clam_exe_matches_the_hash_signature(clamd_scanner: ClamdScanner) -> None:
    v = clamd_scanner.scan_bytes(CLAM_EXE.read_bytes())
    assert v.status == INFECTED
    assert v.signature is not None and v.signature.startswith("Custody.Test.ClamExe")


def test_every_clamav_testfile_gets_a_definite_verdict(clamd_scanner: ClamdScanner) -> None:
    files = sorted(TESTFILES_DIR.iterdir())
    assert len(files) == 44
    verdicts = {f.name: clamd_scanner.scan_bytes(f.read_bytes()) for f in files}
    report = {name: v.signature or v.status for name, v in verdicts.items()}
    print("\nclamav-testfiles against the custody test signatures:")
    for name, outcome in report.items():
        print(f"  {name:24} {outcome}")
    assert {v.status for v in verdicts.values()} <= {CLEAN, INFECTED}, report
    assert verdicts["clam.exe"].status == INFECTED
    # Every one of them is clam.exe packed, archived, encoded or embedded, and ClamAV 1.4.6
    # unpacks them all to the bytes the .hdb names (measured: 44 of 44).
    assert all(v.status == INFECTED for v in verdicts.values()), report


def test_nested_zip_is_never_clean(clamd_scanner: ClamdScanner) -> None:
    v = clamd_scanner.scan_bytes(nested_zip(40))
    assert v.status == NOT_SCANNED
    assert v.reason is not None and v.reason.startswith("Heuristics.Limits.Exceeded.MaxRecursion")
    assert clamd_scanner.scan_bytes(nested_zip(40, EICAR)).status != CLEAN
    assert clamd_scanner.scan_bytes(nested_zip(3, EICAR)).status == INFECTED


def test_concurrent_scans(clamd_scanner: ClamdScanner) -> None:
    samples = [with_eicar_at(1000, 1 << 20) if i % 2 else RANDOM[:1 << 20] for i in range(8)]
    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda d: scan_in_chunks(clamd_scanner, d, [65536]).status,
                                 samples))
    assert statuses == [INFECTED if i % 2 else CLEAN for i in range(8)]


def test_abort_leaves_clamd_serving(clamd_scanner: ClamdScanner) -> None:
    scan = clamd_scanner.begin()
    scan.feed(RANDOM[:100_000])
    scan.abort()
    with pytest.raises(RuntimeError):
        scan.feed(b"more")
    clamd_scanner.ping()


# -- windows ------------------------------------------------------------------------------------

TOTAL = 3 * W + W // 2  # windows start at 0, S, 2S, 3S: four windows
BOUNDARIES = [("end", k * S + W) for k in range(3)] + [("start", k * S) for k in range(1, 4)]


@pytest.mark.parametrize(("kind", "boundary"), BOUNDARIES,
                         ids=[f"{k}-{b}" for k, b in BOUNDARIES])
def test_eicar_across_a_window_boundary(clamd_daemon: PrivateClamd, clamd_scanner: ClamdScanner,
                                        kind: str, boundary: int) -> None:
    data = with_eicar_at(boundary - len(EICAR) // 2, TOTAL)
    v = scan_in_chunks(small_window_scanner(clamd_daemon), data, ODD_CHUNKS)
    assert v.status == INFECTED and v.signature.startswith("Custody.Test.EICAR")
    assert v.windows == 4
    assert v.method == "INSTREAM windows of 1 MiB overlapping 64 KiB (4 windows)"
    # Control: the window the boundary cuts does not hold EICAR whole, so the overlap found it.
    cut = (boundary - W, boundary) if kind == "end" else (boundary, boundary + W)
    assert clamd_scanner.scan_bytes(data[cut[0]:cut[1]]).status == CLEAN


@pytest.mark.parametrize("offset", [3 * S + W // 2 - 100_000, TOTAL - len(EICAR)])
def test_eicar_in_the_last_window(clamd_daemon: PrivateClamd, offset: int) -> None:
    assert offset >= 2 * S + W  # beyond every earlier window
    v = scan_in_chunks(small_window_scanner(clamd_daemon), with_eicar_at(offset, TOTAL),
                       ODD_CHUNKS)
    assert (v.status, v.windows) == (INFECTED, 4)


@pytest.mark.parametrize(("size", "windows"), [
    (0, 1), (S + 1, 1), (W, 1), (W + 1, 2), (2 * S + W, 3), (2 * S + W + 1, 4), (TOTAL, 4)])
def test_windows_only_when_needed(clamd_daemon: PrivateClamd, size: int, windows: int) -> None:
    v = scan_in_chunks(small_window_scanner(clamd_daemon), RANDOM[:size], ODD_CHUNKS)
    assert (v.status, v.windows) == (CLEAN, windows)
    assert (v.method == "INSTREAM") == (windows == 1)


def test_window_size_is_checked() -> None:
    with pytest.raises(ValueError):
        ClamdScanner(socket_path="/nowhere", window_size=2 << 30)
    with pytest.raises(ValueError):
        ClamdScanner(socket_path="/nowhere", window_size=1 << 20, overlap=1 << 20)


# -- limits: fail closed ------------------------------------------------------------------------


def test_above_max_file_size_is_not_scanned(clamd_small_limits: PrivateClamd) -> None:
    v = clamd_small_limits.scanner().scan_bytes(RANDOM[:700 << 10])
    assert v.status == NOT_SCANNED
    assert v.reason is not None and v.reason.startswith("Heuristics.Limits.Exceeded.MaxFileSize")


def test_zip_bomb_is_not_scanned(clamd_small_limits: PrivateClamd) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(4):
            z.writestr(f"zeros{i}.bin", bytes(1 << 20))
    assert len(buf.getvalue()) < 64 << 10
    v = clamd_small_limits.scanner().scan_bytes(buf.getvalue())
    assert v.status == NOT_SCANNED
    assert v.reason is not None and v.reason.startswith("Heuristics.Limits.Exceeded")


def test_stream_above_stream_max_length_is_not_scanned(clamd_small_limits: PrivateClamd) -> None:
    # A client whose window exceeds clamd's StreamMaxLength (1 MiB here) is misconfigured.
    scanner = small_window_scanner(clamd_small_limits, window=4 << 20, overlap=1 << 20)
    v = scan_in_chunks(scanner, RANDOM[:2 << 20], [256 << 10])
    assert v.status == NOT_SCANNED
    assert v.reason is not None and "INSTREAM size limit exceeded" in v.reason


def test_dropped_stream_is_not_scanned(clamd_small_limits: PrivateClamd) -> None:
    scan = clamd_small_limits.scanner().begin()
    scan.feed(b"x" * 1000)
    threading.Event().wait(2.5)  # its ReadTimeout is 1 s, checked about every second
    scan.feed(b"y" * 1000)
    v = scan.finish()
    assert v.status == NOT_SCANNED and v.reason


@contextlib.contextmanager
def fake_clamd(path: Path, reply: bytes | None) -> Iterator[ClamdScanner]:
    """A stand-in that answers PING and VERSION, swallows an INSTREAM and then says `reply`
    (or hangs up without a word): replies a real clamd gives only in rare trouble."""
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn, conn.makefile("rb") as f:
                command = f.readline().strip()
                if command == b"nPING":
                    conn.sendall(b"PONG\n")
                elif command == b"nVERSION":
                    conn.sendall(b"ClamAV 9.9.9/1/today\n")
                elif command == b"nINSTREAM":
                    while n := struct.unpack("!L", f.read(4))[0]:
                        f.read(n)
                    if reply is not None:
                        conn.sendall(reply)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield ClamdScanner(socket_path=path, timeout=10)
    finally:
        server.close()


@pytest.mark.parametrize(("reply", "status"), [
    (b"stream: OK\n", CLEAN),
    (b"stream: Heuristics.Limits.Exceeded.MaxScanTime FOUND\n", NOT_SCANNED),
    (b"stream: Can't allocate memory ERROR\n", NOT_SCANNED),
    (b"INSTREAM size limit exceeded. ERROR\n", NOT_SCANNED),
    (b"COMMAND READ TIMED OUT\n", NOT_SCANNED),
    (b"something else\n", NOT_SCANNED),
    (b"", NOT_SCANNED),
    (None, NOT_SCANNED),
])
def test_only_stream_ok_is_clean(tmp_path: Path, reply: bytes | None, status: str) -> None:
    with fake_clamd(tmp_path / "fake.sock", reply) as scanner:
        v = scanner.scan_bytes(b"data" * 1000)
    assert v.status == status
    assert (v.engine, v.database) == ("ClamAV 9.9.9", "1/today")
    assert (v.reason is None) == (status == CLEAN)


# -- unreachable --------------------------------------------------------------------------------


def test_unreachable_socket_and_port(tmp_path: Path) -> None:
    missing = tmp_path / "no.sock"
    with pytest.raises(ScannerUnavailable, match=str(missing)):
        ClamdScanner(socket_path=missing).begin()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ScannerUnavailable, match=f"127.0.0.1:{port}"):
        ClamdScanner(host="127.0.0.1", port=port).ping()


def test_why_clamd_cannot_be_reached_reads_in_chinese(tmp_path: Path) -> None:
    """The operating system's reason goes into the sentence in the reader's language: no
    English 'No such file or directory' inside a Chinese message."""
    with pytest.raises(ScannerUnavailable) as gone:
        ClamdScanner(socket_path=tmp_path / "no.sock").begin()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ScannerUnavailable) as refused:
        ClamdScanner(host="127.0.0.1", port=port).ping()
    said = localize_in("zh_CN", gone.value.text)
    assert "套接字不存在" in said and "No such file" not in said, said
    assert "连接被拒绝" in localize_in("zh_CN", refused.value.text)
    assert "its socket does not exist" in localize_in("en", gone.value.text)


def test_clamd_dying_mid_stream_is_unavailable(tmp_path: Path) -> None:
    daemon = PrivateClamd(tmp_path / "c", allow_test_signatures=True)
    scanner = daemon.start()
    try:
        scan = scanner.begin()
        scan.feed(RANDOM[:100_000])
        os.kill(daemon.status()["pid"], signal.SIGKILL)
        threading.Event().wait(0.2)
        scan.feed(RANDOM[:100_000])
        with pytest.raises(ScannerUnavailable, match=str(scanner.socket_path)):
            scan.finish()
    finally:
        daemon.stop()


# -- the private daemon -------------------------------------------------------------------------


def test_start_status_stop(tmp_path: Path) -> None:
    home = tmp_path / ("h" * 60) / ("o" * 60)  # too long a path for a Unix socket
    daemon = PrivateClamd(home, allow_test_signatures=True)
    assert daemon.status()["running"] is False
    with ThreadPoolExecutor(2) as pool:  # two starters at once get one daemon
        scanner, again = pool.map(lambda _: daemon.start(), range(2))
    try:
        assert again.socket_path == scanner.socket_path
        assert scanner.socket_path is not None and not scanner.socket_path.startswith(str(home))
        assert len(scanner.socket_path) < 100
        # Another process knows only the home directory.
        status = PrivateClamd(home, allow_test_signatures=True).status()
        assert status["running"] and status["responding"]
        assert status["engine"] == "ClamAV 1.4.6"
        assert status["test_signatures"] is True
        assert status["window_size"] == 1 << 30
        assert status["socket"] == scanner.socket_path
        conf = Path(status["config"]).read_text()
        assert "AlertExceedsMax yes" in conf and "StreamMaxLength 1025M" in conf
        assert daemon.start().socket_path == scanner.socket_path  # already running
        assert daemon.status()["pid"] == status["pid"]
        assert scanner.scan_bytes(EICAR).status == INFECTED
    finally:
        PrivateClamd(home).stop()
    status = daemon.status()
    assert status["running"] is False and status["pid"] is None
    with pytest.raises(ScannerUnavailable, match=str(scanner.socket_path)):
        scanner.begin()


def test_production_refuses_a_test_signature_daemon(clamd_daemon: PrivateClamd) -> None:
    with pytest.raises(ScannerRefused, match="tests and the demo only"):
        PrivateClamd(clamd_daemon.home).scanner()
    with pytest.raises(ScannerRefused, match="tests and the demo only"):
        PrivateClamd(clamd_daemon.home).start()


@pytest.mark.parametrize("rename", [False, True])
def test_refuses_test_signatures_without_permission(tmp_path: Path, rename: bool) -> None:
    db = tmp_path / "db"
    db.mkdir()
    for f in TEST_SIGNATURES_DIR.glob("custody-test-*"):
        shutil.copy(f, db / (f"local{f.suffix}" if rename else f.name))
    with pytest.raises(ScannerRefused, match="test signatures are for tests and the demo only"):
        PrivateClamd(tmp_path / "c", database_dir=db).start()
    # Allowed explicitly, the same directory serves.
    daemon = PrivateClamd(tmp_path / "c", database_dir=db, allow_test_signatures=True)
    try:
        assert daemon.start().scan_bytes(EICAR).status == INFECTED
    finally:
        daemon.stop()


def test_refuses_an_empty_database(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    with pytest.raises(ScannerRefused, match="no signature database in .*freshclam"):
        PrivateClamd(tmp_path / "c", database_dir=tmp_path / "db").start()
    with pytest.raises(ScannerRefused, match="no signature database"):
        PrivateClamd(tmp_path / "c", database_dir=tmp_path / "missing").start()


def test_a_broken_database_is_a_failed_start(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "broken.ndb").write_text("this is no signature\n")
    with pytest.raises(ScannerUnavailable, match="clamd did not start"):
        PrivateClamd(tmp_path / "c", database_dir=tmp_path / "db").start()
