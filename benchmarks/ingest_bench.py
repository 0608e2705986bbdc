"""Ingest benchmark: `custody ingest` against its parts, on one multi-GiB data set.

    python benchmarks/ingest_bench.py [--dir DIR] [--total-gib 4.5] [--files 22]
                                      [--big-gib 2.2] [--workers 2] [--cache auto|cold|warm]
                                      [--idle-wait 300] [--retries 2] [--keep] [--json]
                                      [--store local|both]

The issue's requirement: on one data set of at least 4 GiB in 20+ files, one over 2 GiB, into
the local store (never through moto), in one run:
  (a) clamd scanning the same files at the same concurrency,
  (b) SHA-256 + SM3 alone,
  (c) a plain copy into the store,
  (d) `custody ingest`,
with the CPU seconds of each. limit = max(slowest wall of a-c, CPU seconds of a-c / 2) on this
2-core machine; goal: (d) within 1.15 x limit, each source byte read once, peak memory under
300 MB whatever the file sizes.

With --store both (issue 13), a fifth stage runs after them:
  (e) `custody ingest` of the same files, same clamd (restarted), same workers and the same
      cache handling, into an S3 Object Lock store on Ceph RGW whose OSD is BlueStore on one
      file on the disk (disk against disk: a memstore OSD would compare memory with disk),
and the comparison of (e) with (d) is printed: wall, MB/s, CPU seconds, ratio ceph/local, and
the Ceph daemons' CPU and resident memory. The single-node cluster is the tests' own
(tests.support.ceph.CephCluster with objectstore="bluestore": the benchmarks need the test
extra anyway, and the Debian packages ceph-mon ceph-osd radosgw that scripts/install-test.sh
installs). It is started, untimed, after (d), so (a)-(d) run exactly as without it, under the
run's directory (--dir: on the disk, not tmpfs; BlueStore opens its file with O_DIRECT), and
stopped by its pids at the end.

Prints figures; asserts nothing (timing belongs in no test). Everything it creates (data set,
private clamd, stores, custody homes, the Ceph cluster and its file) is removed at the end
unless --keep keeps the data set.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

# Run as a script from anywhere: the repository root holds the packages.
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: E402

from archive.domain.model import Digests  # noqa: E402
from archive.integrity.fixity import CHUNK, digest_file, read_chunks  # noqa: E402
from archive.worm.local import LocalWormStore  # noqa: E402
from ingest.samples import make_mp4  # noqa: E402
from scanners.clamd import DEFAULT_OVERLAP, DEFAULT_WINDOW, ClamdScanner, PrivateClamd  # noqa: E402
from tests.support.ceph import ACCESS_KEY, SECRET_KEY, CephCluster  # noqa: E402
from tests.support.ceph import installed as ceph_installed  # noqa: E402
from tests.support.worm import release_all_for_tests  # noqa: E402

GiB = 1 << 30
MiB = 1 << 20
GOAL_RATIO = 1.15
GOAL_RSS_MB = 300
# The minimum data set; smaller runs are allowed (quick checks) but flagged.
MIN_TOTAL, MIN_FILES, MIN_BIG = 4 * GiB, 20, 2 * GiB
READ_CHUNK = CHUNK  # = [ingest] chunk_mib (8 MiB) in config/default.toml: the pipeline's read
GEN_BLOCK = 16 * MiB
CLAMD_THREADS = 4  # = [scanner] max_threads in config/default.toml
DEVICE = "DSJ-0701"
OFFICER = "P7001"
UNIT = "market-001"
VIDEO_SECONDS = 2
TICK = os.sysconf("SC_CLK_TCK")
SHANGHAI = timezone(timedelta(hours=8))
DATASET_VERSION = 1
# The lock horizon for the Ceph store, set explicitly: RGW 16 keeps retention dates in 32-bit
# seconds and cannot hold a lock past 2106 (archive/worm/s3.py WRAP_LIMIT), so a horizon of
# 100 years would be refused. 50 is also config/default.toml's value.
CEPH_LOCK_YEARS = 50

# Runs `custody ingest` as its grandchild so that the figures are the child's alone: a process
# started by posix_spawn/vfork inherits its parent's RSS high-water mark in ru_maxrss, so it
# must be spawned from a tiny interpreter (python -S, ~10 MB), not from this one (which holds
# generation buffers). It keeps the child a zombie (WNOWAIT) long enough to read its
# /proc/<pid>/io totals, which vanish once it is reaped.
LAUNCHER = r"""
import json, os, sys, time
res, out, err, cmd = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[5:]
flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
actions = [(os.POSIX_SPAWN_OPEN, fd, path, flags, 0o644) for fd, path in ((1, out), (2, err))]
t0 = time.perf_counter()
pid = os.posix_spawn(cmd[0], cmd, dict(os.environ), file_actions=actions)
hwm = 0
while os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    hwm = max(hwm, int(line.split()[1]))
    except OSError:
        pass
    time.sleep(0.1)
wall = time.perf_counter() - t0
with open(f"/proc/{pid}/io") as f:
    io = {k: int(v) for k, v in (line.split(": ") for line in f.read().splitlines())}
