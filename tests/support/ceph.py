"""A single-node Ceph cluster with the RADOS Gateway: a real S3 Object Lock server for tests.

One monitor, one OSD on memstore (the data lives in the OSD's memory) and radosgw on
127.0.0.1, without cephx, everything (configuration, data, logs, admin sockets, pid files)
under one temporary directory; ports are picked free. It starts when a test first asks for it
(`ceph_cluster`, or the "ceph" WORM store factory in tests/support/stores.py) and stops at the
end of the session, each daemon by its pid. Without the Debian packages (ceph-mon, ceph-osd,
radosgw; scripts/install-test.sh installs them) the tests that need it are skipped, or fail
under CI=true (tests/support/servers.py).

`CephCluster(root, objectstore="bluestore")` is the same cluster with a BlueStore OSD on one
file under ``root`` (a disk-backed OSD, as in production): the ingest benchmark compares Ceph
with the local store on it (benchmarks/ingest_bench.py --store both) and
tests/test_ceph_bluestore.py starts one of its own. The session's cluster stays memstore.

Register the session fixture in a conftest with:
    from tests.support.ceph import fixture_ceph_cluster  # noqa: F401
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import require_server

BINARIES = ("monmaptool", "ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "ceph")
PACKAGES = "ceph-mon ceph-osd radosgw"
MIB = 1024 * 1024
MEMSTORE_BYTES = 2048 * MIB
# The BlueStore file's ceiling when the caller names none (sparse: only what is written uses
# the disk). Ceph calls the OSD full at 95% of it and then blocks writes: callers that write
# more than a little (the ingest benchmark) size it from their data.
BLUESTORE_BYTES = 8192 * MIB
OBJECTSTORES = ("memstore", "bluestore")
# What the tests may upload in one session, well below the memstore size: a full OSD blocks
# writes instead of failing them, which would hang a test instead of failing it. The suites
# that run here write about 300 MiB (RGW shares the bytes of a server-side copy).
TEST_DATA_BUDGET = 768 * MIB
START_TIMEOUT = 60.0  # for each daemon; a healthy start takes seconds
STOP_TIMEOUT = 15.0
ACCESS_KEY = "custody-test"
SECRET_KEY = "custody-test-secret"
REGION = "us-east-1"

# Settings that make one node work, and keep every file of the cluster under its directory.
_CONF = """\
[global]
fsid = {fsid}
mon_host = [v2:127.0.0.1:{mon_port}]
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
# IPv6 is missing in some containers, and the messenger then retries it for ever
ms_bind_ipv4 = true
ms_bind_ipv6 = false
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
# without cephx only crc connections exist; radosgw asks for "secure" by default
ms_client_mode = crc
ms_mon_client_mode = crc
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_max_pg_per_osd = 1000
osd_crush_chooseleaf_type = 0
mon_data_avail_crit = 0
mon_data_avail_warn = 0
mon_warn_on_pool_no_redundancy = false
mon_warn_on_insecure_global_id_reclaim_allowed = false
# each monitor change waits this long to be batched (1 s by default): radosgw's first start
# creates its pools one monitor command at a time
paxos_propose_interval = 0.05
paxos_min_wait = 0.01
run_dir = {root}/run
admin_socket = {root}/run/$cluster-$name.asok
pid_file = {root}/run/$name.pid
log_file = {root}/log/$name.log
mon_cluster_log_file = {root}/log/cluster.log
crash_dir = {root}/crash
keyring = {root}/keyring

[mon]
mon_data = {root}/mon/$id

[osd]
osd_data = {root}/osd/$id
{osd_store}

