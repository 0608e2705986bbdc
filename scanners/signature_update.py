"""Offline signature updates for the private clamd (`custody scanner update --from DIR`).

The archive computer may be offline, so ClamAV database files arrive on removable media. They
are taken in four steps, and the database in use is left alone until the last one:

1. look: every database file in DIR must be a regular file (no symlinks, devices or
   directories) with a plain name; unsigned files (.cud containers and plain-text signature
   files) are refused unless explicitly allowed;
2. copy into a new directory under <home>/databases (O_NOFOLLOW, fsync), then read the copy
   back and compare its SHA-256 with the bytes read from the media;
3. check: a container must carry a ClamAV-VDB header; no official database (daily, main,
   bytecode, ...) may be older than the one in use, nor missing from the set; a throwaway
   clamd with the project's own config must load the whole directory and scan a probe
   (libclamav verifies the Talos signature of .cvd/.cld files as it loads them);
4. switch: `PrivateClamd.switch_database` swaps the `current` symlink and restarts the daemon
   on it, going back to the previous directory if it does not come up.

The two newest directories (the new one and the one before it) are kept; older ones go.
This module judges files only and knows nothing of the archive: who installed is a string.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
import tarfile
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from i18n import N_, Text
from scanners.clamd_client import CLEAN, ScannerRefused, ScannerUnavailable
from scanners.clamd_daemon import (
    AUX_DB,
    CURRENT,
    PLAIN_DB,
    SIGNED_DB,
    TEST_SIGNATURE_NAME,
    PrivateClamd,
)

# libclamav checks the Talos signature of these when it loads them (.cld: via its signed .info).
VERIFIED_DB = {".cvd", ".cld"}
UNSIGNED_DB = (SIGNED_DB - VERIFIED_DB) | PLAIN_DB | AUX_DB  # .cud and every plain-text file
DATABASE_SUFFIXES = SIGNED_DB | PLAIN_DB | AUX_DB
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\Z")
MANIFEST = "custody-update.json"  # in each installed directory; clamd ignores the suffix
HEADER = 512  # a .cvd/.cld/.cud starts with a 512-byte text header
PROBE = b"custody signature update probe: an ordinary file\n" * 64
CHUNK = 1 << 20
LOAD_WAIT = 600  # s; the official main+daily load in tens of seconds on a slow machine


class UpdateRefused(Exception):
    """The update was refused; the database in use is untouched."""

    def __init__(self, file: str | None, reason: str | Text, **params: object) -> None:
        # ``reason`` is an English template (N_) filled from ``params``: the ledger keeps the
        # English ``reason``; ``text`` is what a person reads, in their language
        said = reason if isinstance(reason, Text) else Text(reason, **params)
        self.text = Text(N_("{file}: {reason}"), file=file, reason=said) if file else said
        super().__init__(str(self.text))
        self.file, self.reason = file, str(said)


@dataclass
class DatabaseFile:
    name: str
    kind: str                    # "signed container" | "unsigned container" | "plain"
    sha256: str
    size: int
    version: int | None = None   # containers: the header's version
    build_time: str | None = None
    signatures: int | None = None  # containers: the header's count; plain: signature lines
    functionality_level: int | None = None
    builder: str | None = None


@dataclass
class UpdateResult:
    directory: str
    previous: str | None
    files: list[DatabaseFile]
    ignored: list[str]
    unsigned: bool
    clamd_version: str          # what the checking clamd's VERSION answered
    database: str               # the database version scans will name
    restarted: bool
    installed_at: str
    installed_by: str
    source: str

    def to_dict(self) -> dict:
        return asdict(self)


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def container_header(path: Path) -> dict:
    """The fields of a .cvd/.cld/.cud header, as `sigtool --info` prints them:
    ClamAV-VDB:build time:version:signatures:functionality level:MD5:signature:builder:stime.
    Raises ValueError when the file does not start with one."""
    with path.open("rb") as f:
        head = f.read(HEADER)
    if not head.startswith(b"ClamAV-VDB:"):
        raise ValueError(N_("not a ClamAV database (no ClamAV-VDB header)"))
    try:
        fields = head.rstrip(b" \0").decode("ascii").split(":")
        stime = int(fields[8]) if len(fields) > 8 and fields[8].strip().isdigit() else None
        built = (datetime.fromtimestamp(stime, timezone.utc) if stime is not None else
                 datetime.strptime(fields[1], "%d %b %Y %H-%M %z"))
        return {"version": int(fields[2]), "signatures": int(fields[3]),
                "functionality_level": int(fields[4]), "builder": fields[7],
                "build_time": _iso(built)}
    except (UnicodeDecodeError, IndexError, ValueError) as err:
        raise ValueError(f"malformed ClamAV-VDB header ({err})") from err


def _database_name(name: str) -> str:
    """daily.cvd, daily.cld and daily.cud are one database (daily); plain files are their own."""
    stem, suffix = os.path.splitext(name)
    return stem if suffix in SIGNED_DB else name


def _official(directory: Path) -> dict[str, tuple[str, int]]:
    """{database: (file name, version)} of the containers in a directory."""
    found = {}
    if directory.is_dir():
        for path in sorted(directory.iterdir()):
            if path.suffix in SIGNED_DB and path.is_file():
                with contextlib.suppress(OSError, ValueError):
                    found[path.stem] = (path.name, container_header(path)["version"])
    return found


def _look(source: Path, allow_unsigned: bool) -> tuple[list[str], list[str]]:
    """(database file names to take, names ignored), or UpdateRefused."""
    if not source.is_dir():
        raise UpdateRefused(str(source), N_("not a directory"))
    take, ignored, seen = [], [], {}
    with os.scandir(source) as listing:
        entries = sorted(listing, key=lambda e: e.name)
    for entry in entries:
        name = entry.name
        suffix = os.path.splitext(name)[1]
        if name.startswith(".") or suffix.lower() not in DATABASE_SUFFIXES:
            ignored.append(name)
            continue
        if not SAFE_NAME.match(name):
            raise UpdateRefused(repr(name), N_("refused file name (only letters, digits, '.', "
                                   "'_' and '-', starting with a letter or digit)"))
        if suffix != suffix.lower():
            raise UpdateRefused(name, N_("upper-case suffix: clamd and custody expect {suffix}; "
                                   "rename it on the media"), suffix=suffix.lower())
        if entry.is_symlink():
            raise UpdateRefused(name, N_("a symbolic link (to {target!r}); copy the file itself "
                                   "onto the media"), target=os.readlink(entry.path))
        if not entry.is_file(follow_symlinks=False):
            raise UpdateRefused(name, N_("not a regular file"))
        if suffix in UNSIGNED_DB and not allow_unsigned:
            kind = (Text("an unsigned container") if suffix in SIGNED_DB
                    else Text("a plain signature file"))
            raise UpdateRefused(name, N_("{kind}: nobody's signature vouches for it; install it "
                                         "deliberately with --allow-unsigned (official "
                                         ".cvd/.cld need not)"), kind=kind)
        db = _database_name(name)
        if db in seen:
            raise UpdateRefused(name, N_("the same database as {other}: keep one of them"),
                                other=seen[db])
        seen[db] = name
        take.append(name)
    if not take:
        raise UpdateRefused(str(source), N_("no ClamAV database files (.cvd .cld .cud .ndb .hdb "
                                            "...) in it"))
    return take, ignored


def _copy(source: Path, name: str, target: Path) -> tuple[str, int]:
    """Copy one file without following links; fsync; read the copy back and compare."""
    try:
        src = os.open(source / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as err:
        raise UpdateRefused(name, N_("cannot open it: {error}"), error=err.strerror) from err
    digest, size = hashlib.sha256(), 0
    try:
        if not stat.S_ISREG(os.fstat(src).st_mode):
            raise UpdateRefused(name, N_("not a regular file"))
        dst = os.open(target / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                      0o644)
        try:
            while chunk := os.read(src, CHUNK):
                digest.update(chunk)
                size += len(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(dst, view):]
            os.fsync(dst)
        finally:
            os.close(dst)
    except OSError as err:
        raise UpdateRefused(name, N_("could not copy it: {error}"), error=str(err)) from err
    finally:
        os.close(src)
    again = hashlib.sha256()
    with (target / name).open("rb") as f:
        while chunk := f.read(CHUNK):
            again.update(chunk)
    if again.hexdigest() != digest.hexdigest():
        raise UpdateRefused(name, N_("the copy does not match what was read from the media "
                                     "(sha256 {copy} != {read})"), copy=again.hexdigest(),
                            read=digest.hexdigest())
    if size == 0:
        raise UpdateRefused(name, N_("empty"))
    return digest.hexdigest(), size


def _inspect(path: Path, sha256: str, size: int) -> DatabaseFile:
    if path.suffix in SIGNED_DB:
        try:
            header = container_header(path)
        except ValueError as err:
            raise UpdateRefused(path.name, str(err)) from err
        kind = "signed container" if path.suffix in VERIFIED_DB else "unsigned container"
        return DatabaseFile(path.name, kind, sha256, size, **header)
    data = path.read_bytes()
    if b"\0" in data:
        raise UpdateRefused(path.name, N_("not a ClamAV signature file (binary content in a "
                                          "{suffix} file)"), suffix=path.suffix)
    lines = [ln for ln in data.splitlines() if ln.strip() and not ln.startswith(b"#")]
    return DatabaseFile(path.name, "plain", sha256, size, signatures=len(lines))


def _holds_test_signatures(path: Path) -> bool:
    """True when a plain file or an unsigned container (a gzipped tar after its header) holds
    custody test signatures. Signed containers come from Talos and are not opened."""
    if path.suffix in VERIFIED_DB:
        return False
    if path.suffix not in SIGNED_DB:
        return TEST_SIGNATURE_NAME in path.read_bytes()
    try:
        with path.open("rb") as f:
            f.seek(HEADER)
            with tarfile.open(fileobj=f, mode="r:gz") as tar:
                for member in tar:
                    inner = tar.extractfile(member) if member.isfile() else None
                    if inner is not None and TEST_SIGNATURE_NAME in inner.read():
                        return True
    except (OSError, tarfile.TarError, EOFError):
        return False  # clamd's load decides whether it is a database at all
    return False


def _check_versions(files: list[DatabaseFile], in_use: Path | None) -> None:
    if in_use is None:
        return
    new = {_database_name(f.name): f for f in files}
    for db, (old_name, old_version) in _official(in_use).items():
        f = new.get(db)
        if f is None:
            raise UpdateRefused(old_name, N_("in use (version {version}) but not in the update: "
                                             "bring the whole set (main, daily, bytecode, "
                                             "...)"), version=old_version)
        if f.version is not None and f.version < old_version:
            raise UpdateRefused(f.name, N_("version {version} is older than {other} version "
                                           "{other_version} in use ({in_use})"),
                                version=f.version, other=old_name, other_version=old_version,
                                in_use=str(in_use))


_LOAD_ERROR = re.compile(r"Can't load (\S+?): (.+)")


def _test_load(daemon: PrivateClamd, directory: Path, wait: float) -> tuple[str, str]:
    """Start a throwaway clamd with the project's config on `directory`; it must load it and
    scan a probe clean. Returns (its VERSION answer, the database version scans will name)."""
    check_home = daemon.databases_dir / f".check-{directory.name}"
    probe = PrivateClamd(check_home, database_dir=directory,
                         allow_test_signatures=daemon.allow_test_signatures, max_threads=1,
                         window_size=daemon.window_size, overlap=daemon.overlap,
                         stream_max=daemon.stream_max, limits=daemon.limits, clamd=daemon.clamd)
    try:
        try:
            scanner = probe.start(wait=wait)
        except ScannerRefused as err:
            raise UpdateRefused(None, err.text) from err
        except ScannerUnavailable as err:
            text = str(err)
            if not text.startswith("clamd did not start"):
                raise
            found = _LOAD_ERROR.search(text)
            if found:
                raise UpdateRefused(Path(found.group(1)).name, N_("clamd cannot load it: {error}"),
                                    error=found.group(2).strip()) from err
            raise UpdateRefused(None, N_("clamd cannot load the update: {reason}"),
                                reason=err.text) from err
        answer = scanner._command("VERSION")
        verdict = scanner.scan_bytes(PROBE)
        if verdict.status != CLEAN:
            raise UpdateRefused(None, N_("clamd loaded the update but did not scan a plain probe "
                                         "clean: {status} {detail}"), status=verdict.status,
                                detail=verdict.signature or verdict.reason)
        return answer, verdict.database
    finally:
        probe.stop()
        shutil.rmtree(check_home, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _prune(daemon: PrivateClamd, keep: set[str]) -> None:
    for path in daemon.databases_dir.iterdir():
        if path.name not in keep and path.name != CURRENT and not path.name.startswith("."):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)


def installed_manifest(directory: str | Path | None) -> dict | None:
    """What 'scanner update' recorded about a database directory, if it installed it."""
    if not directory:
        return None
    try:
        return json.loads((Path(directory) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def install(daemon: PrivateClamd, source: Path, *, installed_by: str,
            allow_unsigned: bool = False, wait: float = LOAD_WAIT,
            now: datetime | None = None) -> UpdateResult:
    """Check the database files in `source` and make them the private clamd's database.
    Raises UpdateRefused (nothing changed) or ScannerUnavailable."""
    source = Path(source)
    now = now or datetime.now(timezone.utc)
    take, ignored = _look(source, allow_unsigned)
    root = daemon.databases_dir
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".update.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one update at a time (pruning sees no staging dir)
        stage = root / f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        stage.mkdir()
        done = False
        try:
            files = []
            for name in take:
                sha256, size = _copy(source, name, stage)
                files.append(_inspect(stage / name, sha256, size))
            _fsync_dir(stage)
            for f in files:
                if not daemon.allow_test_signatures and _holds_test_signatures(stage / f.name):
                    raise UpdateRefused(f.name, N_("holds custody test signatures; they are for "
                                                 "tests and the demo only"))
            in_use = daemon.selected_database()
            _check_versions(files, in_use)
            clamd_version, database = _test_load(daemon, stage, wait)
            result = UpdateResult(
                directory=str(stage), previous=str(in_use) if in_use else None, files=files,
                ignored=ignored, unsigned=any(f.kind != "signed container" for f in files),
                clamd_version=clamd_version, database=database, restarted=False,
                installed_at=_iso(now), installed_by=installed_by, source=str(source))
            (stage / MANIFEST).write_text(json.dumps(result.to_dict(), indent=2) + "\n")
            _fsync_dir(stage)
            switched = daemon.switch_database(stage, wait=wait)
            done = True
        finally:
            if not done:
                shutil.rmtree(stage, ignore_errors=True)
        result.restarted = switched["restarted"]
        keep = {stage.name}
        if switched["previous"] is not None:
            keep.add(Path(switched["previous"]).name)
        _prune(daemon, keep)
    return result