_, status, ru = os.wait4(pid, 0)
with open(res, "w") as f:
    json.dump({"wall_s": wall, "exit_code": os.waitstatus_to_exitcode(status), "io": io,
               "utime_s": ru.ru_utime, "stime_s": ru.ru_stime, "maxrss_kb": ru.ru_maxrss,
               "vmhwm_sampled_kb": hwm}, f)
"""


# --- measuring --------------------------------------------------------------------------------
def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads (also those already exited)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def system_busy() -> float:
    """CPU seconds all CPUs spent busy since boot: counts what no process is charged for
    (writeback, interrupts) and other people's jobs on this shared machine."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = v[:8]
    return (user + nice + system + irq + softirq + steal) / TICK


def wait_idle(limit_s: float, busy_cores: float = 0.25, probe_s: float = 3.0) -> float:
    """Wait (at most limit_s) until the machine is nearly idle: this is a shared 2-core box,
    and someone else's job during a stage would be charged to that stage's wall time.
    Returns the busy cores seen in the last probe."""
    deadline = time.monotonic() + limit_s
    while True:
        b0 = system_busy()
        time.sleep(probe_s)
        busy = (system_busy() - b0) / probe_s
        if busy <= busy_cores or time.monotonic() >= deadline:
            return busy
        print(f"  waiting for the machine to be idle ({busy:.2f} cores busy)", file=sys.stderr,
              flush=True)


@dataclass
class Stage:
    name: str
    wall_s: float
    cpu_s: float  # what the limit formula counts: this process + clamd (+ the custody child)
    cpu_parts: dict[str, float]
    other_cpu_s: float  # busy CPU on the machine not charged to the above
    bytes: int
    files: int
    load_before: float
    busy_before: float  # cores busy just before the stage (other jobs), see wait_idle
    extra: dict = field(default_factory=dict)
    discarded: list[dict] = field(default_factory=list)  # attempts other jobs disturbed

    @property
    def mb_s(self) -> float:
        return self.bytes / self.wall_s / 1e6

    @property
    def files_s(self) -> float:
        return self.files / self.wall_s


