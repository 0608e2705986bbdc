"""mongoeco over the MongoDB wire protocol: a real socket and real BSON for the MongoDB catalog.

No real ``mongod`` can be installed on these machines (/work/shared/DESIGN.md, "Real servers for
tests"). mongoeco (PyPI ``mongoeco[wire]``) is a MongoDB wire-protocol server written in Python;
it needs Python >= 3.13, so it lives in a virtualenv of its own, ``.venv-wire`` beside ``.venv``
(scripts/install-test.sh makes it when such a Python is found). One server, in memory, serves
the whole test session on 127.0.0.1 at a port it picks itself; every test gets a database of its
own on it. It starts when a test first asks for it (``wire_server``, or the "wire" catalog
factory) and stops at the end of the session, by its pid.

Without ``.venv-wire`` (no Python >= 3.13 on the machine) the wire tests are skipped with the
reason, even under CI=true: unlike Ceph or clamd, the server cannot be had from Debian 12's own
packages at all, so requiring it in CI would make CI depend on a pyenv build. The same suite
still runs on mongomock. This is the one real-server skip CI allows (tests/support/servers.py).

Register the session fixture in a conftest with:
    from tests.support.wire import fixture_wire_server  # noqa: F401
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pymongo
import pytest
from pymongo.errors import PyMongoError

from archive.catalog.base import Catalog
from archive.catalog.mongo import MongoCatalog

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv-wire" / "bin" / "python"
START_TIMEOUT = 30.0  # measured start is well under a second; a loaded machine gets slack
STOP_TIMEOUT = 10.0

# Binds port 0 so the kernel picks a free port with no race between choosing and binding, then
# tells the parent which one on its first line of output. SIGTERM's default action ends it.
_SERVE = """\
import asyncio
from mongoeco.wire import AsyncMongoEcoProxyServer

async def main():
    server = AsyncMongoEcoProxyServer(host="127.0.0.1", port=0)
    address = await server.start()
    print(address.port, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


class WireError(RuntimeError):
    """The server did not come up; the message says why and shows its output."""


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    # A test run killed outright must not leave the server behind.
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def available() -> str | None:
    """Why the wire server cannot run here, or None when it can."""
    if not PYTHON.exists():
        return (f"mongoeco wire tests need {PYTHON.parent.parent.name} (a Python >= 3.13 "
                "virtualenv with mongoeco[wire]); bash scripts/install-test.sh makes it when "
                "such a Python is on the machine")
    return None


class WireServer:
    """One mongoeco wire server process on 127.0.0.1."""

    def __init__(self) -> None:
        self.port = 0
        self.proc: subprocess.Popen[str] | None = None
        self._stderr: IO[bytes] | None = None
        self.timings: dict[str, float] = {}

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def start(self) -> None:
        started = time.monotonic()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.timings["start"] = time.monotonic() - started

    def _start(self) -> None:
        # stderr to a file, not a pipe: a pipe nobody reads would stall a chatty server
        self._stderr = tempfile.TemporaryFile()
        self.proc = proc = subprocess.Popen(
            [str(PYTHON), "-c", _SERVE], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self._stderr, text=True, preexec_fn=_die_with_parent)
        out = proc.stdout
        assert out is not None  # stdout=PIPE
        # A reader thread, so a server that never prints cannot block us past the deadline.
        first: list[str] = []
        reader = threading.Thread(target=lambda: first.append(out.readline()), daemon=True)
        reader.start()
        reader.join(START_TIMEOUT)
        line = first[0].strip() if first else ""
        if not line.isdigit():
            if proc.poll() is not None:
                self._fail(f"exited with status {proc.returncode} before reporting its port")
            self._fail(f"did not report its port within {START_TIMEOUT:.0f} s")
        self.port = int(line)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                self._fail(f"exited with status {proc.returncode} while starting")
            if self._answers():
                return
            if time.monotonic() > deadline:
                self._fail(f"did not answer a ping within {START_TIMEOUT:.0f} s")
            time.sleep(0.1)

    def _answers(self) -> bool:
        client: pymongo.MongoClient = pymongo.MongoClient(
            self.uri, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000)
        try:
            client.admin.command("ping")
        except PyMongoError:
            return False
        finally:
            client.close()
        return True

    def _fail(self, what: str) -> None:
        err = ""
        if self.proc is not None and self._stderr is not None:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
            self._stderr.seek(0)
            err = self._stderr.read()[-3000:].decode(errors="replace")
        raise WireError(f"mongoeco wire server ({PYTHON}) {what}; stderr:\n{err}")

    def stop(self) -> None:
        """Stop the server by its pid."""
        started = time.monotonic()
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_TIMEOUT)
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        self.timings["stop"] = time.monotonic() - started

    def memory_rss(self) -> int:
        """Resident memory of the server in bytes (from /proc)."""
        if self.proc is None:
            return 0
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0


# --- one server per test session -----------------------------------------------------------
_server: WireServer | None = None
_failure: BaseException | None = None
_lock = threading.Lock()


def shared_server() -> WireServer:
    """The session's server, started on first use. Without ``.venv-wire`` the calling test is
    skipped, under CI=true too (see the module's docstring; deliberately not
    servers.require_server). A server that did not come up fails every test that asks for it
    with the same error, without a second attempt."""
    global _server, _failure
    reason = available()
    if reason:
        pytest.skip(reason)
    with _lock:
        if _failure is not None:
            raise WireError(f"the mongoeco wire server failed to start: {_failure}")
        if _server is None:
            server = WireServer()
            try:
                server.start()
            except BaseException as exc:
                _failure = exc
                raise
            atexit.register(stop_shared_server)  # the catalog factory may start it alone
            _server = server
        return _server


def stop_shared_server() -> None:
    global _server
    with _lock:
        server, _server = _server, None
    if server is not None:
        server.stop()


@pytest.fixture(scope="session", name="wire_server")
def fixture_wire_server() -> Iterator[WireServer]:
    """The session's mongoeco wire server (see the module's docstring)."""
    yield shared_server()
    stop_shared_server()


@contextlib.contextmanager
def wire_catalog(tmp_path: Path) -> Iterator[Catalog]:
    """A MongoCatalog over pymongo on the session's wire server, in a database of its own
    (``tmp_path`` unused: the documents live in the server)."""
    server = shared_server()
    name = f"custody_test_{uuid.uuid4().hex[:16]}"
    client: pymongo.MongoClient = pymongo.MongoClient(server.uri, tz_aware=True,
                                                      serverSelectionTimeoutMS=5000)
    try:
        yield MongoCatalog(client, name)
    finally:
        with contextlib.suppress(PyMongoError):  # a test's failure matters, not the cleanup's
            client.drop_database(name)
        client.close()
