"""A private clamd: the project's own config, run from a home directory, outliving its starter.

clamd answers OK for content it skipped under its default limits, so the config raises every
size limit to at least one scan window and sets AlertExceedsMax: what still exceeds a limit is
reported as Heuristics.Limits.Exceeded.*, which the client treats as not scanned.

The state file (scanner.json) lets a later process (`custody scanner status|stop`, an ingest)
find the daemon and its window size without being told again.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from i18n import N_
from scanners.clamd_client import (
    DEFAULT_OVERLAP,
    DEFAULT_WINDOW,
    ClamdScanner,
    MiB,
    ScannerRefused,
    ScannerUnavailable,
)

TEST_SIGNATURES_DIR = Path(__file__).resolve().parent / "testsigs"
TEST_SIGNATURE_PREFIX = "custody-test"  # file names in TEST_SIGNATURES_DIR
TEST_SIGNATURE_NAME = b"Custody.Test."  # signature names inside them
SYSTEM_DATABASE_DIR = Path("/var/lib/clamav")
CLAMD = "/usr/sbin/clamd"
# Signed containers (main.cvd, daily.cld, ...) and the plain-text signature formats.
SIGNED_DB = {".cvd", ".cld", ".cud"}
PLAIN_DB = {".hdb", ".hsb", ".hdu", ".hsu", ".mdb", ".msb", ".mdu", ".msu", ".ndb", ".ndu",
            ".ldb", ".ldu", ".idb", ".cdb", ".cbc", ".pdb", ".gdb", ".wdb", ".yar", ".yara"}
# Plain-text files that change what is detected without being signatures themselves: allow
# lists (.fp .sfp .ign .ign2), file type magic (.ftm), trusted signers (.crb .cat), .pwdb, .imp.
AUX_DB = {".fp", ".sfp", ".ign", ".ign2", ".ftm", ".crb", ".cat", ".pwdb", ".imp"}
# Databases installed by 'custody scanner update' live in versioned directories under
# <home>/databases; the symlink <home>/databases/current names the one the daemon loads.
DATABASES = "databases"
CURRENT = "current"
# The kernel's sun_path holds 108 bytes including the terminating NUL.
MAX_SOCKET_PATH = 100
MAX_SCAN_SIZE = 4000 * MiB  # the most clamd.conf accepts; a guard against archive bombs
# clamd.conf options that take a size (written with K/M suffixes); the others are plain numbers.
SIZE_OPTIONS = {"StreamMaxLength", "MaxFileSize", "MaxScanSize", "PCREMaxFileSize",
                "MaxEmbeddedPE", "MaxHTMLNormalize", "MaxHTMLNoTags", "MaxScriptNormalize",
                "MaxZipTypeRcg"}


def _conf_size(n: int) -> str:
    if n % MiB == 0:
        return f"{n // MiB}M"
    if n % 1024 == 0:
        return f"{n // 1024}K"
    return str(n)


def signature_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir()
                  if p.suffix in SIGNED_DB | PLAIN_DB and p.is_file() and p.stat().st_size > 0)


def signature_files_signed(directory: Path) -> bool:
    """True when the directory holds official (signed) databases, whose version clamd reports."""
    return any(p.suffix in SIGNED_DB for p in signature_files(directory))


def test_signature_files(directory: Path) -> list[Path]:
    """The custody test signatures in a database directory, also when renamed (found by the
    signature names inside the plain-text files)."""
    found = []
    for path in signature_files(directory):
        if path.name.startswith(TEST_SIGNATURE_PREFIX) or (
                path.suffix in PLAIN_DB and TEST_SIGNATURE_NAME in path.read_bytes()):
            found.append(path)
    return found


def _database_label(directory: Path, test: bool) -> str:
    """clamd's VERSION gives no version for local signature files; name them by content."""
    digest = hashlib.sha256()
    for path in sorted(directory.iterdir()):
        if path.suffix in PLAIN_DB | AUX_DB and path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    kind = "custody test signatures" if test else "local signatures"
    return f"{kind} sha256:{digest.hexdigest()[:16]}"


def _process_alive(pid: int, config: Path) -> bool:
    """True if pid is a live clamd started with this config (a pid file may outlive its
    process, and the pid be reused)."""
    proc = Path(f"/proc/{pid}")
    try:
        cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z" and str(config).encode() in cmdline and any(
        a.endswith(b"clamd") for a in cmdline[:1])