[client.rgw.a]
# without tcp_nodelay each small response waits 40 ms for a delayed ACK (measured: an 8 KiB
# ranged GET or a listing took 48 ms, 5 ms with it)
rgw_frontends = beast endpoint=127.0.0.1:{rgw_port} tcp_nodelay=1
rgw_data = {root}/rgw
rgw_enable_lc_threads = false
rgw_enable_gc_threads = false
"""

# The OSD's object store, the [osd] section's tail: memstore for the tests (the data lives in
# the OSD's memory), or BlueStore on one file for the ingest benchmark, so that custody's
# local store and Ceph are compared disk against disk.
_MEMSTORE = """\
osd_objectstore = memstore
memstore_device_bytes = {memstore_bytes}"""
# One file holds the data, RocksDB and its WAL (no separate block.db / block.wal), as a
# single-disk server would. The file is sparse: its size is a ceiling, not what it costs.
# BlueStore opens it with O_DIRECT and libaio, so its directory must be on a real filesystem
# (ext4, xfs), not tmpfs. bluestore_fsck_on_mkfs is left at Ceph's default (on): the whole
# start, mkfs included, takes about 6 s here, as with memstore.
_BLUESTORE = """\
osd_objectstore = bluestore
bluestore_block_path = {root}/osd/$id/block.file
bluestore_block_create = true
bluestore_block_size = {bluestore_bytes}
bluestore_block_db_create = false
bluestore_block_wal_create = false"""


class CephError(RuntimeError):
    """The cluster did not come up; the message names the step and shows its log's tail."""


def installed() -> bool:
    return all(shutil.which(name) for name in BINARIES)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    # A test run killed outright (a CI timeout) must not leave daemons behind: the kernel
    # sends SIGTERM to the child when its parent dies.
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"({path} was not written)"
    return "\n".join(text[-lines:]) or f"({path} is empty)"


