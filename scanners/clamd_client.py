"""Scanning a byte stream with clamd (INSTREAM), in overlapping windows when it is large.

The caller reads each file once and hands every chunk to `StreamScan.feed`; the same chunks go to
the hashes and the store. clamd cannot take 2 GiB or more in one stream, so a stream longer than
one window is scanned as several INSTREAM sessions over overlapping windows: window k covers
bytes [k*(W-O), k*(W-O)+W). A signature no longer than the overlap O therefore lies wholly inside
some window, wherever it sits.

Fail closed: only "stream: OK" from every window is clean. A limits alert, an error reply, a
dropped or truncated stream is "not-scanned", never clean.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable
from os import PathLike

from clamav_client.clamd import (
    ClamdError,
    ClamdNetworkSocket,
    ClamdUnixSocket,
    CommunicationError,
    ResponseError,
)

from i18n import N_, Text
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

__all__ = ["CLEAN", "INFECTED", "NOT_SCANNED", "ClamdScanner", "ScannerRefused",
           "ScannerUnavailable", "StreamScan", "Verdict"]

_RANK = {CLEAN: 0, NOT_SCANNED: 1, INFECTED: 2}  # worst wins

MiB = 1 << 20
GiB = 1 << 30
DEFAULT_WINDOW = GiB
DEFAULT_OVERLAP = MiB
# clamd refuses files of 2 GiB and more, so a window must stay below that.
MAX_WINDOW = 2 * GiB - 1
# clamav-client's instream() sends 1 KiB per INSTREAM chunk, about a syscall pair per KiB; 1 MiB
# chunks keep the per-chunk overhead negligible (clamd accepts any chunk up to StreamMaxLength).
PIECE = MiB
_LENGTH = struct.Struct("!L")
LIMITS_ALERT = "Heuristics.Limits.Exceeded"


# what the operating system says when clamd cannot be reached, as people read it (the
# socket library's English otherwise shows inside a Chinese sentence); anything else is
# shown as it was said
_OS_REASONS = (("connection refused", N_("the connection was refused")),
               ("no such file or directory", N_("its socket does not exist")),
               ("timed out", N_("it did not answer in time")),
               ("permission denied", N_("permission was denied")),
               ("connection reset", N_("the connection was reset")),
               ("broken pipe", N_("the connection broke")))


def os_reason(err: BaseException) -> Text | str:
    """Why a connection to clamd failed, in the reader's language where it is a known one."""
    said = str(err)
    for english, text in _OS_REASONS:
        if english in said.lower():
            return Text(text)
    return said


def human_size(n: int) -> str:
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


