"""`custody watch DIR`: a docking station's offloads ingested with nobody at a terminal.

The station writes each offload as a folder of its own in DIR (with its manifest at the top
as ``manifest.csv`` or ``manifest.json`` when it has one). A folder is taken once it is
complete: the station wrote its marker beside it (``<folder>.complete``), or nothing in it
changed for ``[watch] settle_s`` seconds; and no process this account can see still holds a
file in it open for writing. It then goes through exactly what ``custody ingest`` does
(``ingest_offload``: the same states, batch report, ledger), and is moved with its marker
into the done area (``DIR/done`` by default; never deleted: the originals are evidence until
the archive has them).

What the watcher took is kept in a small SQLite file of its own on local disk (``[watch]
state``), not in the WORM store: which folder (by name and inode) is settling, being
ingested, waiting for a retry, refused or done, with its batches and exit codes. A restart
never runs a finished folder again (ingest would recognise the duplicates, but the watcher
does not lean on that); a folder whose batch was cut off by a kill is run again, and ingest
takes up where the killed run stopped. A batch stopped by an outage (exit 3: clamd, the
catalog or the store unreachable) is tried again later, the wait doubling up to
``retry_max_s``; a batch with problems (exit 1) is done, and the watcher goes on; a folder
refused as a whole (exit 2: a manifest that cannot be one) waits until it changes.

A stop (SIGTERM, SIGINT) lets the batch in progress finish and file its report, then ends.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import signal
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import i18n
from archive.domain.errors import CustodyError, InputError, ServiceUnavailable
from archive.domain.model import iso
from archive.ledger.chain import Actor
from archive.service import Archive
from archive.worm.fsutil import fsync_dir
from config.settings import Settings, check_station_id
from i18n import N_, Text, localize
from ingest.moves import free_name
from ingest.pipeline import STATES, ingest_offload
from scanners.base import Scanner

# a folder's life in the watcher's state
SETTLING, INGESTING, RETRY, REFUSED, DONE = "settling", "ingesting", "retry", "refused", "done"
# why a batch is run, as the ingesting event says it
_WHY = {"resumed": Text("resumed after a cut-off run"), "retry": Text("tried again"),
        "marker": Text("its marker is there"),
        "settled": Text("nothing in it changed for the settle time")}


class _Summary(Text):
    """A batch's counts by state: "2 archived, 1 rejected" (the stored codes) in English,
    the states' Chinese names (已入库 2，已拒收（格式不允许） 1) for a Chinese reader."""

    __slots__ = ("counts",)

    def __init__(self, counts: dict[str, int]) -> None:
        super().__init__("no files")
        self.counts = counts

    def __str__(self) -> str:
        return ", ".join(f"{v} {k}" for k, v in self.counts.items()) or "no files"

    def localized(self) -> str:
        if not self.counts:
            return localize(Text("no files"))
        if i18n.language() == "en":
            return str(self)
        return "，".join(f"{STATES.get(k, k)} {v}" for k, v in self.counts.items())


_SCHEMA = """
CREATE TABLE IF NOT EXISTS offloads (
    id INTEGER PRIMARY KEY,
    root TEXT NOT NULL,          -- the watched folder, resolved
    name TEXT NOT NULL,          -- the offload's folder name in it
    dev INTEGER NOT NULL,        -- with the inode: a later folder of the same name is another
    ino INTEGER NOT NULL,
    state TEXT NOT NULL,
    fingerprint TEXT NOT NULL,   -- every entry's name, type, size, mtime and ctime, hashed
    since REAL NOT NULL,         -- wall clock: the fingerprint unchanged since then
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try REAL,
    batches TEXT NOT NULL DEFAULT '[]',
    exit_code INTEGER,
    counts TEXT,
    error TEXT,
    done_at TEXT,
    moved_to TEXT
);
CREATE INDEX IF NOT EXISTS offloads_name ON offloads (root, name, dev, ino);
"""