class CephCluster:
    """One monitor, one OSD and one radosgw under ``root``.

    The OSD keeps its data in memory (memstore, the default: what the tests use) or, with
    ``objectstore="bluestore"``, in one file of ``bluestore_bytes`` under ``root/osd/0`` on
    the disk (BlueStore, as a production OSD keeps it: the ingest benchmark)."""

    def __init__(self, root: Path, memstore_bytes: int = MEMSTORE_BYTES,
                 budget: int = TEST_DATA_BUDGET, *, objectstore: str = "memstore",
                 bluestore_bytes: int = BLUESTORE_BYTES) -> None:
        if objectstore not in OBJECTSTORES:
            raise ValueError(f"objectstore must be one of {OBJECTSTORES}, not {objectstore!r}")
        self.root = root
        self.conf = root / "ceph.conf"
        self.objectstore = objectstore
        self.memstore_bytes = memstore_bytes
        self.bluestore_bytes = bluestore_bytes
        self.budget = budget
        self.uploaded = 0  # bytes the tests sent in PutObject and UploadPart bodies
        self.mon_port = self.rgw_port = 0
        self.osd_id = ""
        self.procs: dict[str, subprocess.Popen] = {}
        self.timings: dict[str, float] = {}
        self._count = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.rgw_port}"

    # --- starting ------------------------------------------------------------------------
    def start(self) -> None:
        started = time.monotonic()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.timings["start"] = time.monotonic() - started

    def _start(self) -> None:
        for sub in ("mon/a", "osd/0", "log", "run", "rgw", "crash"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.mon_port, self.rgw_port = _free_port(), _free_port()
        fsid = str(uuid.uuid4())
        store = _MEMSTORE if self.objectstore == "memstore" else _BLUESTORE
        osd_store = store.format(root=self.root, memstore_bytes=self.memstore_bytes,
                                 bluestore_bytes=self.bluestore_bytes)
        self.conf.write_text(_CONF.format(fsid=fsid, root=self.root, mon_port=self.mon_port,
                                          rgw_port=self.rgw_port, osd_store=osd_store))
        monmap = self.root / "monmap"
        self._run("monmaptool", "--create", "--fsid", fsid, "--addv", "a",
                  f"[v2:127.0.0.1:{self.mon_port}]", str(monmap))
        self._run("ceph-mon", "-c", str(self.conf), "--mkfs", "-i", "a", "--monmap", str(monmap))
        self._daemon("mon", "ceph-mon", "-i", "a")
        self._wait("the monitor (mon.a)", lambda: self._ceph_ok("health"),
                   self.root / "log/mon.a.log", "mon")
        osd_uuid = str(uuid.uuid4())
        osd_id = self.osd_id = self._ceph("osd", "new", osd_uuid).strip()
        self._run("ceph-osd", "-c", str(self.conf), "-i", osd_id, "--mkfs",
                  "--osd-uuid", osd_uuid)
        # The OSD puts itself under a host bucket of the CRUSH map as it starts
        # (osd_crush_update_on_start); with osd_crush_chooseleaf_type = 0 one host suffices.
        self._daemon("osd", "ceph-osd", "-i", osd_id)
        self._wait(f"the OSD (osd.{osd_id})", self._osd_up, self.root / f"log/osd.{osd_id}.log",
                   "osd")
        # radosgw-admin creates the gateway's pools if radosgw has not yet; both may race.
        self._daemon("rgw", "radosgw", "-n", "client.rgw.a")
        self._run("radosgw-admin", "-c", str(self.conf), "user", "create", "--uid", "custody",
                  "--display-name", "custody tests", "--access-key", ACCESS_KEY,
                  "--secret-key", SECRET_KEY, timeout=START_TIMEOUT)
        self._wait(f"radosgw on {self.endpoint}", self._rgw_answers,
                   self.root / "log/client.rgw.a.log", "rgw")

    def _run(self, *args: str, timeout: float = 30) -> str:
        try:
            done = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                                  cwd=self.root)
        except subprocess.TimeoutExpired as exc:
            raise CephError(f"{' '.join(args)} did not finish within {timeout:.0f} s; "
                            f"output:\n{exc.stderr or ''}") from exc
        if done.returncode != 0:
            raise CephError(f"{' '.join(args)} failed ({done.returncode}):\n"
                            f"{done.stderr[-3000:]}{done.stdout[-2000:]}")
        return done.stdout

    def _ceph(self, *args: str) -> str:
        return self._run("ceph", "-c", str(self.conf), "--connect-timeout", "5", *args,
                         timeout=20)

    def _ceph_ok(self, *args: str) -> bool:
        try:
            self._ceph(*args)
        except CephError:
            return False
        return True

    def _osd_up(self) -> bool:
        with contextlib.suppress(CephError, ValueError):
            return json.loads(self._ceph("osd", "stat", "-f", "json")).get("num_up_osds") == 1
        return False

    def _rgw_answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.endpoint, timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def _daemon(self, name: str, binary: str, *args: str) -> None:
        # In the foreground (-f), so the process we started is the daemon and its pid is ours;
        # it still writes its log under log/, and stderr goes beside it.
        with open(self.root / f"log/{name}.stderr", "wb") as err:
            self.procs[name] = subprocess.Popen(
                [binary, "-c", str(self.conf), "-f", *args], cwd=self.root,
                stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent)

    def _wait(self, what: str, ready: Callable[[], bool], log: Path, name: str,
              timeout: float = START_TIMEOUT) -> None:
        started = time.monotonic()
        deadline = started + timeout
        while True:
            proc = self.procs[name]
            if proc.poll() is not None:
                raise CephError(f"{what} exited with status {proc.returncode} while starting; "
                                f"last lines of {log}:\n{_tail(log)}\n"
                                f"{_tail(self.root / f'log/{name}.stderr', 10)}")
            if ready():
                self.timings[name] = time.monotonic() - started
                return
            if time.monotonic() > deadline:
                raise CephError(f"{what} did not come up within {timeout:.0f} s; last lines of "
                                f"{log}:\n{_tail(log)}")
            time.sleep(0.2)

    def restart_osd(self) -> None:
        """Stop the OSD by its pid and start it again from its BlueStore file, where every
        object it acknowledged must still be. BlueStore only: a memstore OSD's data lives in
        its memory (tried: after a restart its placement groups did not become active again
        and requests hung)."""
        if self.objectstore != "bluestore":
            raise ValueError("restart_osd needs objectstore='bluestore'")
        proc = self.procs.pop("osd")
        proc.terminate()
        proc.wait(STOP_TIMEOUT)
        # A cleanly stopping OSD tells the monitor it is going down; wait until the monitor
        # shows that, so the wait below sees the new OSD come up, not the old one's record.
        deadline = time.monotonic() + START_TIMEOUT
        while self._osd_up():
            if time.monotonic() > deadline:
                raise CephError(f"the monitor still shows osd.{self.osd_id} up "
                                f"{START_TIMEOUT:.0f} s after it stopped")
            time.sleep(0.2)
        self._daemon("osd", "ceph-osd", "-i", self.osd_id)
        self._wait(f"the OSD (osd.{self.osd_id}) after a restart", self._osd_up,
                   self.root / f"log/osd.{self.osd_id}.log", "osd")

    # --- stopping ------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop every daemon by its pid (the gateway first, the monitor last)."""
        started = time.monotonic()
        for name in ("rgw", "osd", "mon"):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_TIMEOUT)
        self.timings["stop"] = time.monotonic() - started

    # --- using ---------------------------------------------------------------------------
    def memory_rss(self) -> int:
        """Resident memory of the three daemons in bytes (from /proc)."""
        total = 0
        for proc in self.procs.values():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        return total

    def stored_bytes(self) -> int:
        """What the OSD's object store holds now, from its admin socket."""
        out = self._run("ceph", "--admin-daemon", str(self.root / "run/ceph-osd.0.asok"),
                        "perf", "dump")
        return int(json.loads(out)["osd"]["stat_bytes_used"])

    def client(self) -> Any:
        """A boto3 client for the gateway, built as custody builds its own, that refuses to
        send more than the session's test-data budget."""
        from archive.worm.s3 import make_client

        client = make_client(self.endpoint, REGION, ACCESS_KEY, SECRET_KEY, read_timeout=30)
        for op in ("PutObject", "UploadPart"):
            client.meta.events.register(f"before-parameter-build.s3.{op}", self._charge)
        return client

    def _charge(self, params: dict, **_: Any) -> None:
        body = params.get("Body", b"")
        size = len(body) if isinstance(body, bytes | bytearray | memoryview) else 0
        with self._count:
            if self.uploaded + size > self.budget:
                raise CephError(f"the tests would upload more than {self.budget // MIB} MiB "
                                f"to the Ceph memstore ({self.memstore_bytes // MIB} MiB); "
                                "raise TEST_DATA_BUDGET with MEMSTORE_BYTES or send less")
            self.uploaded += size

    @staticmethod
    def new_bucket(prefix: str = "custody") -> str:
        """A fresh bucket name for one test: nothing in Ceph is ever shared between tests,
        and nothing is deleted (locked versions could not be); the memstore goes at stop."""
        return f"{prefix}-{uuid.uuid4().hex[:16]}"