class PrivateClamd:
    """A clamd of custody's own under `home`: clamd.conf, clamd.log, clamd.pid, tmp/, the socket
    (in /tmp when home's path is too long for one) and scanner.json."""

    def __init__(self, home: Path, *, database_dir: Path | None = None,
                 allow_test_signatures: bool = False, max_threads: int = 4,
                 stream_max: int | None = None, window_size: int = DEFAULT_WINDOW,
                 overlap: int = DEFAULT_OVERLAP, limits: Mapping[str, int | str] | None = None,
                 read_timeout: int = 600, clamd: str = CLAMD) -> None:
        """stream_max (StreamMaxLength) defaults to a window plus 1 MiB; `limits` overrides
        clamd limit options by name (e.g. {"MaxFileSize": 1 << 20}) for tests of the limits."""
        self.home = Path(home).resolve()
        self.database_dir = Path(database_dir).resolve() if database_dir else None
        self.allow_test_signatures = allow_test_signatures
        self.max_threads = max_threads
        self.window_size, self.overlap = window_size, overlap
        self.stream_max = stream_max if stream_max is not None else window_size + MiB
        if self.stream_max < window_size:
            raise ValueError("stream_max must be at least window_size, or windows are refused")
        self.limits = dict(limits or {})
        self.read_timeout = read_timeout
        self.clamd = clamd
        self.config_path = self.home / "clamd.conf"
        self.pid_path = self.home / "clamd.pid"
        self.log_path = self.home / "clamd.log"
        self.state_path = self.home / "scanner.json"

    # -- where things are -------------------------------------------------------------------

    def _socket_path(self) -> Path:
        path = self.home / "clamd.sock"
        if len(str(path).encode()) <= MAX_SOCKET_PATH:
            return path
        tag = hashlib.sha256(str(self.home).encode()).hexdigest()[:12]
        directory = Path(tempfile.gettempdir()) / f"custody-clamd-{os.getuid()}-{tag}"
        directory.mkdir(mode=0o700, exist_ok=True)
        st = directory.lstat()
        # Someone else's directory there could intercept the scans.
        if not directory.is_dir() or directory.is_symlink() or st.st_uid != os.getuid():
            raise ScannerRefused(N_("{directory} is not a private directory of this user"),
                                 directory=str(directory))
        return directory / "clamd.sock"

    def _state(self) -> dict | None:
        try:
            return json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return None

    def _pid(self) -> int | None:
        try:
            return int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None

    def _running_pid(self) -> int | None:
        pid = self._pid()
        return pid if pid and _process_alive(pid, self.config_path) else None

    # -- database -----------------------------------------------------------------------------

    @property
    def databases_dir(self) -> Path:
        return self.home / DATABASES

    def installed_database(self) -> Path | None:
        """The directory 'custody scanner update' installed last (it wins over database_dir
        and the test signatures), or None."""
        link = self.databases_dir / CURRENT
        return link.resolve() if link.is_symlink() else None

    def selected_database(self) -> Path:
        """The directory the daemon runs on, or would load on its next start."""
        state = self._state()
        if state and self._running_pid():
            return Path(state["database_dir"])
        installed = self.installed_database()
        if installed is not None:
            return installed
        if self.database_dir is None and self.allow_test_signatures:
            return TEST_SIGNATURES_DIR
        return self.database_dir or SYSTEM_DATABASE_DIR

    def _choose_database(self) -> tuple[Path, bool]:
        """(database directory, test signatures in it), or ScannerRefused saying why not."""
        installed = self.installed_database()
        if installed is None and self.database_dir is None and self.allow_test_signatures:
            directory = self.home / "testdb"
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir(parents=True)
            for src in signature_files(TEST_SIGNATURES_DIR):
                shutil.copyfile(src, directory / src.name)
            return directory, True
        directory = installed or self.database_dir or SYSTEM_DATABASE_DIR
        if not signature_files(directory):
            raise ScannerRefused(
                N_("no signature database in {directory}: load one with freshclam or "
                   "'custody scanner update --from DIR'"), directory=str(directory))
        test = test_signature_files(directory)
        if test and not self.allow_test_signatures:
            raise ScannerRefused(
                N_("{directory} holds custody test signatures ({files}); test signatures are "
                   "for tests and the demo only"), directory=str(directory),
                files=", ".join(p.name for p in test))
        return directory, bool(test)

    def _max_file_size(self) -> int | None:
        """clamd's MaxFileSize as this config sets it (a window's worth unless overridden);
        None when it is written in a form this does not read."""
        value = self.limits.get("MaxFileSize", self.stream_max)
        if isinstance(value, int):
            return value
        text = str(value).strip().upper()
        scale = {"K": 1024, "M": MiB}.get(text[-1:], 1)
        digits = text[:-1] if scale > 1 else text
        return int(digits) * scale if digits.isdigit() else None

    def _config(self, socket_path: Path, database: Path) -> str:
        window_limit = self.stream_max
        options: dict[str, object] = {
            "LocalSocket": socket_path,
            "LocalSocketMode": "660",
            "FixStaleSocket": "yes",
            "PidFile": self.pid_path,
            "LogFile": self.log_path,
            "LogTime": "yes",
            "LogFileMaxSize": "20M",
            "LogRotate": "yes",
            "TemporaryDirectory": self.home / "tmp",  # INSTREAM spools each window here
            "DatabaseDirectory": database,
            "Foreground": "no",
            "MaxThreads": self.max_threads,
            "ReadTimeout": self.read_timeout,  # a caller's upload may stall its feeding
            "AlertExceedsMax": "yes",
            "StreamMaxLength": self.stream_max,
            "MaxFileSize": window_limit,
            "MaxScanSize": max(MAX_SCAN_SIZE, window_limit),
            "MaxScanTime": 600_000,  # ms; a 1 GiB window took ~30 CPU-s here (test DB)
            # Files above these sizes silently lose PCRE signatures, embedded-PE search and
            # HTML/script normalisation; raised so a full window gets all of them.
            "PCREMaxFileSize": window_limit,
            "MaxEmbeddedPE": window_limit,
            "MaxHTMLNormalize": window_limit,
            "MaxHTMLNoTags": window_limit,
            "MaxScriptNormalize": window_limit,
            # Nesting and file-count guards stay at ClamAV's defaults; they alert when hit.
            "MaxRecursion": 17,
            "MaxFiles": 10000,
        }
        options.update(self.limits)
        lines = ["# Written by custody (PrivateClamd); rewritten on every start."]
        lines += [f"{key} {_conf_size(value) if key in SIZE_OPTIONS else value}"
                  for key, value in options.items()]
        return "\n".join(lines) + "\n"

    # -- life cycle -----------------------------------------------------------------------

    def start(self, wait: float = 60) -> ClamdScanner:
        """Start clamd if it is not running; return a scanner for it. Idempotent, also for two
        processes starting it at once."""
        self.home.mkdir(parents=True, exist_ok=True)
        with (self.home / "start.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not self._running_pid():
                self._launch(wait)
        return self._await(wait)

    def _await(self, wait: float) -> ClamdScanner:
        scanner = self.scanner()
        deadline = time.monotonic() + wait
        while True:
            try:
                scanner.ping()
                return scanner
            except ScannerUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _launch(self, wait: float) -> None:
        database, test = self._choose_database()
        (self.home / "tmp").mkdir(exist_ok=True)
        socket_path = self._socket_path()
        self.config_path.write_text(self._config(socket_path, database))
        self.state_path.write_text(json.dumps({
            "socket": str(socket_path),
            "config": str(self.config_path),
            "database_dir": str(database),
            "database_label": None if signature_files_signed(database)
            else _database_label(database, test),
            "test_signatures": test,
            "window_size": self.window_size,
            "overlap": self.overlap,
            "stream_max": self.stream_max,
            "max_file_size": self._max_file_size(),
        }, indent=2) + "\n")
        if not Path(self.clamd).exists():
            raise ScannerUnavailable(N_("{program} not found: install clamav-daemon"),
                                     program=str(self.clamd))
        out = self.home / "clamd.out"
        with out.open("wb") as sink:
            # clamd loads the database, then forks into the background: a zero exit means
            # the signatures loaded. A new session keeps it out of the caller's Ctrl-C.
            try:
                result = subprocess.run([self.clamd, "-c", str(self.config_path)],
                                        stdin=subprocess.DEVNULL, stdout=sink, stderr=sink,
                                        timeout=wait, start_new_session=True, check=False)
            except subprocess.TimeoutExpired as err:
                raise ScannerUnavailable(
                    N_("clamd did not load its database within {seconds} s; see {log}"),
                    seconds=wait, log=str(self.log_path)) from err
        if result.returncode != 0:
            raise ScannerUnavailable(
                N_("clamd did not start (exit {code}): {output}"), code=result.returncode,
                output=out.read_text(errors="replace").strip()[-2000:])

    def switch_database(self, directory: Path, wait: float = 300) -> dict:
        """Make `directory` (inside databases_dir) the one the daemon loads: swap the `current`
        symlink atomically and, if the daemon runs, restart it on the new database. If it does
        not come up on it, the link goes back and the daemon is restarted on the previous one,
        and the error is raised. Scans running during the restart are lost (not-scanned).
        Returns {"previous": dir or None, "restarted": bool}."""
        directory = Path(directory).resolve()
        if directory.parent != self.databases_dir.resolve():
            raise ValueError(f"{directory} is not inside {self.databases_dir}")
        self.home.mkdir(parents=True, exist_ok=True)
        with (self.home / "start.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            previous = self.installed_database()
            running = self._running_pid() is not None
            self._point_current(directory.name)
            if not running:
                return {"previous": previous, "restarted": False}
            self.stop()
            try:
                self._launch(wait)
                self._await(wait).ping()
            except (ScannerUnavailable, ScannerRefused) as err:
                self.stop()
                self._point_current(previous.name if previous else None)
                try:
                    self._launch(wait)
                except (ScannerUnavailable, ScannerRefused) as again:
                    raise ScannerUnavailable(
                        N_("{reason}; clamd did not come back on the previous database "
                           "either: {again}"), reason=err.text, again=again.text) from err
                raise
        return {"previous": previous, "restarted": True}

    def _point_current(self, name: str | None) -> None:
        """Atomically point databases/current at databases/<name> (None: remove it)."""
        link = self.databases_dir / CURRENT
        if name is None:
            link.unlink(missing_ok=True)
        else:
            tmp = self.databases_dir / f".{CURRENT}-{os.getpid()}"
            tmp.unlink(missing_ok=True)
            os.symlink(name, tmp)  # relative: the home may move
            os.replace(tmp, link)
        fd = os.open(self.databases_dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def scanner(self, timeout: float = 600.0) -> ClamdScanner:
        state = self._state()
        if state is None:
            raise ScannerUnavailable(
                N_("no private clamd was started in {home}: run 'custody scanner start'"),
                home=str(self.home))
        if state["test_signatures"] and not self.allow_test_signatures:
            raise ScannerRefused(
                N_("the private clamd in {home} runs on custody test signatures; test "
                   "signatures are for tests and the demo only (stop it and start it on a "
                   "real signature database)"), home=str(self.home))
        return ClamdScanner(socket_path=state["socket"], window_size=state["window_size"],
                            overlap=state["overlap"], timeout=timeout,
                            database_label=state["database_label"],
                            file_limit=state.get("max_file_size"))

    def status(self) -> dict:
        state = self._state() or {}
        pid = self._running_pid()
        info: dict = {
            "running": pid is not None,
            "pid": pid,
            "home": str(self.home),
            "socket": state.get("socket"),
            "config": str(self.config_path) if self.config_path.exists() else None,
            "log": str(self.log_path) if self.log_path.exists() else None,
            "database_dir": state.get("database_dir"),
            "test_signatures": state.get("test_signatures"),
            "window_size": state.get("window_size"),
            "overlap": state.get("overlap"),
            "stream_max": state.get("stream_max"),
            "responding": False,
            "engine": None,
            "database": None,
        }
        if pid is not None and state:
            probe = ClamdScanner(socket_path=state["socket"], timeout=5,
                                 database_label=state.get("database_label"))
            try:
                info["engine"], info["database"] = probe.version()
                info["responding"] = True
            except ScannerUnavailable as err:
                info["error"] = str(err)
        return info

    def stop(self, wait: float = 30) -> None:
        """Stop the daemon if it runs. SIGTERM, not clamd's SHUTDOWN command: clamd acts on
        SHUTDOWN only when its poll loop next wakes, which took 10 s and more here."""
        state = self._state() or {}
        pid = self._running_pid()
        for sig, patience in ((signal.SIGTERM, wait), (signal.SIGKILL, 5.0)):
            if pid is None or not _process_alive(pid, self.config_path):
                break
            os.kill(pid, sig)
            deadline = time.monotonic() + patience
            while _process_alive(pid, self.config_path) and time.monotonic() < deadline:
                time.sleep(0.01)
        # clamd removes these on a clean exit; not after SIGKILL.
        self.pid_path.unlink(missing_ok=True)
        if state.get("socket"):
            Path(state["socket"]).unlink(missing_ok=True)