@dataclass(frozen=True)
class WatchPolicy:
    """``[watch]`` of the configuration, as the watcher uses it."""

    settle_s: int = 60
    marker: str = ".complete"
    require_marker: bool = False
    poll_s: int = 10
    retry_s: int = 30
    retry_max_s: int = 1800
    manifests: tuple[str, ...] = ("manifest.csv", "manifest.json")

    @classmethod
    def from_settings(cls, settings: Settings, **override: object) -> WatchPolicy:
        cfg = settings.section("watch")
        values = {k: cfg[k] for k in ("settle_s", "marker", "require_marker", "poll_s",
                                      "retry_s", "retry_max_s") if k in cfg}
        if "manifests" in cfg:
            values["manifests"] = tuple(cfg["manifests"])
        values.update({k: v for k, v in override.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def retry_after(self, attempts: int) -> float:
        return float(min(self.retry_max_s, self.retry_s * 2 ** max(0, attempts - 1)))


def _utc() -> str:
    return iso(datetime.now(timezone.utc))


def fingerprint(folder: Path) -> str:
    """What a copy still in progress changes: every entry below ``folder`` (links never
    followed) with its type, size, modification and change times."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            try:
                st = os.lstat(p)
            except FileNotFoundError:  # went while we looked: a change all the same
                h.update(f"gone {p}\n".encode("utf-8", "surrogateescape"))
                continue
            h.update(f"{os.path.relpath(p, folder)}\0{stat.S_IFMT(st.st_mode)}\0{st.st_size}"
                     f"\0{st.st_mtime_ns}\0{st.st_ctime_ns}\n".encode("utf-8",
                                                                    "surrogateescape"))
    return h.hexdigest()


def open_for_writing(folder: Path) -> list[str]:
    """Files below ``folder`` some process holds open for writing (a copy not finished), as
    far as /proc lets this account see: its own processes, or all of them as root. Cheap
    enough for a folder about to be taken; a copy run by an account this one cannot see is
    covered by the marker and the settle time instead."""
    prefix = str(folder.resolve()) + os.sep
    found: set[str] = set()
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return []
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:  # gone, or not ours to see
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if not target.startswith(prefix):
                    continue
                with open(f"/proc/{pid}/fdinfo/{fd}", encoding="ascii") as info:
                    flags = next(int(line.split()[1], 8) for line in info
                                 if line.startswith("flags:"))
            except (OSError, StopIteration, ValueError):
                continue
            if flags & os.O_ACCMODE in (os.O_WRONLY, os.O_RDWR):
                found.add(target[len(prefix):])
    return sorted(found)


class WatchState:
    """The watcher's durable record (SQLite on local disk): one row per offload folder."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(path, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self.db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise InputError(N_("the watch state {path} cannot be used: {error}"),
                             subject=str(path), path=str(path), error=str(exc)) from exc
        self.path = path

    def find(self, root: str, name: str, dev: int, ino: int) -> sqlite3.Row | None:
        return self.db.execute(
            "SELECT * FROM offloads WHERE root=? AND name=? AND dev=? AND ino=? "
            "ORDER BY id DESC LIMIT 1", (root, name, dev, ino)).fetchone()

    def add(self, root: str, name: str, dev: int, ino: int, fp: str, since: float) -> int:
        cur = self.db.execute(
            "INSERT INTO offloads (root, name, dev, ino, state, fingerprint, since) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", (root, name, dev, ino, SETTLING, fp, since))
        return int(cur.lastrowid or 0)

    def update(self, row_id: int, **values: object) -> None:
        cols = ", ".join(f"{k}=?" for k in values)
        self.db.execute(f"UPDATE offloads SET {cols} WHERE id=?", (*values.values(), row_id))

    def get(self, row_id: int) -> sqlite3.Row:
        return self.db.execute("SELECT * FROM offloads WHERE id=?", (row_id,)).fetchone()

    def rows(self, root: str) -> list[dict]:
        out = []
        for r in self.db.execute("SELECT * FROM offloads WHERE root=? ORDER BY id", (root,)):
            d = dict(r)
            d["batches"] = json.loads(d["batches"])
            d["counts"] = json.loads(d["counts"]) if d["counts"] else None
            out.append(d)
        return out

    def close(self) -> None:
        self.db.close()


@contextlib.contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
    """One watcher per folder: two would take the same offload twice."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise InputError(N_("another custody watch is already watching {folder}"),
                                 subject=str(folder), folder=str(folder)) from exc
            raise
        yield
    finally:
        os.close(fd)


class Watcher:
    """One watched folder: ``poll()`` looks once and ingests what is ready; ``run()`` polls
    until stopped. Each event is handed to ``on_event`` as a dict with stable English keys
    (``event``, ``folder``, ``at``, ``message`` and what else the event has)."""

    def __init__(self, archive: Archive, actor: Actor, settings: Settings,
                 open_scanner: Callable[[], Scanner], folder: Path, *,
                 station: str | None = None, workers: int | None = None,
                 policy: WatchPolicy | None = None, done: Path | None = None,
                 state: Path | None = None,
                 on_event: Callable[[dict], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if not folder.is_dir() or folder.is_symlink():
            raise InputError(N_("{path} is not a folder"), subject=str(folder),
                             path=str(folder))
        self.archive, self.actor, self.settings = archive, actor, settings
        self.open_scanner = open_scanner
        self.root = folder.resolve()
        # the station as `custody ingest` takes it, refused here at the start, not per batch
        self.station = (check_station_id(station, "--station") if station
                        else settings.station or None)
        self.workers = workers
        self.policy = policy or WatchPolicy.from_settings(settings)
        cfg = settings.section("watch")
        self.done = done or (Path(cfg["done"]) if cfg.get("done") else self.root / "done")
        self._check_done_area()
        self.state = WatchState(state or settings.path_in_home(cfg.get("state", ""),
                                                               "watch.sqlite"))
        self.on_event = on_event or (lambda _e: None)
        self.clock = clock
        self.stop = threading.Event()
        self._said: set[tuple[int, str]] = set()  # (row, event) already logged once
        self._ignored: set[str] = set()

    def _check_done_area(self) -> None:
        """Finished folders are renamed into the done area, never copied: it must be on the
        watched folder's file system."""
        if self.done.exists() and not self.done.is_dir():
            raise InputError(N_("the done area {path} is not a folder"),
                             subject=str(self.done), path=str(self.done))
        try:
            self.done.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(N_("the done area {path} cannot be made: {error}"),
                             subject=str(self.done), path=str(self.done),
                             error=exc.strerror or str(exc)) from exc
        self.done = self.done.resolve()
        if self.done.stat().st_dev != self.root.stat().st_dev:
            raise InputError(N_("the done area {path} is on another file system than "
                                "{root}: finished offloads are renamed, never copied"),
                             subject=str(self.done), path=str(self.done), root=str(self.root))

    # --- events ----------------------------------------------------------------------------
    def _emit(self, event: str, folder: str | None, message: Text, **extra: object) -> None:
        """``message`` in English (the stable field), ``text`` in the reader's language."""
        self.on_event({"event": event, "folder": folder, "at": _utc(), "message": str(message),
                       "text": localize(message), **extra})

    def _once(self, row_id: int, event: str, folder: str, message: Text,
              **extra: object) -> None:
        """An event said once per folder and state (waiting is not news every poll)."""
        if (row_id, event) not in self._said:
            self._said.add((row_id, event))
            self._emit(event, folder, message, **extra)

    # --- one look ----------------------------------------------------------------------------
    def candidates(self) -> list[Path]:
        """The offload folders in the watched folder: not hidden, not the done area, not a
        marker, not a link."""
        out = []
        with os.scandir(self.root) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            p = Path(entry.path)
            if entry.name.startswith(".") or p == self.done:
                continue
            if self.policy.marker and entry.name.endswith(self.policy.marker):
                continue
            if entry.is_dir(follow_symlinks=False):
                out.append(p)
            elif entry.name not in self._ignored:  # an offload is a folder of its own
                self._ignored.add(entry.name)
                self._emit("ignored", entry.name, Text("not a folder of its own (each offload "
                                                       "is a sub-folder); left where it is"))
        return out

    def poll(self) -> list[int]:
        """Look once: each folder observed, each ready one ingested (until a stop). The exit
        codes of the batches run, in order."""
        codes: list[int] = []
        for folder in self.candidates():
            if self.stop.is_set():
                break
            code = self._visit(folder)
            if code is not None:
                codes.append(code)
        return codes

    def _visit(self, folder: Path) -> int | None:
        try:
            st = os.lstat(folder)
            fp = fingerprint(folder)
        except OSError:  # it went while we looked
            return None
        name, now = folder.name, self.clock()
        row = self.state.find(str(self.root), name, st.st_dev, st.st_ino)
        if row is None:
            row_id = self.state.add(str(self.root), name, st.st_dev, st.st_ino, fp, now)
            self._emit("seen", name, Text("offload seen"))
            row = self.state.get(row_id)
        state = row["state"]
        if state == DONE:  # finished before a restart, not yet moved: moved, never re-run
            self._move_done(row, folder)
            return None
        if state == INGESTING:  # a run cut off (killed, the machine down): run it again
            self._emit("resuming", name, Text("a batch of this folder was cut off; running it "
                                              "again (ingest takes up what the cut-off run "
                                              "left)"))
            return self._ingest(row, folder, why="resumed")
        if fp != row["fingerprint"]:
            if state != SETTLING:
                self._said.discard((row["id"], "waiting"))
            self.state.update(row["id"], fingerprint=fp, since=now, state=SETTLING)
            self._once(row["id"], "waiting", name, Text("still being written; waiting until "
                                                        "it settles"))
            return None
        if state == REFUSED:
            return None  # waits for the station to change it
        if state == RETRY:
            if now < (row["next_try"] or 0):
                return None
            return self._ingest(row, folder, why="retry")
        marked = bool(self.policy.marker) and (
            self.root / f"{name}{self.policy.marker}").exists()
        settled = not self.policy.require_marker and now - row["since"] >= self.policy.settle_s
        if not (marked or settled):
            if self.policy.require_marker:
                waiting = Text("waiting for its marker")
            elif self.policy.marker:
                waiting = Text("waiting until nothing in it changed for {seconds} s (or its "
                               "marker {marker})", seconds=self.policy.settle_s,
                               marker=f"{name}{self.policy.marker}")
            else:
                waiting = Text("waiting until nothing in it changed for {seconds} s",
                               seconds=self.policy.settle_s)
            self._once(row["id"], "waiting", name, waiting)
            return None
        return self._ingest(row, folder, why="marker" if marked else "settled")

    # --- a batch ---------------------------------------------------------------------------
    def _manifest(self, folder: Path) -> Path | None:
        found = [folder / m for m in self.policy.manifests
                 if (folder / m).is_file() and not (folder / m).is_symlink()]
        if len(found) > 1:
            raise InputError(N_("{folder} holds {count} manifests ({names}); one is its "
                                "manifest"), subject=str(folder), folder=folder.name,
                             count=len(found), names=", ".join(p.name for p in found))
        return found[0] if found else None

    def _ingest(self, row: sqlite3.Row, folder: Path, why: str) -> int | None:
        name, row_id = folder.name, row["id"]
        writing = open_for_writing(folder)
        if writing:
            self._once(row_id, "busy", name, Text(
                "{count} file(s) still open for writing ({names}); waiting",
                count=len(writing), names=", ".join(writing[:3])), files=writing)
            return None
        self._said.discard((row_id, "busy"))
        attempts = row["attempts"] + 1
        batches = json.loads(row["batches"])
        self.state.update(row_id, state=INGESTING, attempts=attempts)
        self._emit("ingesting", name, Text("ingesting ({why}, attempt {attempt})",
                                           why=_WHY.get(why, why), attempt=attempts),
                   attempt=attempts)
        try:
            manifest = self._manifest(folder)
            report = ingest_offload(self.archive, self.actor, self.settings,
                                    self.open_scanner(), folder, manifest, self.station,
                                    workers=self.workers)
        except CustodyError as exc:
            if exc.exit_code == 3:
                return self._retry(row_id, name, attempts, batches, folder, exc.text)
            self.state.update(row_id, state=REFUSED, exit_code=exc.exit_code,
                              error=exc.message, fingerprint=self._fp(folder))
            self._emit("refused", name, Text("{reason}; waiting until the folder changes",
                                             reason=exc.text),
                       exit_code=exc.exit_code, error=exc.code)
            return exc.exit_code
        except Exception as exc:  # noqa: BLE001 - a backend refusal nobody classified, or a
            # fault: never the end of the service; the folder stays and is tried again
            return self._retry(row_id, name, attempts, batches, folder,
                               Text("{kind}: {detail}", kind=type(exc).__name__,
                                    detail=str(exc)))
        batches.append(report["batch_id"])
        self._finish_command(name)
        counts = {k: v for k, v in report["counts"].items() if v}
        summary = _Summary(counts)
        if report["exit_code"] == 3:  # clamd lost mid-batch: what was left is taken later
            return self._retry(row_id, name, attempts, batches, folder, Text(
                "clamd was lost: {reason} (batch {batch}: {summary})",
                reason=report["scanner_lost"], batch=report["batch_id"], summary=summary))
        self.state.update(row_id, state=DONE, exit_code=report["exit_code"],
                          batches=json.dumps(batches), counts=json.dumps(report["counts"]),
                          error=None, done_at=_utc(), fingerprint=self._fp(folder))
        self._emit("batch-done", name, Text(
                   "batch {batch}: exit {code}: {summary}, {late} late, {problems} manifest "
                   "problem(s)", batch=report["batch_id"], code=report["exit_code"],
                   summary=summary, late=report["late"],
                   problems=len(report["manifest_problems"])),
                   batch_id=report["batch_id"], exit_code=report["exit_code"],
                   counts=report["counts"], late=report["late"])
        self._move_done(self.state.get(row_id), folder)
        return int(report["exit_code"])

    def _retry(self, row_id: int, name: str, attempts: int, batches: list[str],
               folder: Path, why: Text) -> int:
        wait = self.policy.retry_after(attempts)
        self.state.update(row_id, state=RETRY, next_try=self.clock() + wait, error=str(why),
                          exit_code=3, batches=json.dumps(batches), fingerprint=self._fp(folder))
        self._emit("retry", name, Text("{reason}; not done, tried again in {seconds} s",
                                       reason=why, seconds=f"{wait:.0f}"),
                   exit_code=3, retry_in_s=wait)
        return 3

    def _fp(self, folder: Path) -> str:
        """The folder as the batch left it (quarantined and rejected files moved out)."""
        try:
            return fingerprint(folder)
        except OSError:
            return ""

    def _finish_command(self, name: str) -> None:
        """The batch's catalog journal segment and a signed checkpoint, as every command
        writes at its end; if the store is down now, the next one carries them."""
        try:
            self.archive.finish_command()
        except ServiceUnavailable as exc:
            self._emit("error", name, Text("the ledger checkpoint waits: {reason}",
                                           reason=exc.text))

    def _move_done(self, row: sqlite3.Row, folder: Path) -> None:
        """The finished folder (and its marker) into the done area; never deleted."""
        dest = free_name(self.done / folder.name)
        try:
            os.rename(folder, dest)
            marker = self.root / f"{folder.name}{self.policy.marker}"
            if self.policy.marker and marker.exists():
                os.rename(marker, dest.with_name(dest.name + self.policy.marker))
            fsync_dir(self.root)
            fsync_dir(self.done)
        except OSError as exc:
            self._once(row["id"], "error", folder.name, Text(
                "finished, but it could not be moved to {done}: {error}; left where it is, "
                "never taken again", done=str(self.done), error=exc.strerror or str(exc)))
            return
        self.state.update(row["id"], moved_to=str(dest))
        self._emit("moved", folder.name, Text("moved to {path}", path=str(dest)),
                   moved_to=str(dest))

    # --- the service loop ------------------------------------------------------------------
    def run(self, once: bool = False) -> int:
        """Poll until stopped: 0 (each batch's exit code is in its report, its event and the
        state; a service that stops as asked has not failed). Once: the worst exit code of
        the batches run: 0 none or all archived, 1 problems found, 2 a folder refused, 3 an
        outage left for a retry."""
        worst = 0
        with _exclusive(self.root):
            self._emit("started", None, Text(
                "watching {root} (done area {done}, state {state}, station {station})",
                root=str(self.root), done=str(self.done), state=str(self.state.path),
                station=self.station or "-"),
                       root=str(self.root), once=once)
            while not self.stop.is_set():
                worst = max([worst, *self.poll()])
                if once:
                    break
                self._sleep(self.policy.poll_s)
            self._emit("stopped", None, Text("stopped as asked") if self.stop.is_set()
                       else Text("one look taken (--once)"), worst_exit_code=worst)
        return worst if once else 0

    def _sleep(self, seconds: float) -> None:
        # short slices, not Event.wait: a signal handler setting an Event the main thread
        # waits on can deadlock on the Event's own lock
        end = time.monotonic() + seconds
        while not self.stop.is_set() and time.monotonic() < end:
            time.sleep(min(0.2, max(0.0, end - time.monotonic())))

    def close(self) -> None:
        self.state.close()


@contextlib.contextmanager
def _stopped_by_signals(watcher: Watcher) -> Iterator[None]:
    """SIGTERM and SIGINT end the watcher after the batch in progress (only the main thread
    may handle signals; elsewhere the caller stops it through ``watcher.stop``)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: object) -> None:
        if not watcher.stop.is_set():
            watcher._emit("stopping", None, Text("{signal}: stopping after the batch in "
                                                 "progress", signal=signal.Signals(signum).name))
        watcher.stop.set()

    before = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


def watch(archive: Archive, actor: Actor, settings: Settings,
          open_scanner: Callable[[], Scanner], folder: Path, *, once: bool = False,
          station: str | None = None, workers: int | None = None,
          settle_s: int | None = None, poll_s: int | None = None,
          done: Path | None = None, on_event: Callable[[dict], None] | None = None) -> int:
    """`custody watch DIR`: ingest every offload written into ``folder`` once it is complete,
    until SIGTERM or SIGINT (or once, with ``once``). ``open_scanner`` gives a scanner that
    answers (it is asked again for every batch, so a clamd restarted meanwhile is found);
    its ServiceUnavailable is an outage like any other. Returns the worst batch exit code."""
    policy = WatchPolicy.from_settings(settings, settle_s=settle_s, poll_s=poll_s)
    watcher = Watcher(archive, actor, settings, open_scanner, folder, station=station,
                      workers=workers, policy=policy, done=done, on_event=on_event)
    try:
        with _stopped_by_signals(watcher):
            return watcher.run(once)
    finally:
        watcher.close()