class Cache:
    """Makes every stage start from the same page-cache state: cold (sync + drop_caches, so
    each stage reads its sources from disk) where permitted, else warm (every source read
    once just before the stage, so each stage reads from memory)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        if mode in ("auto", "cold"):
            try:
                self._drop()
                self.mode = "cold"
            except OSError as exc:
                if mode == "cold":
                    raise SystemExit(f"--cache cold: cannot drop the page cache: {exc}") from exc
                self.mode = "warm"

    @staticmethod
    def _drop() -> None:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")

    def settle(self, paths: list[Path]) -> None:
        if self.mode == "cold":
            self._drop()
            return
        os.sync()  # dirty pages of an earlier stage must not be written back inside this one
        buf = bytearray(READ_CHUNK)
        for p in paths:
            with open(p, "rb", buffering=0) as f:
                while f.readinto(buf):
                    pass

    def describe(self) -> str:
        if self.mode == "cold":
            return ("cold: sync + echo 3 > /proc/sys/vm/drop_caches before every stage; each "
                    "stage reads its sources from disk")
        return ("warm: sync, then every source file read once before every stage; each "
                "stage reads its sources from the page cache")


def contaminated(other_cpu_s: float, cpu_s: float) -> bool:
    """Other work during a stage beyond noise (kernel writeback, this script's sampling)."""
    return other_cpu_s > 0.1 * cpu_s + 2


def run_stage(name: str, cache: Cache, paths: list[Path], size: int, daemon: PrivateClamd,
              body: Callable[[], dict], *, idle_wait: float, retries: int,
              fresh_clamd: bool = False, setup: Callable[[], None] | None = None,
              teardown: Callable[[], None] | None = None,
              daemons: dict[str, int] | None = None) -> Stage:
    """Time one stage; body returns extra figures and, under "child_cpu_s", a child's CPU
    seconds (not visible to this process's clocks); setup and teardown run untimed around it.

    fresh_clamd restarts clamd first: it caches clean verdicts by the MD5 of a whole stream,
    so a second scan of the same bytes would cost it almost nothing and flatter whichever
    stage comes second. An attempt that other jobs on the machine disturbed is run again (up
    to `retries` times); the discarded attempts are reported, not hidden. ``daemons`` are
    other processes working for the stage (the Ceph cluster: name -> pid), whose CPU is the
    stage's own, not other work; it is counted under "ceph" and per daemon in extra."""
    discarded: list[dict] = []
    while True:
        if fresh_clamd:
            daemon.stop()
            daemon.start()
        clamd_pid = daemon.status()["pid"]
        if setup is not None:
            setup()
        busy = wait_idle(idle_wait)
        cache.settle(paths)
        load = os.getloadavg()[0]
        print(f"  {name} ...", file=sys.stderr, flush=True)
        s0, c0 = system_busy(), proc_cpu(clamd_pid)
        d0 = {name: proc_cpu(pid) for name, pid in (daemons or {}).items()}
        p0, t0 = time.process_time(), time.perf_counter()
        extra = body()
        wall = time.perf_counter() - t0
        own, clamd = time.process_time() - p0, proc_cpu(clamd_pid) - c0
        helpers = {name: proc_cpu(pid) - d0[name] for name, pid in (daemons or {}).items()}
        used = system_busy() - s0
        if teardown is not None:
            teardown()
        parts = {"bench": own, "clamd": clamd}
        if "child_cpu_s" in extra:
            parts["custody"] = extra["child_cpu_s"]
        if daemons:
            parts["ceph"] = sum(helpers.values())
            extra["daemon_cpu_s"] = helpers
        cpu = sum(parts.values())
        other = max(0.0, used - cpu)
        print(f"  {name}: {wall:.1f} s wall, {cpu:.1f} CPU-s, {other:.1f} CPU-s of other work",
              file=sys.stderr, flush=True)
        if contaminated(other, cpu) and len(discarded) < retries:
            discarded.append({"wall_s": wall, "cpu_s": cpu, "other_cpu_s": other})
            print(f"  {name}: disturbed by other jobs; again", file=sys.stderr, flush=True)
            continue
        return Stage(name, wall, cpu, parts, other, size, len(paths), load, busy, extra,
                     discarded)


# --- the data set -----------------------------------------------------------------------------
@dataclass
class Recording:
    name: str
    size: int
    start: str  # UTC, as embedded in the MP4 and declared in the manifest

    def path(self, root: Path) -> Path:
        return root / self.name


def plan(n_files: int, total: int, big: int, now: datetime) -> list[Recording]:
    """One camera's offload: n_files recordings 10 minutes apart, the long one in the middle
    (neither first nor last, so neither stage gets it as an easy head or a lonely tail)."""
    rng = random.Random(20260315)
    weights = [rng.uniform(0.7, 1.3) for _ in range(n_files - 1)]
    rest = total - big
    sizes = [int(rest * w / sum(weights)) for w in weights]
    sizes[-1] += rest - sum(sizes)
    sizes.insert(n_files // 2, big)
    first = now.replace(microsecond=0) - timedelta(minutes=10 * n_files + 30)
    out = []
    for i, size in enumerate(sizes):
        start = first + timedelta(minutes=10 * i)
        local = start.astimezone(SHANGHAI)  # the camera names files by its local clock
        name = f"{DEVICE}_{local:%Y%m%d_%H%M%S}_{i + 1:04d}.MP4"
        out.append(Recording(name, size, start.strftime("%Y-%m-%dT%H:%M:%SZ")))
    return out


def extend_mp4(path: Path, size: int, key: bytes) -> None:
    """Grow a faststart MP4 to `size` bytes of incompressible data inside its mdat box.

    Random bytes, not zeros or holes: clamd is far faster on zeros, which would flatter the
    scan. AES-CTR keystream is random enough for that and ~10x faster than os.urandom here, and
    a key per file makes every file distinct (clamd caches clean verdicts by whole-stream MD5).
    ffmpeg leaves an 8-byte `free` box before mdat for this: free + mdat's 32-bit header become
    one 64-bit (largesize) mdat header, so the media data does not move and any size fits.
    """
    data = path.read_bytes()
    at, boxes = 0, []
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        boxes.append((at, length, kind))
        at += length
    (free_at, free_len, free), (_, _, last) = boxes[-2], boxes[-1]
    if (free, free_len, last) != (b"free", 8, b"mdat") or size <= len(data):
        raise RuntimeError(f"{path}: unexpected MP4 layout {boxes} for {size} bytes")
    zeros = bytes(GEN_BLOCK)
    enc = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
    with open(path, "r+b") as f:
        f.seek(free_at)
        f.write(struct.pack(">I4sQ", 1, b"mdat", size - free_at))
        f.seek(0, os.SEEK_END)
        left = size - len(data)
        while left:
            n = min(left, GEN_BLOCK)
            f.write(enc.update(zeros[:n]))
            left -= n
        f.flush()
        os.fsync(f.fileno())


def make_dataset(root: Path, recs: list[Recording], params: dict) -> tuple[float, bool]:
    """The offload folder; reused when root already holds this very data set (--keep)."""
    stamp = root / "dataset.json"
    offload = root / "offload"
    if stamp.exists():
        doc = json.loads(stamp.read_text())
        old = [Recording(**r) for r in doc["recordings"]]
        if doc.get("params") == params and all(
                r.path(offload).is_file() and r.path(offload).stat().st_size == r.size
                for r in old):
            recs[:] = old
            return 0.0, True
    shutil.rmtree(offload, ignore_errors=True)
    offload.mkdir(parents=True)
    t = time.perf_counter()
    for r in recs:
        make_mp4(r.path(offload), VIDEO_SECONDS, creation_time=r.start, faststart=True)
        extend_mp4(r.path(offload), r.size, os.urandom(32))
        print(f"  made {r.name} ({r.size / GiB:.2f} GiB)", file=sys.stderr, flush=True)
    stamp.write_text(json.dumps({"params": params,
                                 "recordings": [asdict(r) for r in recs]}, indent=1))
    return time.perf_counter() - t, False


def write_manifest(path: Path, recs: list[Recording], now: datetime) -> None:
    """Every 第十六条 key per file, so each is archived, not pending metadata. returned_at is
    this run's time: the offload deadline then counts from it, and a kept data set reused on a
    later day is not reported late."""
    rows = []
    for r in recs:
        start = datetime.fromisoformat(r.start.replace("Z", "+00:00"))
        rows.append({
            "file": r.name, "kind": "video", "unit": UNIT, "device_id": DEVICE,
            "officer_id": OFFICER, "recorded_start": r.start,
            "recorded_end": (start + timedelta(seconds=VIDEO_SECONDS)).strftime(
                "%Y-%m-%dT%H:%M:%SZ"),
            "returned_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "party": "王五",
            "cause": "占道经营", "activity_id": "BENCH-1", "activity_type": "日常巡查"})
    path.write_text(json.dumps({"files": rows}, ensure_ascii=False, indent=1), encoding="utf-8")


# --- the stages -------------------------------------------------------------------------------
def pool_map(workers: int, fn: Callable, paths: list[Path]) -> list:
    # Files handed out in name order to a pool of `workers`, as Ingest.run does.
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, paths))