class _Session:
    """One INSTREAM connection carrying one window's bytes.

    Uses clamav-client's connection and reply primitives (_init_socket, _send_command,
    _recv_response, _parse_response) but sends the caller's chunks itself: its instream() reads
    a file object 1 KiB at a time, which is both slow and the wrong shape for a stream that
    arrives chunk by chunk from a reader it does not own.
    """

    def __init__(self, client: ClamdNetworkSocket, start: int) -> None:
        self.client = client
        self.start = start
        self.sent = 0
        self.failure: str | None = None  # why the stream did not reach clamd whole
        self.reply = ""
        self._may_answer = True  # False when clamd cannot have a reply for us
        self._reader: threading.Thread | None = None

    def connect(self) -> None:
        """Raises CommunicationError when clamd is not there."""
        try:
            self.client._init_socket()
        except CommunicationError as err:
            self.failure, self._may_answer = f"could not connect: {err}", False
            raise
        sock = self.client.clamd_socket
        if sock.family != socket.AF_UNIX:
            # A 4-byte length header must not wait for an ACK behind Nagle's algorithm.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.client._send_command("INSTREAM")
        except OSError as err:
            self._fail(err)

    def _fail(self, err: OSError) -> None:
        self.failure = f"stream dropped after {self.sent} bytes: {err}"
        if isinstance(err, TimeoutError):
            self.failure = f"clamd stopped reading after {self.sent} bytes: {err}"
            self._may_answer = False

    def send(self, data: memoryview) -> None:
        if self.failure:
            return
        sock = self.client.clamd_socket
        try:
            for i in range(0, len(data), PIECE):
                piece = data[i:i + PIECE]
                sock.sendall(_LENGTH.pack(len(piece)))
                sock.sendall(piece)
                self.sent += len(piece)
        except OSError as err:
            self._fail(err)

    def close(self) -> None:
        """End the stream and collect the verdict in the background, so feeding goes on."""
        if not self.failure:
            try:
                self.client.clamd_socket.sendall(_LENGTH.pack(0))
            except OSError as err:
                self._fail(err)
        self._reader = threading.Thread(target=self._read, name="clamd-verdict", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        # After a send failure clamd may still have written why (e.g. "INSTREAM size limit
        # exceeded"); read it unless clamd cannot answer at all.
        if self._may_answer:
            try:
                self.reply = self.client._recv_response()
            except CommunicationError as err:
                self.failure = self.failure or f"no verdict from clamd: {err}"
        self.client._close_socket()

    def wait(self) -> None:
        if self._reader is not None:
            self._reader.join()

    def abort(self) -> None:
        sock = getattr(self.client, "clamd_socket", None)
        if sock is None:
            return
        # shutdown first: it wakes a reader thread blocked in recv, close alone would not.
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def judge(self) -> tuple[str, str | None, str | None]:
        """(status, signature, reason) of this window."""
        try:
            path, virus, status = self.client._parse_response(self.reply)
        except ResponseError:
            return NOT_SCANNED, None, (self.reply or self.failure
                                       or "clamd closed the stream without a verdict")
        if status == "FOUND" and virus:
            if virus.startswith(LIMITS_ALERT):
                return NOT_SCANNED, None, virus
            return INFECTED, virus, None
        if status == "OK" and path == "stream" and self.failure is None:
            return CLEAN, None, None
        return NOT_SCANNED, None, self.failure or self.reply

    @property
    def answered(self) -> bool:
        return bool(self.reply)


class StreamScan(ScanSession):
    """One file's scan fed chunk by chunk from the caller's single read.

    feed() only writes to clamd sockets (clamd spools INSTREAM data to a temporary file and
    scans after the stream ends), so it costs about a memory copy; the scan of a completed
    window runs in clamd while later windows are still being fed. finish() waits for all.
    feed() never raises for scanner trouble: finish() reports it.
    """

    def __init__(self, scanner: ClamdScanner, engine: str, database: str) -> None:
        self._scanner = scanner
        self._engine = engine
        self._database = database
        self._window = scanner.window_size
        self._step = scanner.window_size - scanner.overlap
        self._pos = 0
        self._next_start = 0
        self._open: list[_Session] = []
        self._closed: list[_Session] = []
        self._done = False
        first = _Session(scanner._client(), 0)
        try:
            first.connect()
        except CommunicationError as err:
            raise ScannerUnavailable(N_("clamd not reachable at {where}: {error}"),
                                     where=scanner.where, error=os_reason(err)) from err
        self._open.append(first)
        self._next_start = self._step

    @property
    def position(self) -> int:
        return self._pos

    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        if self._done:
            raise RuntimeError("this scan is finished")
        view = memoryview(chunk).cast("B")
        start, end = self._pos, self._pos + len(view)
        # A window opens when its first byte arrives; the total size is not known in advance.
        while self._next_start < end:
            self._open.append(self._open_window(self._next_start))
            self._next_start += self._step
        still_open = []
        for session in self._open:
            lo, hi = max(start, session.start), min(end, session.start + self._window)
            if lo < hi:
                session.send(view[lo - start:hi - start])
            if session.start + self._window <= end:
                session.close()
                self._closed.append(session)
            else:
                still_open.append(session)
        self._open = still_open
        self._pos = end

    def _open_window(self, start: int) -> _Session:
        session = _Session(self._scanner._client(), start)
        with contextlib.suppress(CommunicationError):
            session.connect()  # a failure is kept in the session; finish() reports it
        return session

    def finish(self) -> Verdict:
        if self._done:
            raise RuntimeError("this scan is finished")
        self._done = True
        total = self._pos
        for session in self._open:
            # Opened at W-O "just in case", but the previous window already holds every byte
            # of it: drop it, so a file below one window is exactly one INSTREAM.
            if session.start > 0 and total <= session.start - self._step + self._window:
                session.abort()
            else:
                session.close()
                self._closed.append(session)
        self._open = []
        for session in self._closed:
            session.wait()
        return self._verdict()

    def _verdict(self) -> Verdict:
        sessions = sorted(self._closed, key=lambda s: s.start)
        judged = [(s, *s.judge()) for s in sessions]
        status = max((j[1] for j in judged), key=_RANK.__getitem__)
        if status != INFECTED and not all(s.answered for s in sessions):
            # A window without any reply: clamd may have died. That is a service failure,
            # not a property of this file.
            try:
                self._scanner.ping()
            except ScannerUnavailable as err:
                raise ScannerUnavailable(N_("clamd went away during the scan: {reason}"),
                                         reason=err.text) from err
        many = len(sessions) > 1
        signatures = [j[2] for j in judged if j[1] == INFECTED]
        reasons = [(f"window {i + 1}/{len(sessions)} at byte {s.start}: {r}" if many else r)
                   for i, (s, st, _, r) in enumerate(judged) if st == NOT_SCANNED]
        method = "INSTREAM"
        if many:
            method = (f"INSTREAM windows of {human_size(self._window)} overlapping "
                      f"{human_size(self._window - self._step)} ({len(sessions)} windows)")
        return Verdict(
            status=status,
            signature=signatures[0] if status == INFECTED else None,
            reason="; ".join(reasons) if status == NOT_SCANNED else None,
            engine=self._engine,
            database=self._database,
            method=method,
            windows=len(sessions),
        )

    def abort(self) -> None:
        self._done = True
        for session in self._open + self._closed:
            session.abort()
        self._open, self._closed = [], []

    def __exit__(self, *exc: object) -> None:
        if not self._done:
            self.abort()


class ClamdScanner(Scanner):
    """A clamd reached by Unix socket or TCP. Cheap to make; every scan opens its own
    connections, so one scanner serves several threads at once."""

    def __init__(self, *, socket_path: str | PathLike[str] | None = None,
                 host: str | None = None, port: int = 3310,
                 window_size: int = DEFAULT_WINDOW, overlap: int = DEFAULT_OVERLAP,
                 timeout: float = 600.0, database_label: str | None = None,
                 file_limit: int | None = None) -> None:
        if (socket_path is None) == (host is None):
            raise ValueError("give either socket_path or host")
        if not 0 < window_size <= MAX_WINDOW:
            raise ValueError(f"window_size must be between 1 and {MAX_WINDOW} bytes")
        if not 0 < overlap <= window_size // 2:
            raise ValueError("overlap must be positive and at most half the window")
        self.socket_path = str(socket_path) if socket_path is not None else None
        self.host, self.port = host, port
        self.window_size, self.overlap = window_size, overlap
        self.timeout = timeout
        # clamd's VERSION names no database version for local signature files; this does.
        self.database_label = database_label
        # clamd's MaxFileSize when it is below one window (then larger content is a limits
        # alert, never clean); clamd does not tell its clients, its starter does.
        self._file_limit = file_limit if file_limit is not None and file_limit < window_size \
            else None
        self.where = self.socket_path or f"{host}:{port}"
        self._make: Callable[[], ClamdNetworkSocket]
        if self.socket_path is not None:
            path = self.socket_path
            self._make = lambda: ClamdUnixSocket(path, timeout)  # type: ignore[arg-type]
        else:
            self._make = lambda: ClamdNetworkSocket(host or "", port, timeout)

    def _client(self) -> ClamdNetworkSocket:
        return self._make()

    def _command(self, name: str) -> str:
        try:
            return self._client()._basic_command(name)
        except (ClamdError, OSError) as err:
            raise ScannerUnavailable(N_("clamd not reachable at {where}: {error}"),
                                     where=self.where, error=os_reason(err)) from err

    def ping(self) -> None:
        reply = self._command("PING")
        if reply != "PONG":
            raise ScannerUnavailable(N_("clamd at {where} answered PING with {reply!r}"),
                                     where=self.where, reply=reply)

    def version(self) -> tuple[str, str]:
        """(engine, database): "ClamAV 1.4.6/27000/Sun Nov 22 ..." splits at the first '/'."""
        engine, _, database = self._command("VERSION").partition("/")
        return engine, database or self.database_label or "unknown (clamd names no version)"

    @property
    def file_limit(self) -> int | None:
        return self._file_limit

    def begin(self) -> StreamScan:
        engine, database = self.version()
        return StreamScan(self, engine, database)

    # scan_bytes (Scanner's) feeds 8 MiB slices: at most two windows' connections open at once.