# --- one cluster per test session ----------------------------------------------------------
_cluster: CephCluster | None = None
_failure: BaseException | None = None
_lock = threading.Lock()


def shared_cluster() -> CephCluster:
    """The session's cluster, started on first use. Without the packages the calling test is
    skipped (failed under CI=true); a cluster that did not come up fails every test that
    asks for it with the same error, without a second attempt."""
    global _cluster, _failure
    if not installed():
        missing = [name for name in BINARIES if not shutil.which(name)]
        require_server(f"Ceph RGW is not installed ({', '.join(missing)} missing): apt-get "
                       f"install {PACKAGES}, or bash scripts/install-test.sh")
    with _lock:
        if _failure is not None:
            raise CephError(f"the Ceph test cluster failed to start: {_failure}")
        if _cluster is None:
            cluster = CephCluster(Path(tempfile.mkdtemp(prefix="custody-ceph-")))
            try:
                cluster.start()
            except BaseException as exc:
                _failure = exc
                shutil.rmtree(cluster.root, ignore_errors=True)
                raise
            atexit.register(stop_shared_cluster)  # in case the session is cut short
            _cluster = cluster
        return _cluster


def stop_shared_cluster() -> None:
    global _cluster
    with _lock:
        cluster, _cluster = _cluster, None
    if cluster is not None:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)


@pytest.fixture(scope="session", name="ceph_cluster")
def fixture_ceph_cluster() -> Iterator[CephCluster]:
    """The session's Ceph cluster with radosgw (see the module's docstring)."""
    yield shared_cluster()
    stop_shared_cluster()


@contextlib.contextmanager
def ceph_store(tmp_path: Path, **options: Any) -> Iterator[Any]:
    """A fresh S3WormStore on the session's Ceph RGW, in a bucket of its own made by
    init_bucket as `custody init` makes it (``tmp_path`` unused: the bytes live in Ceph)."""
    from archive.worm.s3 import S3WormStore, init_bucket

    cluster = shared_cluster()
    client = cluster.client()
    bucket = cluster.new_bucket()
    init_bucket(client, bucket)
    yield S3WormStore(client, bucket, **options)