def stage_scan(scanner: ClamdScanner, paths: list[Path], workers: int) -> dict:
    def one(path: Path) -> tuple[str, int]:
        scan = scanner.begin()
        try:
            with open(path, "rb") as f:
                for chunk in read_chunks(f, READ_CHUNK):
                    scan.feed(chunk)
        except BaseException:
            scan.abort()
            raise
        v = scan.finish()
        return v.status, v.windows

    verdicts = pool_map(workers, one, paths)
    return {"verdicts": sorted({s for s, _ in verdicts}),
            "windows": sum(w for _, w in verdicts)}


def stage_copy(store: LocalWormStore, paths: list[Path], digests: dict[Path, Digests],
               workers: int) -> dict:
    until = datetime.now(timezone.utc) + timedelta(days=1)

    def one(path: Path) -> int:
        d = digests[path]
        with open(path, "rb") as f:
            return store.put_object(read_chunks(f, READ_CHUNK), d.sha256, d.size, until).size

    return {"stored_bytes": sum(pool_map(workers, one, paths))}


def custody_env(work: Path, s3: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k != "CUSTODY_CONFIG" and not k.startswith("AWS_")}
    # HOME too: custody keeps the acting person's key under it; never touch the real one.
    env |= {"CUSTODY_HOME": str(work / "home"), "HOME": str(work / "user"),
            "PYTHONPATH": str(REPO)}
    if s3:  # the S3 store takes credentials from boto3's chain, never from the config file
        env |= {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                "AWS_EC2_METADATA_DISABLED": "true"}
    return env


def custody_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "custody"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "cli"]


def s3_settings(endpoint: str, bucket: str) -> str:
    """The config of an S3 store on the Ceph gateway, with lock horizons Ceph can hold."""
    return (f'[store]\nbackend = "s3"\nendpoint_url = "{endpoint}"\nbucket = "{bucket}"\n\n'
            f"[retention]\npermanent_lock_years = {CEPH_LOCK_YEARS}\n\n"
            f"[ledger]\ncheckpoint_retention_years = {CEPH_LOCK_YEARS}\n")


def prepare_custody(work: Path, socket: str, workers: int, store: str = "") -> None:
    """A new custody data home: `custody init` and the device register, with the [scanner]
    socket at the private clamd and ``store`` (config text) naming the store, the local one
    when empty; untimed."""
    (work / "user").mkdir(parents=True, exist_ok=True)
    cfg = work / "custody.toml"
    cfg.write_text(f'[scanner]\nsocket = "{socket}"\nwindow_mib = {DEFAULT_WINDOW >> 20}\n'
                   f"overlap_mib = {DEFAULT_OVERLAP >> 20}\n\n[ingest]\nworkers = {workers}\n"
                   + (f"\n{store}" if store else ""))
    env = custody_env(work, s3=bool(store))
    for args in (["init"], ["devices", "add", DEVICE, "--model", "bench", "--clock", "utc",
                            "--officer", OFFICER, "--unit", UNIT]):
        done = subprocess.run([*custody_cmd(), "--config", str(cfg), *args], env=env,
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:  # say why: a refused S3 init is otherwise a bare status
            raise SystemExit(f"custody {args[0]} failed ({done.returncode}):\n"
                             f"{done.stderr[-3000:]}")


def stage_custody(work: Path, offload: Path, manifest: Path, workers: int,
                  s3: bool = False) -> dict:
    res, out, err = work / "child.json", work / "ingest.json", work / "ingest.err"
    cmd = [*custody_cmd(), "--config", str(work / "custody.toml"), "ingest", str(offload),
           "--manifest", str(manifest), "--station", "BENCH", "--workers", str(workers),
           "--json"]
    subprocess.run([sys.executable, "-S", "-c", LAUNCHER, str(res), str(out), str(err), "--",
                    *cmd], env=custody_env(work, s3=s3), check=True)
    child = json.loads(res.read_text())
    try:
        report = json.loads(out.read_text())
    except ValueError:
        report = {"error": err.read_text(errors="replace")[-2000:]}
    return {"child": child, "report": report,
            "child_cpu_s": child["utime_s"] + child["stime_s"]}


# --- Ceph ---------------------------------------------------------------------------------------
def bluestore_ceiling(data_bytes: int, attempts: int) -> int:
    """The BlueStore file's size for a data set ingested up to `attempts` times (a disturbed
    attempt is run again into a new bucket, and nothing locked can be removed): twice the data
    per attempt (a staging upload's bytes wait out the bucket's floor lock beside the copy
    where the server does not share them; RGW 16 does, measured: 2.0 GiB allocated for a
    2 GiB ingest) plus 4 GiB for RocksDB, the gateway's pools and Ceph's 95% full ratio. The
    file is sparse, so the ceiling costs nothing; an OSD that fills up blocks writes instead
    of failing them."""
    return 2 * data_bytes * attempts + 4 * GiB


def proc_memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (the high-water mark since the process started) in bytes."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1]) * 1024
    return out


def ceph_figures(cluster: CephCluster) -> dict:
    """What the OSD is (from its metadata), what it holds and the daemons' memory, after (e)."""
    meta = json.loads(cluster._ceph("osd", "metadata", "0", "-f", "json"))
    block = cluster.root / "osd" / "0" / "block.file"
    return {
        "version": meta.get("ceph_version_short"),
        "objectstore": meta.get("osd_objectstore"),
        "bdev_access_mode": meta.get("bluestore_bdev_access_mode"),
        "bdev_type": meta.get("bluestore_bdev_type"),
        "rotational": meta.get("rotational"),
        "min_alloc_size": meta.get("bluestore_min_alloc_size"),
        "block_file": str(block), "block_ceiling_bytes": cluster.bluestore_bytes,
        "block_allocated_bytes": block.stat().st_blocks * 512,
        "stat_bytes_used": cluster.stored_bytes(),
        "memory": {name: proc_memory(proc.pid) for name, proc in cluster.procs.items()},
        "start_s": cluster.timings.get("start"),
    }


def start_ceph(work: Path, data_bytes: int, attempts: int) -> CephCluster:
    if not ceph_installed():
        raise SystemExit("--store both needs Ceph (apt-get install ceph-mon ceph-osd radosgw, "
                         "or bash scripts/install-test.sh)")
    cluster = CephCluster(Path(tempfile.mkdtemp(prefix="ceph-", dir=work)),
                          objectstore="bluestore",
                          bluestore_bytes=bluestore_ceiling(data_bytes, attempts))
    print(f"  starting Ceph (BlueStore on a file under {cluster.root}) ...", file=sys.stderr,
          flush=True)
    cluster.start()
    return cluster


# --- the run ----------------------------------------------------------------------------------
def git_state() -> str:
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + uncommitted changes in the working tree" if dirty else "")


def bench(args: argparse.Namespace) -> dict:
    total, big = int(args.total_gib * GiB), int(args.big_gib * GiB)
    if args.files < 2 or big >= total or (total - big) // (args.files - 1) < MiB:
        raise SystemExit("need 2+ files, --big-gib below --total-gib and >= 1 MiB per file")
    made_root = args.dir is None or not Path(args.dir).exists()
    root = Path(args.dir or tempfile.mkdtemp(prefix="ingest-bench-")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=root))
    now = datetime.now(timezone.utc)
    params = {"version": DATASET_VERSION, "total": total, "files": args.files, "big": big}
    recs = plan(args.files, total, big, now)
    daemon = PrivateClamd(work / "clamd", allow_test_signatures=True,
                          max_threads=CLAMD_THREADS, window_size=DEFAULT_WINDOW,
                          overlap=DEFAULT_OVERLAP)
    stages: list[Stage] = []
    socket_dir: Path | None = None
    cluster: CephCluster | None = None
    ceph: dict | None = None
    try:
        print(f"data set in {root}", file=sys.stderr, flush=True)
        gen_s, reused = make_dataset(root, recs, params)
        offload = root / "offload"
        paths = [r.path(offload) for r in recs]
        size = sum(r.size for r in recs)
        manifest = root / "manifest.json"
        write_manifest(manifest, recs, now)
        cache = Cache(args.cache)
        scanner = daemon.start()
        # A long home path puts the socket in a directory of its own under /tmp: remove it too.
        if Path(scanner.socket_path or "").parent.name.startswith("custody-clamd-"):
            socket_dir = Path(scanner.socket_path or "").parent
        status = daemon.status()
        sock = scanner.socket_path or ""
        w = args.workers
        knobs = {"idle_wait": args.idle_wait, "retries": args.retries}

        stages.append(run_stage("(a) clamd scan", cache, paths, size, daemon,
                                lambda: stage_scan(scanner, paths, w), fresh_clamd=True,
                                **knobs))
        digests: dict[Path, Digests] = {}

        def digest_all() -> dict:
            digests.update(zip(paths, pool_map(w, digest_file, paths), strict=True))
            return {}

        stages.append(run_stage("(b) SHA-256 + SM3", cache, paths, size, daemon, digest_all,
                                **knobs))
        # (c) and (d) each write into a store of their own, made and removed untimed.
        store_dir, cwork = work / "store-c", work / "custody"

        def drop(path: Path) -> Callable[[], None]:
            def remove() -> None:
                release_all_for_tests(path)
                shutil.rmtree(path, ignore_errors=True)
            return remove

        stages.append(run_stage("(c) copy into store", cache, paths, size, daemon,
                                lambda: stage_copy(LocalWormStore(store_dir), paths, digests,
                                                   w), teardown=drop(store_dir), **knobs))
        stages.append(run_stage("(d) custody ingest", cache, paths, size, daemon,
                                lambda: stage_custody(cwork, offload, manifest, w),
                                setup=lambda: prepare_custody(cwork, sock, w),
                                teardown=drop(cwork), fresh_clamd=True, **knobs))
        if args.store == "both":
            # Started only now: (a)-(d) run as without it, with no idle cluster beside them.
            cluster = start_ceph(work, size, args.retries + 1)
            ework, buckets = work / "custody-ceph", iter(range(1, 100))

            def prepare_ceph() -> None:
                # every attempt a new home and bucket: nothing locked in Ceph can be removed
                s3 = s3_settings(cluster.endpoint, f"ingest-bench-{next(buckets)}")
                prepare_custody(ework, sock, w, s3)

            stages.append(run_stage("(e) ingest into Ceph", cache, paths, size, daemon,
                                    lambda: stage_custody(ework, offload, manifest, w, s3=True),
                                    setup=prepare_ceph, teardown=drop(ework), fresh_clamd=True,
                                    daemons={n: p.pid for n, p in cluster.procs.items()},
                                    **knobs))
            ceph = ceph_figures(cluster)
        return summarise(args, stages, recs, digests, cache, status, gen_s, reused, root,
                         ceph)
    finally:
        daemon.stop()
        if cluster is not None:
            cluster.stop()
        if socket_dir is not None and socket_dir.is_dir() and not any(socket_dir.iterdir()):
            socket_dir.rmdir()
        release_all_for_tests(work)
        shutil.rmtree(work, ignore_errors=True)
        if not args.keep:
            for name in ("offload", "manifest.json", "dataset.json"):
                target = root / name
                shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
            if made_root and not any(root.iterdir()):
                root.rmdir()


def summarise(args: argparse.Namespace, stages: list[Stage], recs: list[Recording],
              digests: dict[Path, Digests], cache: Cache, status: dict, gen_s: float,
              reused: bool, root: Path, ceph: dict | None = None) -> dict:
    a, b, c, d = stages[:4]
    slowest = max((a, b, c), key=lambda s: s.wall_s)
    cpu_abc = a.cpu_s + b.cpu_s + c.cpu_s
    limit = max(slowest.wall_s, cpu_abc / 2)
    child = d.extra["child"]
    report = d.extra["report"]
    size = sum(r.size for r in recs)
    files = report.get("files", [])
    by_name = {f["file"]: f for f in files}
    offload = root / "offload"
    digests_ok = all(by_name.get(r.name, {}).get("sha256") == digests[r.path(offload)].sha256
                     for r in recs)
    out = {
        "command": "python benchmarks/ingest_bench.py " + " ".join(sys.argv[1:]),
        "data_set": {"files": len(recs), "bytes": size, "largest_bytes": max(r.size for r in recs),
                     "smallest_bytes": min(r.size for r in recs), "reused": reused,
                     "generate_s": gen_s,
                     "meets_issue_minimum": size >= MIN_TOTAL and len(recs) >= MIN_FILES
                     and max(r.size for r in recs) > MIN_BIG},
        "workers": args.workers, "cache": cache.mode, "cache_method": cache.describe(),
        "clamd": {"engine": status.get("engine"), "database": status.get("database"),
                  "max_threads": CLAMD_THREADS, "window_bytes": DEFAULT_WINDOW,
                  "overlap_bytes": DEFAULT_OVERLAP},
        "stages": [asdict(s) | {"mb_s": s.mb_s, "files_s": s.files_s} for s in stages],
        "slowest_stage": slowest.name, "cpu_abc_s": cpu_abc, "limit_s": limit,
        "ratio": d.wall_s / limit, "goal_ratio": GOAL_RATIO,
        "peak_rss_mb": child["maxrss_kb"] * 1024 / 1e6,
        "peak_rss_sampled_mb": child["vmhwm_sampled_kb"] * 1024 / 1e6,
        "goal_rss_mb": GOAL_RSS_MB,
        "source_bytes": size, "custody_rchar": child["io"]["rchar"],
        "custody_read_bytes": child["io"]["read_bytes"],
        "custody_wchar": child["io"]["wchar"],
        "custody_exit_code": child["exit_code"],
        "custody_counts": report.get("counts"), "custody_error": report.get("error"),
        "custody_windows": sum(f.get("checks", {}).get("virus", {}).get("windows", 0)
                               for f in files),
        "custody_digests_match_b": digests_ok,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "git": git_state()},
        "load_after": os.getloadavg()[0],
        "store": args.store,
    }
    if ceph is not None:
        out["ceph"] = ceph | compare(d, stages[4], recs, digests, offload, limit)
    return out


def compare(d: Stage, e: Stage, recs: list[Recording], digests: dict[Path, Digests],
            offload: Path, limit: float) -> dict:
    """(e) custody ingest into Ceph beside (d) into the local store."""
    child, report = e.extra["child"], e.extra["report"]
    by_name = {f["file"]: f for f in report.get("files", [])}
    return {
        "wall_ratio": e.wall_s / d.wall_s, "mb_s_ratio": e.mb_s / d.mb_s,
        "cpu_ratio": e.cpu_s / d.cpu_s, "ratio_to_limit": e.wall_s / limit,
        "daemon_cpu_s": e.extra.get("daemon_cpu_s", {}),
        "custody_peak_rss_mb": child["maxrss_kb"] * 1024 / 1e6,
        "custody_exit_code": child["exit_code"],
        "custody_counts": report.get("counts"), "custody_error": report.get("error"),
        "custody_digests_match_b": all(
            by_name.get(r.name, {}).get("sha256") == digests[r.path(offload)].sha256
            for r in recs),
    }


def render(r: dict) -> str:
    ds = r["data_set"]
    st = {s["name"]: s for s in r["stages"]}
    d = st["(d) custody ingest"]
    ok = r["ratio"] <= r["goal_ratio"]
    rss_ok = r["peak_rss_mb"] < r["goal_rss_mb"]
    lines = [
        f"custody ingest benchmark: {ds['files']} MP4 files, {ds['bytes'] / GiB:.2f} GiB "
        f"({ds['bytes'] / 1e6:,.0f} MB), largest {ds['largest_bytes'] / GiB:.2f} GiB, smallest "
        f"{ds['smallest_bytes'] / MiB:.0f} MiB; "
        + ("data set reused" if ds["reused"] else f"generated in {ds['generate_s']:.0f} s")
        + ("" if ds["meets_issue_minimum"] else "  [SMALLER THAN THE ISSUE'S DATA SET]"),
        f"  {r['workers']} workers; clamd {r['clamd']['engine']} ({r['clamd']['database']}), "
        f"MaxThreads {r['clamd']['max_threads']}, windows of "
        f"{r['clamd']['window_bytes'] >> 20} MiB overlapping {r['clamd']['overlap_bytes'] >> 20}"
        " MiB; local WORM store" + (" and S3 on Ceph RGW (BlueStore on a file)"
                                    if "ceph" in r else ""),
        f"  {r['machine']['cpus']} CPUs, Python {r['machine']['python']}, "
        f"{r['machine']['platform']}; code: {r['machine']['git']}",
        f"  page cache {r['cache_method']}",
        "",
        f"{'stage':<22} {'wall s':>7} {'CPU s':>7} {'(clamd)':>8} {'MB/s':>7} {'files/s':>8}"
        f" {'other CPU s':>12} {'busy':>5}",
    ]
    for s in r["stages"]:
        lines.append(f"{s['name']:<22} {s['wall_s']:>7.1f} {s['cpu_s']:>7.1f} "
                     f"{s['cpu_parts'].get('clamd', 0):>8.1f} {s['mb_s']:>7.0f} "
                     f"{s['files_s']:>8.3f} {s['other_cpu_s']:>12.1f} {s['busy_before']:>5.2f}")
    slow = st[r["slowest_stage"]]
    lines += [
        "",
        f"limit = max(slowest wall of a-c = {slow['wall_s']:.1f} s {r['slowest_stage']}, "
        f"CPU of a-c / 2 = {r['cpu_abc_s']:.1f} / 2 = {r['cpu_abc_s'] / 2:.1f} s) = "
        f"{r['limit_s']:.1f} s",
        f"ratio (d) / limit = {d['wall_s']:.1f} / {r['limit_s']:.1f} = {r['ratio']:.2f}; goal <= "
        f"{r['goal_ratio']:g}: {'met' if ok else 'MISSED'}",
        f"custody peak RSS {r['peak_rss_mb']:.0f} MB (ru_maxrss; {r['peak_rss_sampled_mb']:.0f}"
        f" MB sampled VmHWM); goal < {r['goal_rss_mb']} MB: {'met' if rss_ok else 'MISSED'}",
        f"source bytes {r['source_bytes']:,}; custody read() {r['custody_rchar']:,} "
        f"({r['custody_rchar'] / r['source_bytes']:.3f} x source: an upper bound, it counts "
        f"every read incl. modules and SQLite); from disk {r['custody_read_bytes']:,} "
        f"({r['custody_read_bytes'] / r['source_bytes']:.3f} x)",
        f"(a) verdicts {st['(a) clamd scan']['extra']['verdicts']}, "
        f"{st['(a) clamd scan']['extra']['windows']} clamd windows; "
        f"custody: exit {r['custody_exit_code']}, states {r['custody_counts']}, "
        f"{r['custody_windows']} clamd windows, SHA-256 equal to (b): "
        f"{r['custody_digests_match_b']}"
        + (f"\n  custody error: {r['custody_error']}" if r["custody_error"] else ""),
        "CPU s = this process + clamd (/proc/<pid>/stat) + for (d) the custody process "
        "(wait4 rusage); other CPU s = all CPUs' busy time (/proc/stat) not in CPU s: kernel "
        "writeback, and other jobs on the machine. MB/s = 10^6 bytes/s. busy = cores busy "
        "just before the stage (after waiting up to --idle-wait s for other jobs); 1-min load "
        f"after the run: {r['load_after']:.1f}.",
    ]
    if "ceph" in r:
        lines += ["", *render_ceph(r)]
    for s in r["stages"]:
        for x in s["discarded"]:
            lines.append(f"discarded attempt of {s['name']}: {x['wall_s']:.1f} s wall, "
                         f"{x['cpu_s']:.1f} CPU-s, {x['other_cpu_s']:.1f} CPU-s of other work")
        # Someone else's job in a stage lengthens its wall time: the limit (from a-c) or the
        # custody time (d) is then off, and the ratio with it.
        if contaminated(s["other_cpu_s"], s["cpu_s"]):
            lines.append(f"WARNING: {s['other_cpu_s']:.0f} CPU-s of other work ran during "
                         f"{s['name']} ({s['cpu_s']:.0f} CPU-s of its own): its wall time is "
                         "inflated; rerun on a quiet machine.")
    return "\n".join(lines)


def render_ceph(r: dict) -> list[str]:
    st = {s["name"]: s for s in r["stages"]}
    d, e, c = st["(d) custody ingest"], st["(e) ingest into Ceph"], r["ceph"]
    mem = c["memory"]

    def row(label: str, s: dict, rss: float) -> str:
        p = s["cpu_parts"]
        return (f"{label:<26} {s['wall_s']:>7.1f} {s['mb_s']:>6.0f} {s['cpu_s']:>7.1f} "
                f"{p.get('custody', 0):>9.1f} {p.get('clamd', 0):>7.1f} {p.get('ceph', 0):>7.1f}"
                f" {rss:>9.0f}")

    def mb(name: str, key: str) -> str:
        return f"{mem.get(name, {}).get(key, 0) / 1e6:,.0f}"

    return [
        "custody ingest of the same files, same clamd (restarted), workers and cache: the local "
        "store (d) beside S3 on Ceph RGW (e)",
        f"{'store':<26} {'wall s':>7} {'MB/s':>6} {'CPU s':>7} {'(custody)':>9} {'(clamd)':>7}"
        f" {'(ceph)':>7} {'RSS MB':>9}",
        row("(d) local WORM store", d, r["peak_rss_mb"]),
        row("(e) S3 on Ceph RGW", e, c["custody_peak_rss_mb"]),
        f"ratio ceph / local: wall {c['wall_ratio']:.2f}, MB/s {c['mb_s_ratio']:.2f}, CPU s "
        f"{c['cpu_ratio']:.2f}; (e) / limit of a-c = {c['ratio_to_limit']:.2f}",
        "Ceph daemons' CPU s in (e): " + ", ".join(
            f"{n} {v:.1f}" for n, v in sorted(c["daemon_cpu_s"].items())),
        f"Ceph resident memory after (e), MB (peak VmHWM since start): OSD {mb('osd', 'VmRSS')}"
        f" ({mb('osd', 'VmHWM')}), radosgw {mb('rgw', 'VmRSS')} ({mb('rgw', 'VmHWM')}), "
        f"monitor {mb('mon', 'VmRSS')} ({mb('mon', 'VmHWM')})",
        f"Ceph {c['version']}: one OSD, {c['objectstore']} on a {c['bdev_access_mode']} "
        f"(data, RocksDB and WAL in {c['block_file']}: ceiling {c['block_ceiling_bytes'] / GiB:.1f}"
        f" GiB sparse, {c['block_allocated_bytes'] / GiB:.2f} GiB allocated after (e)), device "
        f"type {c['bdev_type']} (rotational {c['rotational']}), min_alloc_size "
        f"{c['min_alloc_size']}; OSD used {c['stat_bytes_used'] / GiB:.2f} GiB; cluster started "
        f"in {c['start_s']:.1f} s (untimed)",
        f"(e) custody: exit {c['custody_exit_code']}, states {c['custody_counts']}, SHA-256 "
        f"equal to (b): {c['custody_digests_match_b']}, peak RSS {c['custody_peak_rss_mb']:.0f}"
        " MB" + (f"\n  custody error: {c['custody_error']}" if c["custody_error"] else ""),
        "(custody) = the custody process (wait4); (ceph) = monitor + OSD + radosgw "
        "(/proc/<pid>/stat), part of CPU s in (e); RSS MB = custody's peak (ru_maxrss).",
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dir", help="where to put the data set (default: a new dir in $TMPDIR)")
    p.add_argument("--total-gib", type=float, default=4.5, help="data set size (default 4.5)")
    p.add_argument("--files", type=int, default=22, help="number of files (default 22)")
    p.add_argument("--big-gib", type=float, default=2.2, help="the long recording (default 2.2)")
    p.add_argument("--workers", type=int, default=2, help="files in flight, every stage")
    p.add_argument("--cache", choices=("auto", "cold", "warm"), default="auto",
                   help="cold: drop the page cache before each stage; warm: read the sources "
                        "once before each stage; auto: cold where permitted (default)")
    p.add_argument("--idle-wait", type=float, default=300, help="before each stage, wait up "
                   "to this many seconds for other jobs on the machine to finish (default 300)")
    p.add_argument("--retries", type=int, default=2, help="run a stage again (at most this "
                   "many times) when other jobs used the CPU during it (default 2)")
    p.add_argument("--keep", action="store_true", help="keep the data set (reused by a later "
                   "run with the same --dir and sizes)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--store", choices=("local", "both"), default="local",
                   help="local: stages a-d (default); both: then (e) custody ingest of the "
                        "same files into S3 on a single-node Ceph RGW with a BlueStore OSD on "
                        "a file under --dir, and the comparison with (d)")
    args = p.parse_args(argv)
    r = bench(args)
    print(json.dumps(r, indent=2, ensure_ascii=False) if args.json else render(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
